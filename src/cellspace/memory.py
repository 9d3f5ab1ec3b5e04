"""Resident memory of this process, for the per-phase lines of the debug log and the benchmarks.

Linux only (``/proc/self/status``); elsewhere the figures are NaN. The peak is the kernel's
high-water mark (``VmHWM``), the figure ``/usr/bin/time -v`` reports at exit, and is never
reset here, so "peak so far" after each phase shows which phase raised it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging


def _status_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_mb() -> float:
    """Resident set size now, in MiB."""
    return _status_mb("VmRSS:")


def peak_rss_mb() -> float:
    """Highest resident set size of the process so far, in MiB."""
    return _status_mb("VmHWM:")


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Reading inputs leaves tens of MB of freed but still resident heap behind (parser buffers,
    temporaries); trimming before a large allocation keeps them out of the peak.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)


# the debug record's message; its args are (phase, RSS now, peak so far), for collectors
MESSAGE = "memory after %s: RSS %.0f MB, peak so far %.0f MB"


def log_memory(log: logging.Logger, phase: str) -> None:
    """At debug level: RSS now and the peak so far, after ``phase``."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug(MESSAGE, phase, rss_mb(), peak_rss_mb())
