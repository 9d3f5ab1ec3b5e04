"""Samplesheets against assets/schema_input.json, with the jsonschema package.

The schema is the one set of samplesheet rules: the pipeline's Groovy validator reads the same
file (tests/test_pipeline.py runs it on the bad samplesheet below). A CSV row becomes the JSON
object of its non-empty cells, as the pipeline reads it. The nf-schema keywords the schema uses
are implemented here as jsonschema keywords: ``exists`` (a local path, relative to the
samplesheet, must exist; ``format: file-path`` must be a file) and ``uniqueEntries`` (columns
whose values differ between rows). ``errorMessage`` is an annotation for the pipeline.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import jsonschema
import pytest
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "assets" / "schema_input.json").read_text())
SKIP = {".venv", "work", "scratch", "results", ".nextflow", ".git"}
SHEETS = sorted(p for p in ROOT.rglob("samplesheet*.csv")
                if not SKIP & set(p.relative_to(ROOT).parts) and "bad" not in p.name)
BAD_SHEET = ROOT / "tests" / "data" / "samplesheet_bad.csv"
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def read_sheet(path: Path) -> list[dict[str, str]]:
    """The rows as the schema sees them: the non-empty cells, whitespace-trimmed."""
    with open(path, newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    return [{k.strip(): v.strip() for k, v in row.items() if v and v.strip()}
            for row in csv.DictReader(lines)]


def validator(sheet_dir: Path) -> jsonschema.protocols.Validator:
    """A 2020-12 validator of the samplesheet schema with nf-schema's ``exists`` and ``uniqueEntries``."""

    def exists(_validator, wanted, value, schema):
        if not wanted or not isinstance(value, str) or (URL.match(value) and not value.startswith("file://")):
            return
        path = Path(value.removeprefix("file://"))
        path = path if path.is_absolute() else sheet_dir / path
        if not path.exists():
            yield ValidationError(f"file does not exist: {path}")
        elif schema.get("format") == "file-path" and path.is_dir():
            yield ValidationError(f"is a directory, expected a file: {path}")

    def unique_entries(_validator, columns, rows, _schema):
        for col in columns:
            seen: dict[str, int] = {}
            for i, row in enumerate(rows, 1):
                if isinstance(row, dict) and col in row:
                    if row[col] in seen:
                        yield ValidationError(f"row {i}: {col} {row[col]!r} already used in row {seen[row[col]]}")
                    seen.setdefault(row[col], i)

    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                       {"exists": exists, "uniqueEntries": unique_entries})
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def problems(path: Path) -> list[str]:
    errors = validator(path.parent).iter_errors(read_sheet(path))
    return sorted(f"row {e.path[0] + 1}: {e.message}" if e.path else e.message for e in errors)


def test_the_repository_has_samplesheets_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in SHEETS}
    assert {"assets/samplesheet_test.csv", "assets/samplesheet_demo.csv",
            "assets/test_data/samplesheet_test_full.csv"} <= names


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_samplesheet_is_valid(sheet):
    assert read_sheet(sheet), f"{sheet}: no rows"
    assert problems(sheet) == []


def test_the_bad_samplesheet_fails_on_its_second_row_only():
    assert problems(BAD_SHEET) == ["row 2: 'obs' is not one of ['dataset', 'format', 'batch_key', 'h5ad', "
                                   "'sequences', 'peaks', 'genome']"]


@pytest.mark.parametrize(("row", "problem"), [
    ({"format": "mtx"}, "'dataset' is a required property"),
    ({"dataset": "a b", "format": "h5ad", "h5ad": "test_data/sim2.h5ad"}, "does not match"),
    ({"dataset": "a", "format": "csv"}, "'csv' is not one of"),
    ({"dataset": "a", "format": "mtx", "matrix": "test_data/sim1.mtx.gz"}, "is not valid under any of the given schemas"),
    ({"dataset": "a", "format": "mtx", "matrix": "test_data/sim1.mtx.gz", "sequences": "test_data/sim1.fa.gz",
      "genome": "test_data/sim1.fa.gz"}, "should not be valid under"),
    ({"dataset": "a", "format": "h5ad", "h5ad": "test_data/sim2.h5ad", "peaks": "x.bed"}, "'genome' is a dependency"),
    ({"dataset": "a", "format": "tenx", "tenx_dir": "test_data"}, "'genome' is a required property"),
    ({"dataset": "a", "format": "h5ad", "h5ad": "test_data/missing.h5ad"}, "file does not exist"),
    ({"dataset": "a", "format": "h5ad", "h5ad": "test_data/sim2.h5ad", "colour": "red"}, "Additional properties"),
])
def test_each_rule_of_the_schema_refuses_a_row(row, problem):
    ok = {"dataset": "ok", "format": "h5ad", "h5ad": "test_data/sim2.h5ad"}
    found = [e.message for e in validator(ROOT / "assets").iter_errors([ok, row])]
    assert found and any(problem in m for m in found), found


def test_a_dataset_name_used_twice_is_refused():
    row = {"dataset": "same", "format": "h5ad", "h5ad": "test_data/sim2.h5ad"}
    found = [e.message for e in validator(ROOT / "assets").iter_errors([row, dict(row)])]
    assert found == ["row 2: dataset 'same' already used in row 1"]
