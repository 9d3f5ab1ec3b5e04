"""SIMBA's graph trained by PyTorch-BigGraph itself (``torchbiggraph``), SIMBA's engine.

``simba_embed(..., engine="pbg")`` hands the graph built in :mod:`.simba` to PBG 1.0.0 with
SIMBA's default PBG configuration (dimension 50, dot comparator, softmax loss, learning rate
0.1, 10 epochs, 50 batch + 50 uniform negatives, 5 % of the edges held out for evaluation, one
partition per entity type) instead of the NumPy trainer. Needs the ``[torch]`` extra.

PBG 1.0.0 (2019) predates Python 3.11: its config schema checks ``Optional[...]`` types by
identity, which fails there, so :func:`_fix_optional_check` swaps in a check based on
``typing.get_origin``/``get_args`` before the config is built. PBG trains in worker processes
(``workers``, Hogwild), so runs are not bit-reproducible (``seed`` goes to torch.manual_seed in the calling process).
"""

from __future__ import annotations

import logging
import os
import tempfile
import typing
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: SIMBA's PBG settings (simba.settings.pbg_params) that differ from PBG's own defaults or matter.
SIMBA_PBG_PARAMS: dict[str, typing.Any] = {
    "dimension": 50,
    "global_emb": False,
    "comparator": "dot",
    "loss_fn": "softmax",
    "lr": 0.1,
    "num_epochs": 10,
    "num_batch_negs": 50,
    "num_uniform_negs": 50,
    "eval_fraction": 0.05,
    "eval_num_batch_negs": 50,
    "eval_num_uniform_negs": 50,
}
# SIMBA's fork also sets regularization_coef = 0, wd = 0 and early_stopping = False: PBG 1.0.0
# has no regularisation, weight decay or early stopping, which is the same thing.


def _unpack_optional(type_: typing.Any) -> typing.Any:
    args = typing.get_args(type_)
    if typing.get_origin(type_) is typing.Union and len(args) == 2 and type(None) in args:
        return args[0] if args[1] is type(None) else args[1]
    raise TypeError("Not an optional type")


def _fix_optional_check() -> None:
    import torchbiggraph.schema as schema

    schema.unpack_optional = _unpack_optional


def pbg_train_torchbiggraph(n_entities: dict[str, int], relations: list, *, seed: int = 0,
                            workers: int | None = None, **overrides: typing.Any) -> dict[str, np.ndarray]:
    """Embeddings of every entity type trained by torchbiggraph; ``relations`` are
    :class:`cellspace.bench.methods.simba.Relation` objects, ``overrides`` PBG config fields."""
    import h5py
    import torch
    from torchbiggraph.config import ConfigSchema, EntitySchema, RelationSchema
    from torchbiggraph.edgelist import EdgeList
    from torchbiggraph.entitylist import EntityList
    from torchbiggraph.graph_storages import EDGE_STORAGES, ENTITY_STORAGES
    from torchbiggraph.train import train
    from torchbiggraph.util import SubprocessInitializer

    _fix_optional_check()
    params = {**SIMBA_PBG_PARAMS, **overrides}
    workers = workers or min(4, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="cellspace_pbg_") as tmp:
        root = Path(tmp)
        entity_path, checkpoint_path = root / "entities", root / "checkpoint"
        entities = ENTITY_STORAGES.make_instance(str(entity_path))
        entities.prepare()
        for name, count in n_entities.items():
            entities.save_count(name, 0, int(count))
        # every relation in one edge list, as SIMBA's converted graph (rel = relation index)
        edge_path = root / "edges"
        store = EDGE_STORAGES.make_instance(str(edge_path))
        store.prepare()
        lhs = torch.from_numpy(np.concatenate([np.asarray(r.lhs, np.int64) for r in relations]))
        rhs = torch.from_numpy(np.concatenate([np.asarray(r.rhs, np.int64) for r in relations]))
        rel = torch.from_numpy(np.concatenate([np.full(len(r.lhs), i, np.int64) for i, r in enumerate(relations)]))
        store.save_edges(0, 0, EdgeList(EntityList.from_tensor(lhs), EntityList.from_tensor(rhs), rel))
        rel_schemas = [RelationSchema(name=f"r{i}", lhs=r.lhs_type, rhs=r.rhs_type, operator="none",
                                      weight=float(r.weight)) for i, r in enumerate(relations)]
        config = ConfigSchema(
            entity_path=str(entity_path), edge_paths=[str(edge_path)], checkpoint_path=str(checkpoint_path),
            entities={name: EntitySchema(num_partitions=1) for name in n_entities},
            relations=rel_schemas, workers=int(workers), **params)
        torch.manual_seed(seed)
        train(config, subprocess_init=SubprocessInitializer())
        version = int((checkpoint_path / "checkpoint_version.txt").read_text().strip())
        out = {}
        for name in n_entities:
            with h5py.File(checkpoint_path / f"embeddings_{name}_0.v{version}.h5", "r") as hf:
                out[name] = np.asarray(hf["embeddings"][...], dtype=np.float32)
    log.info("PBG: %d epochs, %d relations, %d workers", params["num_epochs"], len(relations), workers)
    return out
