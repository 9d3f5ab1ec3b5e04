"""Batches inferred without labels: what the batch pilot finds, on the batch simulations and on
simulations without donor effects (which must be refused).

For every scenario and seed: the first ``--pilot`` epochs of a 50-epoch schedule with the default
negatives (as the trainer's pilot), then :func:`cellspace.pseudo_batches.infer_batches` on those
cell rows. Prints one row per run: accepted or not, the groups' adjusted Rand index with the
donors and with the cell types, the lowest split-half agreement and the reason. ``--rule``
overrides keyword arguments of ``infer_batches`` (e.g. ``min_replication=-1`` turns the
split-half rule off).

    python benchmarks/batch_inference.py --seeds 1 2 3 4 5
    python benchmarks/batch_inference.py --seeds 0 --sim '{"n_cells": 5000, "n_events": 5000, "event_len": 300, "n_types": 6, "n_donors": 3}'
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
from sklearn.metrics import adjusted_rand_score

from cellspace.bench.batch import BATCH_SCENARIOS, Scenario, cells_table, scenario_simulation
from cellspace.dataset import combine
from cellspace.pseudo_batches import infer_batches
from cellspace.train import TrainParams, default_negatives, run_training

# no donor-specific events: any grouping accepted here is false (the batch simulations' design otherwise)
_DONORS = {k: v for k, v in BATCH_SCENARIOS["donor_events_1"].sim.items() if k != "donor_effect"}
NULL_SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("no_donor_events", "donor", {**_DONORS, "donor_effect": 0.0}, "3 donors, no donor-specific events"),
    Scenario("no_donor_events_composition", "donor",
             {**_DONORS, "donor_effect": 0.0, "donor_type_concentration": 3.0, "absent_types": ((0, 5),)},
             "donor-specific type proportions (type6 absent from donor1), no donor-specific events"),
    Scenario("no_donor_events_depth", "donor", {**_DONORS, "donor_effect": 0.0, "donor_depth_spread": 1.0},
             "donor depth factors e^-1, 1, e^1, no donor-specific events"),
    Scenario("one_donor", "donor", {**_DONORS, "n_donors": 1}, "a single donor"),
]}
DONOR_SCENARIOS = ("composition", "donor_events_1", "depth", "donor_events_2")


def rule_overrides(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in ("max_ami", "max_share", "min_fraction", "min_replication") or not value:
            raise SystemExit(f"--rule: expected NAME=VALUE with an infer_batches threshold, got {item!r}")
        out[name] = float(value)
    return out


def main(argv: list[str] | None = None) -> None:
    scenarios = {**{k: BATCH_SCENARIOS[k] for k in DONOR_SCENARIOS}, **NULL_SCENARIOS}
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--scenarios", nargs="+", default=list(scenarios), choices=list(scenarios))
    ap.add_argument("--pilot", type=int, default=5, help="pilot epochs (of a 50-epoch schedule)")
    ap.add_argument("--rule", nargs="*", default=[], metavar="NAME=VALUE")
    ap.add_argument("--sim", default=None, metavar="JSON",
                    help="another simulation (SimulationParams fields but seed), run as scenario 'sim'")
    args = ap.parse_args(argv)
    if args.sim is not None:
        scenarios["sim"] = Scenario("sim", "donor", json.loads(args.sim), "given on the command line")
        args.scenarios = ["sim"]
    logging.basicConfig(level=logging.WARNING)
    rule = rule_overrides(args.rule)
    print("| scenario | seed | accepted | groups | donor ARI | type ARI | split-half ARI | reason |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.scenarios:
        for seed in args.seeds:
            sim = scenario_simulation(scenarios[name], seed)
            data = combine(sim.datasets)
            params = TrainParams(epochs=50, seed=seed, threads=1, batch_pilot_epochs=0)
            state = run_training(data, params, negatives=default_negatives(data, params), progress=False,
                                 until=args.pilot)
            rows = np.array(state.table[state.n_kmers : state.n_kmers + state.n_cells, : params.dim])
            found = infer_batches(data.events, rows, seed=seed, **rule)
            cells = cells_table(sim)
            g = found.groups
            donor = f"{adjusted_rand_score(cells['donor'], g):.3f}" if g is not None else ""
            types = f"{adjusted_rand_score(cells['cell_type'], g):.3f}" if g is not None else ""
            rep = "" if np.isnan(found.replication) else f"{found.replication:.2f}"
            n_groups = "" if g is None else str(int(g.max()) + 1)
            print(f"| {name} | {seed} | {'yes' if g is not None else 'no'} | {n_groups} | {donor} | {types} | "
                  f"{rep} | {found.reason.split(' (')[0]} |", flush=True)


if __name__ == "__main__":
    main()
