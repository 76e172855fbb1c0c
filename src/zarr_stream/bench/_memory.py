"""Resident memory of this process, as the bench and the memory test read it."""

from __future__ import annotations

import resource

__all__ = ["peak_rss_mib", "rss_mib"]


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mib() -> float:
    """This process's resident memory now, in MiB (0 where /proc is missing)."""
    return _status_mib("VmRSS") or 0.0


def peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB.

    VmHWM, not ``getrusage``'s ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``execve``
    from the process that forked, so a child of a big process (pytest after a few hundred
    tests: 370 MiB) reports at least its parent's size.
    """
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
