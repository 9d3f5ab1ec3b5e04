"""Atomic outputs: one file, or a step's whole output folder, appears complete or not at all.

- :func:`atomic_path` writes one file under a temporary name beside the target, then renames it.
- :func:`atomic_dir` writes a step's outputs into a temporary folder beside ``--out``, then swaps
  it in: a re-run into an existing ``--out`` either completes or leaves the previous outputs
  untouched. An existing folder is replaced only if everything in it matches the step's output
  names, so a mistyped ``--out`` never deletes a user's folder.
- Temporary names carry the writer's process id; :func:`remove_stale` deletes those of
  processes that no longer run (a killed run), and every writer calls it first.
- OS errors (exists, not writable, no space, file-size limit) become one-line
  :class:`~cellspace.errors.OutputError`; :func:`check_room` refuses up front an output that
  would not fit in the free space or under ``ulimit -f``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import resource
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cellspace.errors import OutputError, output_error

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[^.]+\.(?:tmp|old)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale(target: str | Path) -> list[Path]:
    """Delete temporary files and folders that killed writers of ``target`` left beside it.

    If a run was killed while swapping an output folder (after moving the previous outputs
    aside, before moving the new ones in), the previous outputs are put back instead.
    Returns the paths removed or restored.
    """
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    done: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in sorted(parent.iterdir()):
            m = _TEMP.match(entry.name)
            if not m or m.group("name") != target.name or _alive(int(m.group("pid"))):
                continue
            if entry.name.endswith(".old") and not target.exists():
                os.replace(entry, target)  # an interrupted swap: restore the previous outputs
            else:
                _remove(entry)
            done.append(entry)
    return done


def check_room(folder: str | Path, n_bytes: int, what: str | Path | None = None) -> None:
    """Refuse (OutputError) an output of about ``n_bytes`` that cannot fit in ``folder``.

    Checks the free space of the file system and the per-file size limit (``ulimit -f``),
    so that writers (h5py in particular) never meet a full disk halfway through a file.
    """
    folder = Path(folder)
    name = what if what is not None else folder
    while not folder.exists() and folder != folder.parent:  # the nearest existing folder
        folder = folder.parent
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and n_bytes > soft:
        raise OutputError(f"needs about {_mb(n_bytes)} per file but the file-size limit (ulimit -f) "
                          f"is {_mb(soft)}", name)
    try:
        st = os.statvfs(folder)
    except OSError as e:
        raise output_error(e, folder) from None
    free = st.f_bavail * st.f_frsize
    if n_bytes > free:
        raise OutputError(f"needs about {_mb(n_bytes)} but only {_mb(free)} is free on its file system",
                          name)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None, n_bytes: int = 0) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary name keeps the target's suffix (``suffix`` overrides it) so that writers
    which infer the format from the extension (h5py, numpy, anndata) behave as for the target.
    ``n_bytes``, the expected size, is checked against the free space and ``ulimit -f`` first.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError("is a folder; give a file name", target)
    remove_stale(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if n_bytes:
            check_room(target.parent, n_bytes, target)
        sfx = target.suffix if suffix is None else suffix
        fd, tmp = tempfile.mkstemp(prefix=_prefix(target), suffix=f".tmp{sfx}", dir=target.parent)
        os.close(fd)
    except OSError as e:
        raise output_error(e, target) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(e, OSError):
            raise output_error(e, target) from None
        raise


def check_output_folder(target: str | Path, outputs: Iterable[str] = ("*",)) -> Path:
    """Refuse an ``--out`` that is a file, or a folder holding anything but the step's outputs.

    ``outputs`` are glob patterns of the names a step writes (or carries over); a folder with
    other entries is not the step's and is never replaced."""
    target = Path(target)
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise OutputError("exists and is not a folder", target)
        patterns = tuple(outputs)
        try:
            foreign = sorted(e.name for e in target.iterdir()
                             if not any(fnmatch.fnmatchcase(e.name, pat) for pat in patterns)
                             and not _TEMP.match(e.name))
        except OSError as e:
            raise output_error(e, target) from None
        if foreign:
            raise OutputError(f"exists and holds {foreign[0]!r}, which this step does not write; "
                              "give a new or empty folder", target)
    return target


@contextlib.contextmanager
def atomic_dir(target: str | Path, n_bytes: int = 0, keep: Iterable[str] = (),
               outputs: Iterable[str] = ("*",)) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; it replaces ``target`` as a unit on success.

    ``outputs`` are glob patterns of what the step writes: an existing ``target`` holding
    anything else is refused, not replaced. ``keep`` names files of a previous ``target``
    carried into the new one when the step did not write them itself (a training
    checkpoint). ``n_bytes`` is the expected total size.
    """
    keep = tuple(keep)
    remove_stale(target)
    target = check_output_folder(target, (*outputs, *keep))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if n_bytes:
            check_room(target.parent, n_bytes, target)
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent))
    except OSError as e:
        raise output_error(e, target) from None
    try:
        yield tmp
        for name in keep:
            if (target / name).is_file() and not (tmp / name).exists():
                os.replace(target / name, tmp / name)
        os.chmod(tmp, 0o777 & ~_umask())
        _swap(tmp, target)
    except BaseException as e:
        for name in keep:  # give carried files back if the swap did not happen
            if (tmp / name).is_file() and target.is_dir() and not (target / name).exists():
                with contextlib.suppress(OSError):
                    os.replace(tmp / name, target / name)
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise output_error(e, target) from None
        raise


def _swap(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    old = target.parent / f"{_prefix(target)}{secrets.token_hex(4)}.old"
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
