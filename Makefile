# Quick start:  make demo   (install + run the pipeline on the bundled demo data)
#               make test   (install + the whole test suite; what CI runs)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
NXF := .nextflow-bin/nextflow
CONSTRAINTS := containers/constraints.txt
OUTDIR ?= results/demo
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install nextflow demo test lint bench clean

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
	$(NXF) run . -profile test,local --outdir $(OUTDIR)

test: install nextflow
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check src tests benchmarks $(wildcard bin)

bench: install
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf build work .nextflow .nextflow.log* results src/cellspace/_core.c src/cellspace/*.so
