"""The command lines written in the Nextflow modules must be accepted by the real parsers.

Each ``<process>.py ...`` (a step's ``bin/`` entry) or ``cellspace <subcommand> ...`` call in a
module's ``script:`` block is extracted, its ``${...}`` placeholders are replaced by test values
(Groovy variables that hold optional flags, such as ``inputs`` or ``batch``, are replaced by
every flag fragment assigned to them; ``params_args`` by the flags of the schema's training
group, as the module builds them), and the step's parser must accept it. Modules and the steps
cannot drift apart without this test failing. Needs no Nextflow.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "modules" / "local").glob("*/main.nf"))
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
STEP_CALL = re.compile(r"^(\w+)\.py(\s|$)")


def _is_step_call(line: str) -> bool:
    m = STEP_CALL.match(line)
    return bool(m) and (ROOT / "src" / "cellspace" / "steps" / f"{m.group(1)}.py").is_file()


def _training_group_flags() -> list[str]:
    """The flags TRAIN_CELLSPACE builds from the schema's training group (default values)."""
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    flags = []
    for name, prop in schema["$defs"]["training_options"]["properties"].items():
        value = prop.get("default")
        if value is None or value == "" or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def _script_section(text: str) -> tuple[str, str]:
    """(groovy code before the template, shell template) of the ``script:`` block."""
    start = text.index("\n    script:")
    end = text.find("\n    stub:", start)
    section = text[start : end if end != -1 else len(text)]
    q1 = section.index('"""')
    q2 = section.index('"""', q1 + 3)
    return section[:q1], section[q1 + 3 : q2]


def _commands(template: str) -> list[str]:
    """Shell commands starting with ``cellspace`` (backslash continuations joined)."""
    joined = re.sub(r"\\\\\s*\n", " ", template)  # Groovy '\\' + newline
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if (line.startswith("cellspace ") or _is_step_call(line)) and not re.search(r"--version\b", line):
            out.append(line)
    return out


def _fragments(groovy: str, var: str) -> list[str]:
    """Flag fragments (string literals starting with --) assigned to a Groovy variable."""
    frags = []
    for line in groovy.splitlines():
        if re.search(rf"(^|\s|def\s){re.escape(var)}\s*=", line):
            for lit in re.findall(r'"([^"]*)"', line):
                if lit.strip().startswith("--"):
                    frags.append(lit.strip())
    return frags


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def _value_for(sub: argparse.ArgumentParser, flag: str | None) -> str:
    if flag:
        for action in sub._actions:
            if flag in action.option_strings and action.choices:
                return str(next(iter(action.choices)))
    return "1"


def _substitute(cmd: str, groovy: str, sub: argparse.ArgumentParser) -> list[str]:
    tokens = cmd.split()
    out: list[str] = []
    for i, tok in enumerate(tokens):
        m = PLACEHOLDER.fullmatch(tok)
        prev = tokens[i - 1] if i else ""
        if m and not prev.startswith("--"):
            # a standalone variable holding optional flags: use all fragments assigned to it
            var = m.group(1).strip()
            if var == "params_args":
                out.extend(_training_group_flags())
                continue
            for frag in _fragments(groovy, var):
                out.extend(_substitute_values(frag, sub))
            continue
        flag = prev if prev.startswith("--") else None
        out.append(PLACEHOLDER.sub(lambda _m, f=flag: _value_for(sub, f), tok))
    return out


def _substitute_values(fragment: str, sub: argparse.ArgumentParser) -> list[str]:
    toks = shlex.split(fragment)
    res = []
    for i, tok in enumerate(toks):
        flag = toks[i - 1] if i and toks[i - 1].startswith("--") else None
        res.append(PLACEHOLDER.sub(lambda _m, f=flag: _value_for(sub, f), tok))
    return res


def _ext_args() -> dict[str, str]:
    """Non-empty ext.args per process name from conf/modules.config."""
    text = (ROOT / "conf" / "modules.config").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # drop block comments (examples)
    text = re.sub(r"//[^\n]*", "", text)
    out = {}
    for m in re.finditer(r"withName:\s*'([A-Z_]+)'\s*\{(.*?)\n    \}", text, re.S):
        a = re.search(r"ext\.args\s*=\s*'([^']*)'", m.group(2))
        if a and a.group(1).strip():
            out[m.group(1)] = a.group(1)
    return out


@pytest.fixture(scope="module")
def parser():
    cli = pytest.importorskip("cellspace.cli")
    return cli.build_parser()


def test_modules_exist():
    names = {p.parent.name for p in MODULES}
    assert {"prepare_dataset", "select_features", "train_cellspace", "export",
            "custom_dumpsoftwareversions", "motifs", "analyze", "denovo", "integrate",
            "trajectory", "bench_run_method", "bench_score", "bench_bootstrap",
            "bench_bootstrap_merge"} <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_module_conventions(module: Path):
    text = module.read_text()
    name = re.search(r"^process\s+(\w+)", text, re.M).group(1)
    assert name == module.parent.name.upper(), "process name must match the module folder"
    assert re.search(r"^\s+label\s+'process_", text, re.M), "needs a resource label"
    assert re.search(r"^\s+container\s+", text, re.M), "needs a container"
    assert "emit: versions" in text and "versions.yml" in text
    assert "\n    stub:" in text, "needs a stub block"
    if name != "CUSTOM_DUMPSOFTWAREVERSIONS":
        assert 'tag "$meta.id"' in text
        assert "tuple val(meta), path(" in text
        assert "task.ext.args" in text and "task.ext.prefix" in text


def _parser_of(cmd: str, cli_parser: argparse.ArgumentParser) -> tuple[argparse.ArgumentParser, list[str]]:
    """(parser, argv prefix) of a module's command: a step's bin/ entry or a cellspace subcommand."""
    from cellspace.steps.entry import step_module, step_parser

    m = STEP_CALL.match(cmd)
    if m:
        return step_parser(step_module(m.group(1))), []
    name = cmd.split()[1]
    return _subparser(cli_parser, name), [name]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_module_commands_parse(module: Path, parser):
    text = module.read_text()
    groovy, template = _script_section(text)
    cmds = _commands(template)
    name = module.parent.name.upper()
    if name == "CUSTOM_DUMPSOFTWAREVERSIONS":
        assert not cmds
        return
    assert cmds, f"{module}: no step or cellspace command found"
    extra = shlex.split(_ext_args().get(name, ""))
    for cmd in cmds:
        sub, prefix = _parser_of(cmd, parser)
        argv = _substitute(cmd, groovy, sub)[1 + len(prefix):] + extra
        try:
            sub.parse_args(argv)
        except SystemExit as e:  # argparse error
            pytest.fail(f"{module.parent.name}: `{cmd.split()[0]} {' '.join(prefix + argv)}` rejected "
                        f"(exit {e.code})")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_module_calls_its_step(module: Path):
    """A module whose step has moved to cellspace.steps calls that step's bin/ entry."""
    step = module.parent.name
    if not (ROOT / "src" / "cellspace" / "steps" / f"{step}.py").exists():
        pytest.skip(f"{step} is not a step module")
    _, template = _script_section(module.read_text())
    assert any(STEP_CALL.match(c) and c.startswith(f"{step}.py") for c in _commands(template))
    entry = ROOT / "bin" / f"{step}.py"
    assert entry.is_file() and entry.stat().st_mode & 0o111, f"{entry} missing or not executable"
