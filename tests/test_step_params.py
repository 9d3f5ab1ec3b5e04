"""Parameters are declared once, in the steps' dataclasses; everything else is checked against them.

Generated from the dataclasses: every flag of a step parser comes from a field (name, default,
type); the pipeline's training parameters (the schema's training group, which TRAIN_CELLSPACE
passes on as flags) are exactly the training step's fields, with the same defaults and types;
and nextflow.config gives the schema's defaults (tests/test_pipeline.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path

import pytest

from cellspace.errors import ParameterError
from cellspace.steps.entry import step_module, step_parser
from cellspace.steps.params import cli_fields, field_default, from_mapping
from cellspace.steps.train_cellspace import RunOptions
from cellspace.train import TrainParams

ROOT = Path(__file__).resolve().parents[1]
STEPS = sorted(p.stem for p in (ROOT / "src" / "cellspace" / "steps").glob("*.py")
               if (ROOT / "bin" / p.name).exists())
SCHEMA_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _schema_group(name: str) -> dict[str, dict]:
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    return schema["$defs"][name]["properties"]


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions}


def test_every_step_has_an_entry_and_a_test():
    assert {"train_cellspace", "prepare_dataset"} <= set(STEPS)
    for step in STEPS:
        assert (ROOT / "tests" / "steps" / f"test_{step}.py").is_file(), step
        module = step_module(step)
        for attr in ("COMMAND", "HELP", "DESCRIPTION", "add_arguments", "run"):
            assert hasattr(module, attr), f"{step}: no {attr}"


def _step_fields(module) -> dict[str, dataclasses.Field]:
    """Flag fields (those with help) of the dataclasses a step module defines or imports."""
    out = {}
    for obj in vars(module).values():
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            out.update({f.name: f for f in cli_fields(obj) if "help" in f.metadata})
    return out


@pytest.mark.parametrize("step", STEPS)
def test_every_flag_of_a_step_derives_from_its_parameter_dataclass(step):
    """Each step's flags (but --help, --version, --verbose and the shared dataset inputs) are
    fields of its dataclasses: same name, help and default."""
    module = step_module(step)
    parser = step_parser(module)
    inputs = {a.dest for g in parser._action_groups if g.title == "input datasets" for a in g._group_actions}
    fields = _step_fields(module)
    flags = [a for a in parser._actions if a.dest not in {"help", "version", "verbose"} | inputs]
    assert flags, step
    for a in flags:
        assert a.dest in fields, f"{step}: flag {a.option_strings} is no field of its dataclasses"
        f = fields[a.dest]
        assert a.help == f.metadata["help"], (step, a.dest)
        default = field_default(f)
        if default is not dataclasses.MISSING:
            assert a.default == default, (step, a.dest)
        else:
            assert a.required, (step, a.dest)


@pytest.mark.parametrize("cls", [TrainParams, RunOptions])
def test_train_flags_derive_from_the_dataclass(cls):
    actions = _actions(step_parser(step_module("train_cellspace")))
    hints = typing.get_type_hints(cls)
    for f in cli_fields(cls):
        a = actions[f.name]
        assert a.option_strings == ["--" + f.name.replace("_", "-")]
        assert a.help == f.metadata["help"]
        default = field_default(f)
        if default is not dataclasses.MISSING:
            assert a.default == default, f.name
        if hints[f.name] in (int, float) and "type" not in f.metadata:
            assert a.type is hints[f.name], f.name


def test_training_group_of_the_schema_is_the_training_step():
    """Adding a training field without its pipeline parameter (or the reverse) fails here."""
    group = _schema_group("training_options")
    actions = _actions(step_parser(step_module("train_cellspace")))
    fields = {f.name: f for cls in (TrainParams, RunOptions) for f in dataclasses.fields(cls)}
    hints = {**typing.get_type_hints(TrainParams), **typing.get_type_hints(RunOptions)}
    pipeline_only = {"threads"}  # the module passes --threads ${task.cpus}
    expected = {f.name for f in cli_fields(TrainParams)} - pipeline_only
    expected |= {"checkpoint_every", "batch_key"}
    assert set(group) == expected, set(group) ^ expected
    for name, prop in group.items():
        assert name in actions, f"schema parameter {name} is no flag of train_cellspace.py"
        default = field_default(fields[name])
        if "default" in prop:
            assert prop["default"] == default, f"{name}: schema {prop['default']!r} vs step {default!r}"
        else:
            assert default is None, name
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        hint = hints[name]
        base = next((t for t in (int, float, str, bool) if hint is t or hint == t | None), None)
        assert SCHEMA_TYPES[base] in types, f"{name}: schema type {types} vs {hint}"


def test_from_mapping_rejects_unknown_and_ill_typed_values():
    assert from_mapping(TrainParams, {"dim": "12", "lr": 0.5}).dim == 12
    with pytest.raises(ParameterError, match="unknown parameter.*bogus"):
        from_mapping(TrainParams, {"bogus": 3})
    with pytest.raises(ParameterError, match="dim: expected int, got 'abc'"):
        from_mapping(TrainParams, {"dim": "abc"})
    with pytest.raises(ParameterError, match="dim: expected int"):
        from_mapping(TrainParams, {"dim": 2.5})
