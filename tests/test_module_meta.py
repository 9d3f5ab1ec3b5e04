"""Every module has a meta.yml in nf-core's module meta format that matches the module.

The structure checked is that of nf-core's ``modules/meta-schema.json``: name, description,
keywords (>= 3), authors, tools (each with a description and a homepage, documentation or DOI),
input as a list of channels (each a list of elements), output as a list of ``{emit: elements}``;
every element has a type and a description. Then the channels, their element names and the
emit names are compared with the ``input:`` and ``output:`` blocks of ``main.nf``.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from nfmodule import inputs, outputs

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "modules" / "local").glob("*/main.nf"))

ELEMENT = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": {
        "type": "object",
        "required": ["type", "description"],
        "properties": {
            "type": {"enum": ["map", "file", "directory", "string", "integer", "float", "boolean", "list"]},
            "description": {"type": "string", "minLength": 1},
            "pattern": {"type": "string"},
        },
    },
}
META_SCHEMA = {
    "type": "object",
    "required": ["name", "description", "keywords", "authors", "output", "tools"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string", "minLength": 1},
        "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
        "authors": {"type": "array", "items": {"type": "string"}},
        "maintainers": {"type": "array", "items": {"type": "string"}},
        "input": {"type": "array", "items": {"type": "array", "items": ELEMENT}},
        "output": {"type": "array", "items": {"type": "object", "minProperties": 1, "maxProperties": 1,
                                              "additionalProperties": {"type": "array", "items": ELEMENT}}},
        "tools": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["description"],
                "anyOf": [{"required": [k]} for k in ("homepage", "documentation", "tool_dev_url", "doi")],
                "properties": {
                    "homepage": {"type": "string", "pattern": "^https?://"},
                    "documentation": {"type": "string", "pattern": "^(https?|ftp)://"},
                    "doi": {"anyOf": [{"type": "string", "pattern": r"^10\.\d{4,9}/[^,]+$"},
                                      {"enum": ["no DOI available"]}]},
                    "licence": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            },
        }},
    },
}


def _key(name: str) -> str:
    return re.sub(r"\$\{[^}]*\}", "*", name)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_meta_yml_follows_the_nf_core_meta_format(module: Path):
    meta_file = module.parent / "meta.yml"
    assert meta_file.is_file(), f"{module.parent.name}: no meta.yml"
    meta = yaml.safe_load(meta_file.read_text())
    jsonschema.validate(meta, META_SCHEMA)
    assert meta["name"] == module.parent.name


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_meta_yml_channels_match_the_module(module: Path):
    meta = yaml.safe_load((module.parent / "meta.yml").read_text())
    declared_in = [[name for _, name in ch] for ch in inputs(module)]
    meta_in = [[next(iter(e)) for e in ch] for ch in meta.get("input", [])]
    assert meta_in == declared_in
    declared_out = {emit: [_key(name) for _, name in elems] for emit, elems in outputs(module).items()}
    meta_out = {next(iter(ch)): [_key(next(iter(e))) for e in next(iter(ch.values()))] for ch in meta["output"]}
    assert meta_out == declared_out


def test_a_changed_module_channel_is_caught(tmp_path):
    """The comparison above fails when main.nf gains an element the meta.yml does not list."""
    src = ROOT / "modules" / "local" / "export" / "main.nf"
    changed = tmp_path / "export" / "main.nf"
    changed.parent.mkdir()
    changed.write_text(src.read_text().replace("tuple val(meta), path(model)", "tuple val(meta), path(model), path(x)"))
    meta = yaml.safe_load((src.parent / "meta.yml").read_text())
    assert [[next(iter(e)) for e in ch] for ch in meta["input"]] != [[n for _, n in ch] for ch in inputs(changed)]
