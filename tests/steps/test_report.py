"""REPORT: the HTML page of a run, from the files the other steps write.

The run folder is built once: real prepared datasets (package simulator) and a real 2-epoch
training through the CLI; the analysis, motif, de novo and benchmark folders hold files with
the names and formats those steps write (their own tests cover their content). The page is
checked as text and, when Chromium is installed, rendered headless (DOM + screenshot).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellspace.analysis.plotting import embedding_figure, heatmap_figure, joint_figure, save_figure
from cellspace.cli import main as cli_main
from cellspace.errors import InputError
from cellspace.io.anndata_io import write_h5ad
from cellspace.simulate import small_simulation
from cellspace.steps.report import ReportParams, build_report, write_report

SECTIONS = ["inputs", "training", "umap", "motifs", "denovo", "benchmark", "versions"]
EPOCHS = 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    sim = small_simulation(seed=3, n_cells=60, n_events=150, n_datasets=2, n_donors=2)
    prepared = root / "prepared"
    for ds in sim.datasets:
        write_h5ad(ds, prepared / f"{ds.name}.h5ad")
    rc = cli_main(["train", "--out", str(root / "train"),
                   *[a for ds in sim.datasets for a in ("--h5ad", str(prepared / f"{ds.name}.h5ad"))],
                   "--batch-key", "donor", "--epochs", str(EPOCHS), "--dim", "8", "--k", "5",
                   "--ngrams", "1", "--bucket", "100", "--examples-per-event", "2",
                   "--threads", "1", "--seed", "1", "--progress", "no"])
    assert rc == 0
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(120, 2))
    labels = np.repeat(["a", "b", "c"], 40)
    analyze = root / "analyze"
    for key in ("leiden", "cell_type", "donor"):
        save_figure(embedding_figure(xy, labels, title=key), analyze / f"umap_{key}.png")
    save_figure(joint_figure(xy, labels, xy[:3], ["GATA1", "SPI1", "CEBPA"]), analyze / "joint_umap.png")
    motifs = root / "motifs"
    z = pd.DataFrame(rng.normal(size=(5, 3)), index=[f"TF{i}" for i in range(5)], columns=["a", "b", "c"])
    save_figure(heatmap_figure(z, title="motifs"), motifs / "top_motifs_by_leiden.png")
    pd.DataFrame({"group": ["a", "b"], "motif": ["TF0", "TF1"], "mean_z": [1.5, 1.2]}).to_csv(
        motifs / "top_motifs_by_leiden.tsv", sep="\t", index=False)
    denovo = root / "denovo"
    save_figure(heatmap_figure(z, title="logos"), denovo / "denovo_logos.png")
    pd.DataFrame({"motif": ["denovo_1"], "consensus": ["GATAAG"], "best_match": ["GATA1"]}).to_csv(
        denovo / "denovo_matches.tsv", sep="\t", index=False)
    bench = root / "benchmark" / "sim1"
    bench.mkdir(parents=True)
    rows = [{"method": m, "score": s, "observed": v, "mean": v, "ci_low": v - 0.05,
             "ci_high": v + 0.02, "n_replicates": 10}
            for m, base in (("cellspace", 0.9), ("lsi", 0.8)) for s, v in (("ari", base), ("overall", base - 0.1))]
    pd.DataFrame(rows).to_csv(bench / "summary.tsv", sep="\t", index=False)
    save_figure(heatmap_figure(z, title="scores"), bench / "scores.png")
    (root / "software_versions.yml").write_text(
        '"TRAIN_CELLSPACE":\n    cellspace: "0.1.0"\n    python: "3.11.2"\n'
        '"ANALYZE":\n    cellspace: "0.1.0"\n"Workflow":\n    Nextflow: "25.04.4"\n')
    return root


def _params(root: Path, out: Path, **over) -> ReportParams:
    kw = dict(out=out, prepared=sorted((root / "prepared").glob("*.h5ad")), train=root / "train",
              analyze=root / "analyze", motifs=root / "motifs", denovo=root / "denovo",
              benchmark=[root / "benchmark" / "sim1"], versions=root / "software_versions.yml")
    kw.update(over)
    return ReportParams(**kw).validate()


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.img_src: list[str] = []
        self.links: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag == "img":
            self.img_src.append(a.get("src", ""))
        elif tag == "svg":
            self.svgs += 1
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key] or "")


def _parse(text: str) -> _Collect:
    c = _Collect()
    c.feed(text)
    return c


def test_training_writes_one_log_row_per_epoch(run_dir):
    log = pd.read_csv(run_dir / "train" / "training_log.tsv", sep="\t")
    assert list(log.columns) == ["epoch", "loss", "examples_per_s"]
    assert log["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert (log["examples_per_s"] > 0).all() and np.isfinite(log["loss"]).all()
    import json

    import anndata as ad

    params = json.loads(ad.read_h5ad(run_dir / "train" / "cells.h5ad").uns["cellspace"]["params"])
    np.testing.assert_allclose(log["loss"], params["losses"], rtol=1e-5)


def test_report_has_every_section_and_is_self_contained(run_dir, tmp_path):
    out = write_report(_params(run_dir, tmp_path / "report.html"))
    text = out.read_text()
    page = _parse(text)
    assert page.sections == SECTIONS
    # 3 UMAPs + joint, heatmap, logos, benchmark scores: all inline
    assert len(page.img_src) == 7
    assert all(s.startswith("data:image/png;base64,") for s in page.img_src)
    assert all(not re.match(r"[a-z]+://", link) for link in page.links), page.links
    assert page.svgs >= 1  # the training curve
    # counts of the prepared datasets: 2 x 60 cells, 2 x 150 events
    assert re.search(r"<td>sim1</td><td class=\"num\">60</td><td class=\"num\">150</td>", text)
    assert '<td class="num">120</td>' in text  # cells of all datasets
    # benchmark: observed score with its CI; versions: one row per tool and version
    assert "0.900 [0.850, 0.920]" in text
    assert "<td>Nextflow</td><td>25.04.4</td>" in text
    assert "<td>cellspace</td><td>0.1.0</td><td>ANALYZE, TRAIN_CELLSPACE</td>" in text
    assert f"{EPOCHS} epochs" in text


def test_report_of_a_run_without_analyses_says_what_did_not_run(run_dir, tmp_path):
    text = build_report(_params(run_dir, tmp_path / "r.html", analyze=None, motifs=None,
                                denovo=None, benchmark=[]))
    page = _parse(text)
    assert page.sections == SECTIONS and page.img_src == []
    assert "the benchmark did not run" in text and "the analysis step did not run" in text


def test_report_missing_input_is_one_line_error(run_dir, tmp_path, capsys):
    with pytest.raises(InputError, match="folder not found"):
        _params(run_dir, tmp_path / "r.html", analyze=tmp_path / "nope")
    rc = cli_main(["report", "--out", str(tmp_path / "r.html"), "--train", str(tmp_path / "nope")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "nope" in err
    assert not (tmp_path / "r.html").exists()


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)


@pytest.mark.skipif(_chromium() is None,
                    reason="Chromium not installed (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    out = write_report(_params(run_dir, tmp_path / "report.html"))
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([*base, "--dump-dom", out.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    page = _parse(dom)
    assert page.sections == SECTIONS
    assert len(page.img_src) == 7 and page.svgs >= 1
    shot = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,2400", out.as_uri()],
                   capture_output=True, text=True, timeout=120, check=True)
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[:2] == (2400, 1280)
    # not a blank page: the header band is dark, the body light
    assert img[..., :3].std() > 0.05
