"""The command lines written in the Nextflow modules must be accepted by the real CLI parser.

Each ``cellspace <subcommand> ...`` call in a module's ``script:`` block is extracted, its
``${...}`` placeholders are replaced by test values (Groovy variables that hold optional flags,
such as ``inputs`` or ``batch``, are replaced by every flag fragment assigned to them), and
``cellspace.cli.build_parser().parse_args`` must succeed. Modules and the CLI cannot drift apart
without this test failing. Needs no Nextflow.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "modules" / "local").glob("*/main.nf"))
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


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
        if line.startswith("cellspace ") and "--version" not in line:
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


def _substitute(cmd: str, groovy: str, parser: argparse.ArgumentParser) -> list[str]:
    sub = _subparser(parser, cmd.split()[1])
    tokens = cmd.split()
    out: list[str] = []
    for i, tok in enumerate(tokens):
        m = PLACEHOLDER.fullmatch(tok)
        prev = tokens[i - 1] if i else ""
        if m and not prev.startswith("--"):
            # a standalone variable holding optional flags: use all fragments assigned to it
            var = m.group(1).strip()
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


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_module_commands_parse(module: Path, parser):
    text = module.read_text()
    groovy, template = _script_section(text)
    cmds = _commands(template)
    name = module.parent.name.upper()
    if name == "CUSTOM_DUMPSOFTWAREVERSIONS":
        assert not cmds
        return
    assert cmds, f"{module}: no cellspace command found"
    extra = shlex.split(_ext_args().get(name, ""))
    for cmd in cmds:
        argv = _substitute(cmd, groovy, parser)[1:] + extra
        try:
            ns = parser.parse_args(argv)
        except SystemExit as e:  # argparse error
            pytest.fail(f"{module.parent.name}: `cellspace {' '.join(argv)}` rejected (exit {e.code})")
        assert ns.command == argv[0]


def test_train_passes_every_training_param():
    """Every training hyper-parameter of the pipeline reaches `cellspace train`."""
    text = (ROOT / "modules" / "local" / "train_cellspace" / "main.nf").read_text()
    for p in ["dim", "ngrams", "k", "sample_len", "examples_per_event", "epochs", "margin",
              "bucket", "lr", "neg_search_limit", "max_neg_samples", "init_sd", "batch_size",
              "seed", "checkpoint_every"]:
        flag = "--" + p.replace("_", "-")
        assert f"{flag} ${{opts.{p}}}" in text, flag
    assert "--threads ${task.cpus}" in text
