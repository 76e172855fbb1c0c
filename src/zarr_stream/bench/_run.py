"""``zarr-stream bench``: throughput, append latency and peak memory, side by side with peers.

Every measurement runs in a fresh process (so peak RSS is its own), engines interleaved
run by run, and the report gives medians. Throughput is MiB/s of raw frames from the
first append to the end of ``close()``; "durable" is the same up to the moment every
file the writer wrote is fsynced (the bench fsyncs them after ``close()``: free for a
writer that fsyncs itself, as zarr-stream, acquire-zarr and tensorstore do). RSS growth
is peak RSS minus RSS just before the writer opened (the source frames are already in
memory then).

The ceiling is what this machine could do with no writer overhead at all: for raw data,
the same bytes written to the same disk, each shard file fsynced in the background as
soon as it is written (a few fsyncs in flight); for compressed data, the slower of Blosc
alone on every core and the disk writing the compressed bytes, as if the two overlapped
perfectly. It is measured as often as the writers, and its best run is reported.

Beside the ceiling, for compressed data, the bench measures Blosc on every core while the
simplest durable writer (chunks already cut, no copy, one sequential file per shard) writes
its output: on a machine where getting bytes to disk costs CPU, as on a VM whose host does
the guest's disk writes, this is below the ceiling, and shows by how much.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zarr_stream.bench._ceiling import MiB, fsync_tree, run_ceiling
from zarr_stream.bench._memory import peak_rss_mib, rss_mib
from zarr_stream.bench._report import report, summarize
from zarr_stream.bench._s3 import S3_ENGINES, S3_WRITERS, clear_prefix, process_cpu_seconds, s3_server
from zarr_stream.bench._workloads import (
    ALL_WORKLOADS,
    PYRAMID_ENGINES,
    S3_WORKLOADS,
    WORKLOADS,
    Workload,
    source_frames,
)
from zarr_stream.bench._writers import WRITERS

__all__ = ["PEERS", "add_arguments", "available_peers", "bench", "main", "run_bench", "run_writer"]

PEERS = ("acquire-zarr", "tensorstore", "zarr-python", "zarrs")
PEER_MODULES = {
    "acquire-zarr": "acquire_zarr",
    "tensorstore": "tensorstore",
    "zarr-python": "zarr",
    "zarrs": "zarrs",
}


def run_writer(engine: str, workload: Workload, out: Path | str, fps: float | None) -> dict[str, Any]:
    """Stream the workload through one writer in this process and measure it (``out``: a
    path, or an ``s3://`` URL for the S3 workloads, whose writers are durable at close)."""
    frames = source_frames(workload)
    baseline = rss_mib()
    latencies = np.empty(workload.frames)
    period = 1.0 / fps if fps else 0.0
    start = time.perf_counter()
    writers = S3_WRITERS if workload.name in S3_WORKLOADS else WRITERS
    writer = writers[engine](workload, out)
    for i in range(workload.frames):
        if period:
            delay = start + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        t0 = time.perf_counter()
        writer.append(frames[i % len(frames)])
        latencies[i] = time.perf_counter() - t0
    writer.close()
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    if isinstance(out, Path):
        fsync_tree(out)
    durable = time.perf_counter() - start
    total = workload.frames * workload.frame_bytes / MiB
    bound = getattr(writer, "max_memory_bytes", None)
    return {
        **({"max_memory_mib": bound / MiB} if bound is not None else {}),
        "engine": engine,
        "workload": workload.name,
        "mib_per_s": total / seconds,
        "durable_mib_per_s": total / durable,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "rss_growth_mib": peak - baseline,
        "seconds": seconds,
    }


def _child(args: argparse.Namespace) -> None:
    workload = _workload(args)
    if args.out.startswith("s3://"):
        try:
            result = run_writer(args.engine, workload, args.out, args.fps)
        finally:
            clear_prefix(args.out)
        print(json.dumps(result))
        return
    out = Path(args.out)
    try:
        if args.engine == "ceiling":
            result = run_ceiling(workload, out)
        else:
            result = run_writer(args.engine, workload, out, args.fps)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        # Commit the deletion now: on a filesystem mounted with `discard`, it would otherwise
        # trim gigabytes of blocks during the next run's first fsync.
        os.sync()
    print(json.dumps(result))


def _workload(args: argparse.Namespace) -> Workload:
    base = ALL_WORKLOADS[args.workload]
    return Workload(
        base.name, base.chunks, base.shard_counts, base.codec, base.level, base.shuffle, base.data,
        frames=args.frames or base.frames, size=args.size or base.size, multiscale=base.multiscale,
    )  # fmt: skip


def _spawn(
    engine: str, args: argparse.Namespace, workload: str, scratch: Path | str
) -> dict[str, Any] | None:
    out = f"{scratch}/{engine}.zarr" if isinstance(scratch, str) else str(scratch / f"{engine}.zarr")
    command = [
        sys.executable, "-m", "zarr_stream.bench", "--child", "--engine", engine,
        "--workload", workload, "--out", out,
        "--frames", str(args.frames or 0), "--size", str(args.size or 0),
    ]  # fmt: skip
    if args.fps:
        command += ["--fps", str(args.fps)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}, no message"]
        print(f"  {engine} on {workload} failed: {last[0]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def available_peers() -> list[str]:
    import importlib.util

    return [p for p in PEERS if importlib.util.find_spec(PEER_MODULES[p]) is not None]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    if args.s3 or args.workload in S3_WORKLOADS:
        return _bench_s3(args)
    workloads = list(WORKLOADS) if args.workload == "all" else [args.workload]
    peers = available_peers() if args.compare else []
    if args.compare and len(peers) < len(PEERS):
        missing = [PEER_MODULES[p] for p in PEERS if p not in peers]
        print(f"not installed, so not compared: {', '.join(p for p in PEERS if p not in peers)} "
              f"(pip install {' '.join(missing)}, or pip install 'zarr-stream[bench]')",
              file=sys.stderr, flush=True)  # fmt: skip
    engines = ["zarr-stream", "zarr-stream-nofsync", *peers, "ceiling"]
    with tempfile.TemporaryDirectory(prefix="zarr-stream-bench-", dir=args.scratch) as tmp:
        return _rounds(args, workloads, engines, lambda run, workload: Path(tmp))


def _bench_s3(args: argparse.Namespace) -> dict[str, Any]:
    """The S3 workloads against an S3 server: ours, acquire-zarr and zarr-python, interleaved;
    each run's server CPU beside it; ours through a MemoryStore and to local disk too."""
    workloads = list(S3_WORKLOADS) if args.workload in ("all", *WORKLOADS) else [args.workload]
    peers = set(available_peers())
    engines = [e for e in S3_ENGINES if e not in PEER_MODULES or e in peers]
    with s3_server(args.endpoint) as (url, server_pid):
        return _rounds(
            args, workloads, engines, lambda run, workload: f"{url}/run{run}-{workload}", server_pid
        )


def _rounds(
    args: argparse.Namespace,
    workloads: list[str],
    engines: list[str],
    scratch: Callable[[int, str], Path | str],
    server_pid: int = 0,
) -> dict[str, Any]:
    """Run every engine on every workload, interleaved (one run of each, then the next round),
    each in a child process writing under ``scratch(run, workload)``; report the medians.

    With a ``server_pid`` (a local S3 server), each run that talks to it gets the server's
    CPU seconds per second of the run, ``server_cpu_share``.
    """
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in range(args.runs):
        for workload in workloads:
            for engine in engines:
                if ALL_WORKLOADS[workload].multiscale and engine not in PYRAMID_ENGINES:
                    continue  # it writes no pyramid
                cpu = process_cpu_seconds(server_pid) if server_pid else 0.0
                result = _spawn(engine, args, workload, scratch(run, workload))
                if result is None:
                    continue
                if server_pid and not engine.endswith(("-memory", "-local")):
                    result["server_cpu_share"] = (process_cpu_seconds(server_pid) - cpu) / result["seconds"]
                runs.setdefault((workload, engine), []).append(result)
                print(f"  run {run + 1}/{args.runs} {workload:>11} {engine:<19} "
                      f"{result['mib_per_s']:7.0f} MiB/s", file=sys.stderr, flush=True)  # fmt: skip
    medians = {f"{w}/{e}": summarize(e, rs) for (w, e), rs in runs.items()}
    report(medians, workloads, engines)
    return medians


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="all", choices=["all", *ALL_WORKLOADS])
    parser.add_argument("--s3", action="store_true", help="stream the S3 workloads to a local moto server")
    parser.add_argument(
        "--endpoint", default=None, help="with --s3: an S3 endpoint (and bucket) to use instead"
    )
    parser.add_argument("--compare", action="store_true", help="also run the installed peers")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per engine (median reported)")
    parser.add_argument("--fps", type=float, default=None, help="pace appends at this many frames per second")
    parser.add_argument("--frames", type=int, default=None, help="frames per run (default 256)")
    parser.add_argument("--size", type=int, default=None, help="frame height and width (default 2048)")
    parser.add_argument("--scratch", default=None, help="directory for the stores (default: system temp)")
    parser.add_argument("--json", default=None, help="also write the medians to this JSON file")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zarr-stream bench")
    add_arguments(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="zarr-stream", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    return run_bench(args)


def run_bench(args: argparse.Namespace) -> int:
    medians = bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(medians, indent=2))
    return 0
