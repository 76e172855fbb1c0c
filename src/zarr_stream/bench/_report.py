"""Medians of the runs, and the table and ratios the bench prints."""

from __future__ import annotations

import statistics
from typing import Any

__all__ = ["ratio_lines", "report", "summarize"]


def summarize(engine: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    """A writer's medians over its runs; for the ceiling, its best run.

    The ceiling bounds what the machine can do, so a slow moment of a shared machine during
    one of its runs must not lower it: its fastest run is the bound (a writer's median
    could otherwise come out above 100% of it).
    """
    if engine == "ceiling":
        best = max(runs, key=lambda run: run["mib_per_s"])
        return {k: v for k, v in best.items() if isinstance(v, float)}
    return {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], float)}


def report(medians: dict[str, dict[str, float]], workloads: list[str], engines: list[str]) -> None:
    """Print the medians, then zarr-stream's ratios to each peer and its share of the ceiling."""
    header = ("MiB/s", "durable", "p50 ms", "p99 ms")
    print(f"\n{'workload':<8} {'engine':<19} {' '.join(f'{h:>7}' for h in header)} {'RSS+ MiB':>9}")
    for w in workloads:
        for e in engines:
            m = medians.get(f"{w}/{e}")
            if m is None:
                continue
            if e == "ceiling":
                print(f"{w:<8} {e:<19} {m['mib_per_s']:7.0f}  ({ceiling_parts(m)})")
                continue
            print(f"{w:<8} {e:<19} {m['mib_per_s']:7.0f} {m['durable_mib_per_s']:7.0f} {m['p50_ms']:7.2f} "
                  f"{m['p99_ms']:7.2f} {m['rss_growth_mib']:9.0f}")  # fmt: skip
    print()
    for w in workloads:
        for line in ratio_lines(medians, w, engines):
            print(f"{w:<8} {line}")
        ours = medians.get(f"{w}/zarr-stream", {})
        if "max_memory_mib" in ours:
            print(f"{w:<8} zarr-stream's RSS growth {ours['rss_growth_mib']:.0f} MiB, within its "
                  f"max_memory_bytes() of {ours['max_memory_mib']:.0f} MiB")  # fmt: skip
        shares = [f"{e} {medians[f'{w}/{e}']['server_cpu_share']:.0%}" for e in engines
                  if "server_cpu_share" in medians.get(f"{w}/{e}", {})]  # fmt: skip
        if shares:
            print(f"{w:<8} the S3 server's CPU while each wrote (of one core): {', '.join(shares)}")


def ceiling_parts(ceiling: dict[str, float]) -> str:
    """What the ceiling is made of: Blosc alone, the disk (in MiB/s of raw frames), the ratio;
    and, beside it, Blosc with its output written durably during the run."""
    parts = [f"{n} {ceiling[f'{n}_mib_per_s']:.0f}" for n in ("blosc", "disk") if f"{n}_mib_per_s" in ceiling]
    if "ratio" in ceiling:
        parts.append(f"compression ratio {ceiling['ratio']:.2f}")
    if "blosc_durable_mib_per_s" in ceiling:
        parts.append(f"Blosc while its output is written durably {ceiling['blosc_durable_mib_per_s']:.0f}")
    return ", ".join(parts)


def ratio_lines(medians: dict[str, dict[str, float]], workload: str, engines: list[str]) -> list[str]:
    """zarr-stream (fsync on, the default) against each peer, close to close and until durable."""
    ours = medians.get(f"{workload}/zarr-stream")
    if ours is None:
        return []
    fast = medians.get(f"{workload}/zarr-stream-nofsync")
    lines = []
    for e in engines:
        m = medians.get(f"{workload}/{e}")
        if m is None or e.startswith("zarr-stream"):
            continue
        if e == "ceiling":
            line = f"zarr-stream is {ours['mib_per_s'] / m['mib_per_s']:.0%} of the ceiling"
            if fast:
                line += f" ({fast['mib_per_s'] / m['mib_per_s']:.0%} with fsync off)"
            if "blosc_durable_mib_per_s" in m:
                line += f"; {ours['mib_per_s'] / m['blosc_durable_mib_per_s']:.0%} of Blosc written durably"
        else:
            line = (f"zarr-stream / {e}: {ours['mib_per_s'] / m['mib_per_s']:.2f}x, "
                    f"until durable {ours['durable_mib_per_s'] / m['durable_mib_per_s']:.2f}x")  # fmt: skip
            if fast:
                line += f"; fsync off {fast['mib_per_s'] / m['mib_per_s']:.2f}x"
        lines.append(line)
    memory, local = (
        medians.get(f"{workload}/zarr-stream-memory"),
        medians.get(f"{workload}/zarr-stream-local"),
    )
    if memory and local:
        adapter = memory["mib_per_s"] / local["mib_per_s"]
        lines.append(f"zarr-stream through an obstore MemoryStore / to local disk: {adapter:.2f}x")
    return lines
