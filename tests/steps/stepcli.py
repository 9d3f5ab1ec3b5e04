"""Helpers of the step tests: run ``bin/<process>.py`` in a subprocess, inspect its outputs."""

from __future__ import annotations

import hashlib
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAST_TRAIN = ["--epochs", "2", "--dim", "8", "--bucket", "5000", "--examples-per-event", "3",
              "--threads", "1"]
DEAD_PID = 99_999_999  # above any pid_max: a writer that no longer runs


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """The one error line a failed step prints (asserts there is exactly one, no traceback)."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = [ln for ln in self.stderr.splitlines() if ": error: " in ln or "interrupted" in ln]
        assert len(lines) == 1, self.stderr
        return lines[0]


def run_step(step: str, *args, fsize: int | None = None, timeout: float = 300) -> Result:
    """Run ``bin/<step>.py ARGS``; ``fsize`` sets ``ulimit -f`` (bytes) for the child."""

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    proc = subprocess.run([sys.executable, str(ROOT / "bin" / f"{step}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def snapshot(folder: Path) -> dict[str, str]:
    """name -> sha256 of every entry of a folder (hidden ones included)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
            for p in sorted(folder.iterdir())}


def siblings(path: Path) -> list[str]:
    """Names beside ``path`` that start with its hidden temp prefix."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))
