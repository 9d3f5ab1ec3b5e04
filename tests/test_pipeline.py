"""The Nextflow pipeline: static checks (no Nextflow needed) and real runs (marked `nextflow`).

Real runs use the launcher installed by `bash scripts/install-nextflow` (.nextflow-bin/nextflow)
and are skipped when it is absent. They run in a temporary launch folder, so the repository
gets no .nextflow/ or work/ folders.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NXF = ROOT / ".nextflow-bin" / "nextflow"
PROFILES = ["test", "demo", "test_full", "local", "docker", "podman", "singularity", "apptainer",
            "slurm", "awsbatch", "google", "k8s"]

needs_nextflow = pytest.mark.skipif(
    not NXF.exists(), reason="Nextflow not installed: run `bash scripts/install-nextflow`"
)


# ---------------------------------------------------------------------------------------------
# static checks
# ---------------------------------------------------------------------------------------------


def _config_params() -> dict[str, str]:
    text = (ROOT / "nextflow.config").read_text()
    block = text[text.index("params {") : text.index("\n}\n", text.index("params {"))]
    return dict(re.findall(r"^\s{4}(\w+)\s*=\s*(.+?)\s*(?://.*)?$", block, re.M))


def _schema_params() -> dict[str, dict]:
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    out = {}
    for group in schema["$defs"].values():
        out.update(group["properties"])
    return out


def test_schema_describes_every_param():
    config, schema = _config_params(), _schema_params()
    assert set(config) == set(schema), (set(config) ^ set(schema))
    for name, p in schema.items():
        assert p.get("description"), name


def test_schema_defaults_match_config():
    config, schema = _config_params(), _schema_params()
    for name, p in schema.items():
        raw = config[name]
        if "default" not in p:
            assert raw == "null", f"{name}: config default {raw} but none in the schema"
            continue
        value = json.loads(raw.replace("'", '"'))
        assert value == p["default"], f"{name}: config {value!r} vs schema {p['default']!r}"


@pytest.mark.parametrize("name", ["samplesheet_test.csv", "samplesheet_demo.csv"])
def test_test_samplesheets_cover_two_formats(name):
    """The small runs prepare an mtx and an h5ad dataset (validity: tests/test_samplesheets.py)."""
    with open(ROOT / "assets" / name) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 2 and {r["format"] for r in rows} >= {"mtx", "h5ad"}


# ---------------------------------------------------------------------------------------------
# real Nextflow runs
# ---------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # the local profile runs `cellspace` from PATH: use the one next to this Python
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NXF_ANSI_LOG"] = "false"
    return env


def _nextflow(args: list[str], cwd: Path, check: bool = True, timeout: int = 600):
    proc = subprocess.run([str(NXF), *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"nextflow {' '.join(args)} failed ({proc.returncode}):\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _trace(outdir: Path) -> list[dict]:
    with open(outdir / "pipeline_info" / "execution_trace.txt") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="module")
def test_run(tmp_path_factory):
    """One real run of `-profile test,local`, shared by the checks below."""
    if not NXF.exists():
        pytest.skip("Nextflow not installed: run `bash scripts/install-nextflow`")
    launch = tmp_path_factory.mktemp("nf_test_run")
    outdir = launch / "results"
    args = ["run", str(ROOT), "-profile", "test,local", "--outdir", str(outdir)]
    proc = _nextflow(args, launch)
    return launch, outdir, args, proc


def _check_outputs(outdir: Path) -> set[str]:
    """The outputs of a `-profile test` run: the training, its export and the default analyses.

    Returns the process names of the run (for checks of what else ran).
    """
    anndata = pytest.importorskip("anndata")
    np = pytest.importorskip("numpy")
    cells = anndata.read_h5ad(outdir / "cellspace" / "cellspace" / "cells.h5ad")
    with open(ROOT / "conf" / "test.config") as fh:
        dim = int(re.search(r"^\s*dim\s*=\s*(\d+)", fh.read(), re.M).group(1))
    n_cells = sum(
        anndata.read_h5ad(p, backed="r").n_obs for p in (outdir / "prepared").glob("*.h5ad")
    )
    emb = np.asarray(cells.obsm["X_cellspace"])
    assert emb.shape == (n_cells, dim)
    assert n_cells > 0 and not np.isnan(emb).any()
    assert (outdir / "cellspace" / "cellspace" / "model.npz").stat().st_size > 0
    tsv = (outdir / "cellspace" / "cellspace.tsv").read_text().splitlines()
    assert len(tsv) > 0 and len(tsv[0].split("\t")) == dim + 1
    versions = (outdir / "pipeline_info" / "software_versions.yml").read_text()
    assert "TRAIN_CELLSPACE" in versions and "Nextflow" in versions
    trace = _trace(outdir)
    assert {r["status"] for r in trace} == {"COMPLETED"}
    names = {r["name"].split(" ")[0].split(":")[-1] for r in trace}
    assert {"MOTIFS", "ANALYZE", "DENOVO", "REPORT"} <= names
    analyzed = anndata.read_h5ad(outdir / "analyze" / "cellspace" / "cells.h5ad")
    assert analyzed.n_obs == n_cells and "leiden" in analyzed.obs
    motifs = anndata.read_h5ad(outdir / "motifs" / "cellspace" / "motif_scores.h5ad")
    assert motifs.n_obs == n_cells and motifs.n_vars > 0
    assert (outdir / "denovo" / "cellspace" / "denovo_motifs.tsv").is_file()
    log = (outdir / "cellspace" / "cellspace" / "training_log.tsv").read_text().splitlines()
    assert log[0].split("\t") == ["epoch", "loss", "examples_per_s"] and len(log) > 1
    report = (outdir / "report.html").read_text()
    for section in ("inputs", "training", "umap", "motifs", "denovo", "benchmark", "versions"):
        assert f'<section id="{section}">' in report, section
    return names


@pytest.mark.nextflow
@needs_nextflow
def test_pipeline_outputs(test_run):
    _, outdir, _, _ = test_run
    names = _check_outputs(outdir)
    # analyses run by default; trajectory, integration and the benchmark only when asked
    assert not names & {"TRAJECTORY", "INTEGRATE", "BENCH_RUN_METHOD", "BENCH_BOOTSTRAP"}


@pytest.mark.nextflow
@needs_nextflow
def test_pipeline_resume_caches_everything(test_run):
    launch, outdir, args, first = test_run
    n_tasks = len(_trace(outdir))
    proc = _nextflow([*args, "-resume"], launch)
    trace = _trace(outdir)
    assert len(trace) == n_tasks
    assert {r["status"] for r in trace} == {"CACHED"}, trace
    assert "Submitted process" not in proc.stdout


@pytest.mark.nextflow
@needs_nextflow
def test_pipeline_stub_run(tmp_path):
    """-stub-run of the full workflow: feature selection, every analysis and the benchmark."""
    outdir = tmp_path / "results"
    _nextflow(["run", str(ROOT), "-profile", "test,local", "-stub-run", "--n_features", "50",
               "--trajectory", "true", "--integrate_batch_key", "batch",
               "--integrate_reference", "donor1", "--benchmark", "true",
               "--benchmark_methods", "lsi,itlsi,simba", "--bootstrap_chunks", "3",
               "--outdir", str(outdir)], tmp_path)
    trace = _trace(outdir)
    counts: dict[str, int] = {}
    for r in trace:
        name = r["name"].split(" ")[0]
        counts[name] = counts.get(name, 0) + 1
    assert {"CELLSPACE:PREPARE_DATASET", "CELLSPACE:SELECT_FEATURES",
            "CELLSPACE:TRAIN_CELLSPACE", "CELLSPACE:EXPORT", "CELLSPACE:MOTIFS",
            "CELLSPACE:ANALYZE", "CELLSPACE:DENOVO", "CELLSPACE:INTEGRATE",
            "CELLSPACE:TRAJECTORY", "CELLSPACE:CUSTOM_DUMPSOFTWAREVERSIONS",
            "CELLSPACE:REPORT"} <= set(counts)
    # 2 datasets x 3 methods; 2 datasets x 3 bootstrap chunks; one merged report per dataset
    assert counts["CELLSPACE:BENCH_RUN_METHOD"] == 6
    assert counts["CELLSPACE:BENCH_SCORE"] == 6
    assert counts["CELLSPACE:BENCH_BOOTSTRAP"] == 6
    assert counts["CELLSPACE:BENCH_BOOTSTRAP_MERGE"] == 2
    assert {r["status"] for r in trace} == {"COMPLETED"}
    bench = outdir / "benchmark"
    assert len(list((bench / "embeddings").glob("*.h5ad"))) == 6
    assert len(list((bench / "scores").glob("*.scores.tsv"))) == 6
    assert {p.name for p in (bench / "bootstrap").iterdir()} == {"sim1", "sim2"}


@pytest.mark.nextflow
@needs_nextflow
def test_integrate_without_reference_fails_before_any_task(tmp_path):
    proc = _nextflow(["run", str(ROOT), "-profile", "test,local", "--integrate_batch_key",
                      "batch", "--outdir", str(tmp_path / "out")], tmp_path, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "--integrate_batch_key needs --integrate_reference" in log
    assert "Submitted process" not in log


@pytest.mark.nextflow
@needs_nextflow
def test_invalid_inputs_fail_before_any_task(tmp_path):
    sheet = tmp_path / "bad.csv"
    sheet.write_text(
        "dataset,format,matrix,sequences,h5ad,tenx_dir,peaks,genome,batch_key\n"
        "ok,h5ad,,,missing.h5ad,,,,\n"
        "two,mtx,,,,,,,\n"
    )
    proc = _nextflow(["run", str(ROOT), "-profile", "local", "--input", str(sheet),
                      "--outdir", str(tmp_path / "out"), "--epochs", "0"], tmp_path, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "--epochs: 0 is below the minimum 1" in log
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())

    proc = _nextflow(["run", str(ROOT), "-profile", "local", "--input", str(sheet),
                      "--outdir", str(tmp_path / "out")], tmp_path, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "row 1 (dataset 'ok'), column 'h5ad': file does not exist" in log
    assert "row 2 (dataset 'two'), column 'matrix': required for format 'mtx'" in log
    assert "Submitted process" not in log


@pytest.mark.nextflow
@needs_nextflow
def test_bad_samplesheet_is_one_line_naming_the_file_row_and_problem(tmp_path):
    """The pipeline applies assets/schema_input.json (tests/test_samplesheets.py: jsonschema
    refuses the same row for the same reason)."""
    sheet = ROOT / "tests" / "data" / "samplesheet_bad.csv"
    proc = _nextflow(["run", str(ROOT), "-profile", "local", "--input", str(sheet),
                      "--outdir", str(tmp_path / "out")], tmp_path, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    problems = [ln for ln in log.splitlines() if "Samplesheet " in ln]
    assert len(problems) == 1, log
    assert problems[0].endswith(f"Samplesheet {sheet}, row 2 (dataset 'sim2'), column 'obs': must be empty "
                                "for format 'h5ad' (filled only: dataset, format, batch_key, h5ad, sequences, "
                                "peaks, genome)"), problems[0]
    assert "Submitted process" not in log


@pytest.mark.nextflow
@needs_nextflow
def test_help(tmp_path):
    proc = _nextflow(["run", str(ROOT), "--help", "--outdir", str(tmp_path / "out")], tmp_path)
    assert "--input" in proc.stdout and "--epochs" in proc.stdout


@pytest.mark.nextflow
@needs_nextflow
@pytest.mark.parametrize("profile", PROFILES)
def test_config_profiles_parse(profile, tmp_path):
    proc = _nextflow(["config", str(ROOT), "-profile", profile], tmp_path)
    assert "params" in proc.stdout


@pytest.mark.nextflow
@needs_nextflow
def test_every_input_format_is_prepared_and_trained(tmp_path):
    """mtx (+FASTA, +peaks/genome), h5ad (+var_names/genome), 10x, fragments (+barcodes,
    +--min_fragments) rows of one samplesheet: each becomes a prepared h5ad with sequences."""
    anndata = pytest.importorskip("anndata")
    from cellspace.simulate import SimulationParams, simulate, write_simulation

    data = tmp_path / "data"
    sim = simulate(SimulationParams(seed=3, n_cells=80, n_events=150, event_len=300, n_types=2,
                                    n_donors=2, density=0.06))
    write_simulation(sim, data, ("mtx", "h5ad", "tenx", "fragments"))
    ds = sim.datasets[0]
    (data / "sim1.bed").write_text("".join(
        f"{c}\t{s}\t{e}\n" for c, s, e in zip(ds.var["chrom"], ds.var["start"], ds.var["end"], strict=True)))
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "dataset,format,matrix,sequences,h5ad,tenx_dir,fragments,peaks,genome,batch_key,cells,obs\n"
        "a_fasta,mtx,data/sim1.mtx.gz,data/sim1.fa.gz,,,,,,,,\n"
        "b_peaks,mtx,data/sim1.mtx.gz,,,,,data/sim1.bed,data/genome.fa,donor,,data/sim1.cells.tsv\n"
        "c_h5ad,h5ad,,,data/sim1.h5ad,,,,data/genome.fa,,,\n"
        "d_tenx,tenx,,,,data/sim1_tenx,,,data/genome.fa,,,\n"
        "e_frag,fragments,,,,,data/sim1.fragments.tsv.gz,,data/genome.fa,,data/sim1.barcodes.txt,\n"
        "f_frag,fragments,,,,,data/sim1.fragments.tsv.gz,,data/genome.fa,,,\n"
    )
    outdir = tmp_path / "results"
    _nextflow(["run", str(ROOT), "-profile", "test,local", "--input", str(sheet), "--outdir",
               str(outdir), "--min_fragments", "5", "--tile_size", "1000", "--epochs", "1",
               "--skip_motifs", "true", "--skip_analyze", "true", "--skip_denovo", "true"], tmp_path)
    prepared = {p.stem: anndata.read_h5ad(p) for p in (outdir / "prepared").glob("*.h5ad")}
    assert set(prepared) == {"a_fasta", "b_peaks", "c_h5ad", "d_tenx", "e_frag", "f_frag"}
    regions = [f"{c}:{s}-{e}" for c, s, e in zip(ds.var["chrom"], ds.var["start"], ds.var["end"], strict=True)]
    for name in ("b_peaks", "c_h5ad", "d_tenx"):
        assert list(prepared[name].var_names) == regions, name
        assert list(prepared[name].var["sequence"]) == list(ds.sequences), name
    assert "batch" in prepared["b_peaks"].obs
    assert list(prepared["e_frag"].obs_names) == [str(c) for c in ds.cell_ids]
    assert (prepared["e_frag"].var["start"] % 1000 == 0).all()
    assert prepared["f_frag"].obs["n_fragments"].min() >= 5
    cells = anndata.read_h5ad(outdir / "cellspace" / "cellspace" / "cells.h5ad")
    assert cells.n_obs == sum(a.n_obs for a in prepared.values())


@pytest.mark.nextflow
@needs_nextflow
def test_samplesheet_sequence_sources_are_checked_before_any_task(tmp_path):
    (tmp_path / "m.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 1\n")
    for name in ("s.fa", "p.bed", "g.fa", "f.tsv.gz"):
        (tmp_path / name).write_text("x\n")
    sheet = tmp_path / "bad.csv"
    sheet.write_text(
        "dataset,format,matrix,sequences,h5ad,tenx_dir,fragments,peaks,genome,batch_key,cells,obs\n"
        "one,mtx,m.mtx,,,,,,,,,\n"
        "two,mtx,m.mtx,s.fa,,,,p.bed,g.fa,,,\n"
        "three,mtx,m.mtx,,,,,p.bed,,,,\n"
        "four,fragments,,,,,f.tsv.gz,,g.fa,,,\n"
    )
    proc = _nextflow(["run", str(ROOT), "-profile", "local", "--input", str(sheet),
                      "--outdir", str(tmp_path / "out")], tmp_path, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "row 1 (dataset 'one'): needs 'sequences' or 'peaks' + 'genome' for format 'mtx'" in log
    assert "row 2 (dataset 'two'), column 'sequences': give either 'sequences'" in log
    assert "row 3 (dataset 'three'), column 'genome': required with 'peaks'" in log
    assert "row 4 (dataset 'four'), column 'cells': format 'fragments' needs a barcode list" in log
    assert "Submitted process" not in log


# ---------------------------------------------------------------------------------------------
# the pipeline in the image (podman)
# ---------------------------------------------------------------------------------------------

IMAGE = "cellspace:" + re.search(
    r'__version__ = "(.+)"', (ROOT / "src" / "cellspace" / "_version.py").read_text()
).group(1)


def test_every_module_names_the_image_that_build_image_makes():
    for module in sorted((ROOT / "modules" / "local").glob("*/main.nf")):
        images = re.findall(r"^\s+container\s+'([^']+)'", module.read_text(), re.M)
        assert images == [IMAGE], f"{module.parent.name}: {images}"
    script = (ROOT / "containers" / "build-image").read_text()
    assert 'TAG="cellspace:${VERSION}"' in script and "src/cellspace/_version.py" in script


def _podman_run_options() -> list[str]:
    config = (ROOT / "nextflow.config").read_text()
    return re.search(r"^\s+podman_run_options\s*=\s*'([^']*)'", config, re.M).group(1).split()


@pytest.mark.container
@needs_nextflow
def test_pipeline_in_the_image(tmp_path):
    """`-profile test,podman` with every process: all tasks run in the image built by
    containers/build-image, with the same outputs as the local run. Needs podman and the image;
    selected with `-m container` only (a missing extra in the image fails a task here)."""
    podman = shutil.which("podman")
    assert podman, "podman is not installed"
    options = _podman_run_options()
    probe = subprocess.run(
        [podman, "run", "--rm", *options, IMAGE, "python3", "-c",
         "import platform; print(platform.python_version())"],
        capture_output=True, text=True, timeout=300,
    )
    assert probe.returncode == 0, (
        f"image {IMAGE} does not run (build it with containers/build-image): {probe.stderr}"
    )
    image_python = probe.stdout.strip()

    outdir = tmp_path / "results"
    _nextflow(["run", str(ROOT), "-profile", "test,podman", "--outdir", str(outdir),
               "--trajectory", "true", "--integrate_batch_key", "batch",
               "--integrate_reference", "donor1", "--integrate_label_key", "cell_type",
               "--benchmark", "true", "--benchmark_methods", "lsi,chromvar_kmer"],
              tmp_path, timeout=3600)
    names = _check_outputs(outdir)
    assert {"PREPARE_DATASET", "TRAIN_CELLSPACE", "EXPORT", "INTEGRATE", "TRAJECTORY",
            "BENCH_RUN_METHOD", "BENCH_SCORE", "BENCH_BOOTSTRAP", "BENCH_BOOTSTRAP_MERGE",
            "CUSTOM_DUMPSOFTWAREVERSIONS"} <= names
    anndata = pytest.importorskip("anndata")
    traj = anndata.read_h5ad(outdir / "trajectory" / "cellspace" / "cells.h5ad")
    assert "palantir_pseudotime" in traj.obs
    integrated = anndata.read_h5ad(outdir / "integrate" / "cellspace.integrated.h5ad")
    assert "X_cellspace_integrated" in integrated.obsm
    bench = outdir / "benchmark"
    assert len(list((bench / "scores").glob("*.scores.tsv"))) == 4
    assert (bench / "bootstrap" / "sim1" / "summary.tsv").is_file()

    # every task ran in the image: its launcher calls `podman run ... IMAGE`
    for row in _trace(outdir):
        run = next((tmp_path / "work").glob(row["hash"] + "*")) / ".command.run"
        assert re.search(rf"podman run .* {re.escape(IMAGE)} ", run.read_text()), row["name"]
    # and the versions it reports are the image's: its Python, not the host's
    versions = (outdir / "pipeline_info" / "software_versions.yml").read_text()
    reported = set(re.findall(r'^\s+python: "(.+)"$', versions, re.M))
    assert reported == {image_python}, (reported, image_python)


@pytest.mark.nextflow
@needs_nextflow
def test_query_datasets_are_mapped_into_the_trained_model(tmp_path):
    """--query: the query rows are prepared and mapped (real run, tiny training)."""
    anndata = pytest.importorskip("anndata")
    data = ROOT / "assets" / "test_data"
    query = tmp_path / "query.csv"
    query.write_text(
        "dataset,format,matrix,sequences,h5ad,tenx_dir,fragments,peaks,genome,batch_key,cells,obs\n"
        f"q1,h5ad,,,{data / 'sim2.h5ad'},,,,,,,\n"
    )
    outdir = tmp_path / "results"
    _nextflow(["run", str(ROOT), "-profile", "test,local", "--query", str(query), "--outdir",
               str(outdir), "--epochs", "1", "--skip_motifs", "true", "--skip_analyze", "true",
               "--skip_denovo", "true"], tmp_path)
    mapped = anndata.read_h5ad(outdir / "mapped" / "query" / "cells.h5ad")
    q = anndata.read_h5ad(outdir / "prepared_query" / "q1.h5ad")
    assert list(mapped.obs_names) == list(q.obs_names)
    trained = anndata.read_h5ad(outdir / "cellspace" / "cellspace" / "cells.h5ad")
    assert mapped.obsm["X_cellspace"].shape[1] == trained.obsm["X_cellspace"].shape[1]
    assert mapped.uns["cellspace"]["run_id"] == trained.uns["cellspace"]["run_id"]
