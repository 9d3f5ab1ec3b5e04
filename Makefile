# Quick start:  make demo   (install + run the pipeline on the bundled demo data)
#               make test   (install + the whole test suite; what CI runs)
# Containers:   make test-container  (build the image with podman, run the pipeline in it)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
NXF := .nextflow-bin/nextflow
CONSTRAINTS := containers/constraints.txt
OUTDIR ?= results/demo
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install nextflow demo test image test-container lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py src/cellspace/_core.pyx $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[test]'
	touch $@

nextflow: $(NXF)

$(NXF): scripts/install-nextflow
	bash scripts/install-nextflow

demo: install nextflow
	$(NXF) run . -profile demo,local --outdir $(OUTDIR)

test: install nextflow
	$(PY) -m pytest

# containers/build-image: wheels on the host, debootstrap base (cached), image cellspace:VERSION
image: install
	containers/build-image

test-container: image nextflow
	$(PY) -m pytest -m container tests/test_pipeline.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks $(wildcard bin)

bench: install
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf build work .nextflow .nextflow.log* results src/cellspace/_core.c src/cellspace/*.so
