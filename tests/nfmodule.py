"""Parse the input: and output: blocks of a Nextflow module (channels and their elements)."""

from __future__ import annotations

import re
from pathlib import Path

ELEMENT = re.compile(r"""(val|path|env|stdout)\s*(?:\(\s*("[^"]*"|'[^']*'|[^,)]+)[^)]*\)|\s+("[^"]*"|'[^']*'|\w+))""")


def _block(text: str, start: str, stops: tuple[str, ...]) -> list[str]:
    lines = text.splitlines()
    out, inside = [], False
    for line in lines:
        s = line.strip()
        if s == start:
            inside = True
            continue
        if inside and s in stops:
            break
        if inside and s and not s.startswith("//"):
            out.append(s)
    return out


def _elements(line: str) -> list[tuple[str, str]]:
    """(kind, name) of the elements of one channel declaration."""
    body = line.split(", emit:")[0]
    body = re.sub(r"^tuple\s+", "", body)
    out = []
    for m in ELEMENT.finditer(body):
        kind = m.group(1)
        name = (m.group(2) or m.group(3)).strip().strip("\"'")
        out.append((kind, name))
    return out


def inputs(module: Path) -> list[list[tuple[str, str]]]:
    text = module.read_text()
    return [_elements(line) for line in _block(text, "input:", ("output:",))]


def outputs(module: Path) -> dict[str, list[tuple[str, str]]]:
    text = module.read_text()
    out = {}
    for line in _block(text, "output:", ("when:", "script:")):
        m = re.search(r"emit:\s*(\w+)", line)
        out[m.group(1)] = _elements(line)
    return out
