"""Parameters of a simulation (all defaults give a test-sized data set in a second or two)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cellspace.errors import ParameterError


@dataclass(frozen=True)
class SimulationParams:
    """Everything that determines a simulation; the same params give byte-identical output.

    Sizes are per dataset: every dataset has ``n_cells`` cells of its own and ``n_events``
    events cut from a shared pool of underlying regions.
    """

    seed: int = 0
    n_cells: int = 600
    n_events: int = 1500
    event_len: int = 300
    n_types: int = 4  # with trajectory: 1 root state + (n_types - 1) branches
    n_donors: int = 3
    n_datasets: int = 1
    density: float = 0.03  # target fraction of nonzero cell x event entries
    trajectory: bool = False
    genome_fasta: str | None = None  # sequence source; None = vendored dm3 subset
    random_dna: bool = False  # i.i.d. random sequence instead of a FASTA
    gc: float = 0.42  # GC content of random DNA
    tfs: tuple[str, ...] | None = None  # TF pool (JASPAR names); None = default pool
    tfs_per_type: tuple[int, int] = (2, 3)  # min, max active TFs per cell type
    plant_fraction: float = 0.1  # fraction of regions given a planted site, per program TF
    motif_effect: float = 2.0  # log-fold opening per motif hit of an active TF
    motif_cap: float = 2.0  # cap on the summed (activity x hits) evidence of a region
    rel_threshold: float = 0.85  # hit: score >= min + rel_threshold * (max - min) ...
    max_hit_rate: float = 1e-4  # ... and within the top max_hit_rate of scanned windows
    baseline_sd: float = 1.0  # sd of log baseline (motif-independent) accessibility
    library_sd: float = 0.5  # sd of log library size within a donor
    donor_depth_spread: float = 0.4  # donors' log depth factors span +- this value
    donor_event_fraction: float = 0.1  # fraction of regions with a donor-specific shift
    donor_effect: float = 1.0  # |log-fold| of those donor-specific shifts
    donor_effect_sign: str = "both"  # "both": shifts up or down at random; "open": only up
    donor_type_concentration: float = 0.0  # > 0: each donor draws its own type proportions
    absent_types: tuple[tuple[int, int], ...] = ()  # (donor, type) pairs (0-based) with no cells
    dataset_overlap: float = 0.7  # fraction of the region pool each dataset uses (n_datasets > 1)
    shared_regions: float | None = None  # >= 0: this fraction of each dataset's regions is shared
    # by all datasets and the rest is its own (0 = disjoint atlases, 1 = the same regions);
    # None: each dataset draws dataset_overlap of one pool at random
    dataset_density_ratio: float = 1.0  # dataset d has density * ratio**d (depth by dataset)
    shift_fraction: float = 0.2  # max boundary shift between datasets, as a fraction of event_len
    branch_point: float = 0.3  # pseudotime at which the trajectory branches
    type_concentration: float = 8.0  # Dirichlet concentration of cell type proportions

    def validate(self) -> SimulationParams:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ParameterError(msg)

        need(isinstance(self.seed, int) and self.seed >= 0, f"seed must be a non-negative integer, got {self.seed!r}")
        need(self.n_cells >= 10, f"n_cells must be >= 10, got {self.n_cells}")
        need(self.n_events >= 10, f"n_events must be >= 10, got {self.n_events}")
        need(self.event_len >= 50, f"event_len must be >= 50 bp, got {self.event_len}")
        need(self.n_donors >= 1, f"n_donors must be >= 1, got {self.n_donors}")
        need(self.n_datasets >= 1, f"n_datasets must be >= 1, got {self.n_datasets}")
        need(0.0 < self.density < 0.5, f"density must be in (0, 0.5), got {self.density}")
        need(0.0 < self.gc < 1.0, f"gc must be in (0, 1), got {self.gc}")
        lo, hi = self.tfs_per_type
        need(1 <= lo <= hi, f"tfs_per_type must be (min, max) with 1 <= min <= max, got {self.tfs_per_type}")
        if self.trajectory:
            need(self.n_types >= 3, f"a trajectory needs n_types >= 3 (root + >= 2 branches), got {self.n_types}")
            need(0.0 < self.branch_point < 1.0, f"branch_point must be in (0, 1), got {self.branch_point}")
        else:
            need(self.n_types >= 1, f"n_types must be >= 1, got {self.n_types}")
        need(0.0 < self.dataset_overlap <= 1.0, f"dataset_overlap must be in (0, 1], got {self.dataset_overlap}")
        need(0.0 <= self.shift_fraction < 0.5, f"shift_fraction must be in [0, 0.5), got {self.shift_fraction}")
        need(0.0 <= self.plant_fraction <= 1.0, f"plant_fraction must be in [0, 1], got {self.plant_fraction}")
        need(0.0 < self.rel_threshold <= 1.0, f"rel_threshold must be in (0, 1], got {self.rel_threshold}")
        need(0.0 < self.max_hit_rate <= 1.0, f"max_hit_rate must be in (0, 1], got {self.max_hit_rate}")
        need(0.0 <= self.donor_event_fraction <= 1.0, f"donor_event_fraction must be in [0, 1], got {self.donor_event_fraction}")
        for name in ("library_sd", "baseline_sd", "donor_depth_spread", "donor_effect", "motif_cap"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        need(self.type_concentration > 0, f"type_concentration must be > 0, got {self.type_concentration}")
        need(self.donor_effect_sign in ("both", "open"),
             f"donor_effect_sign must be 'both' or 'open', got {self.donor_effect_sign!r}")
        need(self.donor_type_concentration >= 0,
             f"donor_type_concentration must be >= 0, got {self.donor_type_concentration}")
        for pair in self.absent_types:
            need(len(pair) == 2 and 0 <= pair[0] < self.n_donors and 0 <= pair[1] < self.n_types,
                 f"absent_types entries must be (donor, type) with donor < n_donors, type < n_types, got {pair!r}")
        need(not (self.absent_types and self.trajectory), "absent_types needs discrete cell types (no trajectory)")
        need(all(sum(1 for d, t in self.absent_types if t == ty) < self.n_donors for ty in range(self.n_types)),
             "absent_types removes a cell type from every donor")
        need(self.shared_regions is None or 0.0 <= self.shared_regions <= 1.0,
             f"shared_regions must be in [0, 1], got {self.shared_regions}")
        need(self.dataset_density_ratio > 0, f"dataset_density_ratio must be > 0, got {self.dataset_density_ratio}")
        need(self.density * self.dataset_density_ratio ** (self.n_datasets - 1) < 0.5,
             "density * dataset_density_ratio**(n_datasets - 1) must be < 0.5")
        need(not (self.random_dna and self.genome_fasta), "give either genome_fasta or random_dna, not both")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, tuple):
                d[k] = [list(x) if isinstance(x, tuple) else x for x in v]
        return d
