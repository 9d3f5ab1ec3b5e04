"""``cellspace simulate``: write simulated scATAC datasets with known TF programs."""

from __future__ import annotations

import argparse
import logging
import time

from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

_EPILOG = """\
Per dataset <name> (sim1, sim2, ...): <name>.mtx.gz (cells x events), <name>.fa.gz (event
sequences in column order), <name>.cells.tsv (cell metadata, usable as --obs), <name>.h5ad,
with --formats ...,tenx a 10x-style folder <name>_tenx/ plus genome.fa(.fai) to cut
its peaks from, and with ...,fragments <name>.fragments.tsv.gz (bgzip + .tbi),
<name>.barcodes.txt, genome.fa and truth_fragments.tsv.gz (every fragment's barcode and event). Truth: truth_cells.tsv, truth_tfs.tsv (cell type -> active JASPAR TFs),
truth_events.tsv, truth_regions.tsv, truth_sites.tsv (planted motifs),
truth_donor_events.tsv, simulation.json (parameters, seed, version).

example: cellspace simulate --out sim --n-cells 2000 --n-events 5000 --event-len 500
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from cellspace.simulate.params import SimulationParams

    d = SimulationParams()
    p = subparsers.add_parser(
        "simulate",
        help="simulate scATAC-seq datasets with known TF programs",
        description=(
            "Simulate binary cells x events matrices whose events are cut from real fly "
            "regulatory DNA (or a FASTA, or random DNA); cell types open events with PWM "
            "matches of their active JASPAR TFs. Same seed -> identical files."
        ),
        epilog=_EPILOG,
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--n-cells", type=int, default=d.n_cells, help="cells per dataset")
    p.add_argument("--n-events", type=int, default=d.n_events, help="events (peaks) per dataset")
    p.add_argument("--event-len", type=int, default=d.event_len, help="event length in bp")
    p.add_argument(
        "--n-types", type=int, default=d.n_types,
        help="cell types (with --trajectory: 1 root state + n-1 branches)",
    )
    p.add_argument("--n-donors", type=int, default=d.n_donors, help="donors per dataset")
    p.add_argument(
        "--n-datasets", type=int, default=d.n_datasets,
        help="datasets; each has its own cells and its own, partly overlapping, event set",
    )
    p.add_argument("--density", type=float, default=d.density, help="target fraction of nonzeros")
    p.add_argument(
        "--trajectory", action="store_true",
        help="cells along a branching tree (pseudotime, branch) instead of discrete types",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--genome-fasta", metavar="FASTA", default=None,
        help="cut events from this FASTA instead of the packaged dm3 upstream-region subset",
    )
    src.add_argument("--random-dna", action="store_true", help="cut events from random DNA")
    p.add_argument("--gc", type=float, default=d.gc, help="GC content of --random-dna")
    p.add_argument(
        "--tfs", default=None, metavar="NAMES",
        help="comma-separated JASPAR TF names for the program pool; None = built-in pool of 20",
    )
    p.add_argument(
        "--formats", default="mtx,h5ad", help="comma-separated output formats: mtx, h5ad, tenx, fragments"
    )
    return p


def run(args: argparse.Namespace) -> int:
    from cellspace.simulate import SimulationParams, simulate, write_simulation
    from cellspace.simulate.writer import parse_formats

    formats = parse_formats(args.formats)
    tfs = tuple(t.strip() for t in args.tfs.split(",") if t.strip()) if args.tfs else None
    if args.tfs is not None and not tfs:
        raise ParameterError("--tfs is empty")
    params = SimulationParams(
        seed=args.seed,
        n_cells=args.n_cells,
        n_events=args.n_events,
        event_len=args.event_len,
        n_types=args.n_types,
        n_donors=args.n_donors,
        n_datasets=args.n_datasets,
        density=args.density,
        trajectory=args.trajectory,
        genome_fasta=args.genome_fasta,
        random_dna=args.random_dna,
        gc=args.gc,
        tfs=tfs,
    )
    t0 = time.perf_counter()
    sim = simulate(params)
    log.info("simulated %d dataset(s) in %.1f s", len(sim.datasets), time.perf_counter() - t0)
    for ds in sim.datasets:
        log.info(
            "%s: %d cells x %d events, %.2f%% nonzeros", ds.name, ds.n_cells, ds.n_events,
            100.0 * ds.events.nnz / (ds.n_cells * ds.n_events),
        )
    for t, tfs_ in sim.truth.active_tfs().items():
        log.info("%s: %s", t, ", ".join(tfs_))
    write_simulation(sim, args.out, formats)
    return 0
