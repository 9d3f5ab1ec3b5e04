"""DENOVO (steps/denovo.py, bin/denovo.py): optional extras and parameters checked up front."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cellspace.analysis.synthetic import planted_motif_model
from cellspace.io import write_h5ad


@pytest.fixture()
def run_files(tmp_path):
    model, adata = planted_motif_model({"t1": ["ACGTTGCAAT"], "t2": ["GGGACCCATT"]}, k=6, dim=16,
                                       n_cells_per_type=20)
    model.save(tmp_path / "model.npz")
    write_h5ad(adata, tmp_path / "cells.h5ad")
    return tmp_path / "model.npz", tmp_path / "cells.h5ad"


def test_missing_logomaker_is_named_before_any_work(run_files, tmp_path):
    """Without the [analysis] extra's logomaker, denovo stops before computing anything."""
    model, cells = run_files
    out = tmp_path / "dn"
    code = ("import sys; sys.modules['logomaker'] = None; from cellspace.steps.entry import main; "
            "sys.exit(main('denovo', sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "--model", str(model), "--cells", str(cells),
                           "--out", str(out), "--no-compare"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ": error: " in ln]
    assert len(lines) == 1 and "needs logomaker" in lines[0] and "cellspace[analysis]" in lines[0]
    assert "de novo motifs of" not in proc.stderr  # no work started
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--cut", "2"], "--cut must be in (0, 1]"),
    (["--jaspar-release", "JASPAR1999"], "is not bundled with pyjaspar"),
    (["--groupby", "nosuch"], "no obs column for --groupby 'nosuch'"),
])
def test_bad_parameters_fail_before_work(run_files, tmp_path, args, message):
    from stepcli import run_step

    model, cells = run_files
    out = tmp_path / "dn"
    res = run_step("denovo", "--model", model, "--cells", cells, "--out", out, *args)
    assert res.rc == 2
    assert message in res.error_line()
    assert not out.exists()
