"""``zarr-stream bench``: throughput, append latency and peak memory, side by side with peers.

Every measurement runs in a fresh process (so peak RSS is its own), engines interleaved
run by run, and the report gives medians. Throughput is MiB/s of raw frames from the
first append to the end of ``close()``; RSS growth is peak RSS minus RSS just before the
writer opened (the source frames are already in memory then).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from zarr_stream._bench_writers import WRITERS, Workload
from zarr_stream._synthetic import camera_frames

MiB = 2**20

WORKLOADS = {
    "raw": Workload("raw", chunks=(64, 64, 64), shard_counts=(1, 16, 16), codec=None, data="random"),
    "zstd": Workload("zstd", chunks=(64, 256, 256), shard_counts=(1, 4, 4), codec="zstd"),
    "lz4": Workload("lz4", chunks=(8, 512, 512), shard_counts=(1, 2, 2), codec="lz4"),
}
PEERS = ("acquire-zarr", "tensorstore", "zarr-python")
SOURCE_FRAMES = 8  # distinct frames, cycled


def source_frames(workload: Workload) -> list[np.ndarray]:
    if workload.data == "random":
        rng = np.random.default_rng(0)
        return [rng.integers(0, 2**16, (workload.size,) * 2, dtype=np.uint16) for _ in range(SOURCE_FRAMES)]
    return camera_frames(SOURCE_FRAMES, workload.size, workload.size)


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_writer(engine: str, workload: Workload, out: Path, fps: float | None) -> dict[str, Any]:
    """Stream the workload through one writer in this process and measure it."""
    frames = source_frames(workload)
    baseline = _rss_mib()
    latencies = np.empty(workload.frames)
    period = 1.0 / fps if fps else 0.0
    start = time.perf_counter()
    writer = WRITERS[engine](workload, out)  # type: ignore[call-arg]
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "engine": engine,
        "workload": workload.name,
        "mib_per_s": workload.frames * workload.frame_bytes / MiB / seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "rss_growth_mib": peak - baseline,
        "seconds": seconds,
    }


def run_blosc_ceiling(workload: Workload) -> dict[str, Any]:
    """Blosc alone on every core: compress the workload's chunks, already cut and contiguous."""
    from numcodecs import Blosc

    frames = source_frames(workload)
    ct, cy, cx = workload.chunks
    slab = np.stack([frames[i % len(frames)] for i in range(ct)])
    chunks = [
        np.ascontiguousarray(slab[:, y : y + cy, x : x + cx])
        for y in range(0, workload.size, cy)
        for x in range(0, workload.size, cx)
    ]
    shuffle = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}
    codec = Blosc(cname=workload.codec or "lz4", clevel=workload.level, shuffle=shuffle[workload.shuffle])
    slabs = -(-workload.frames // ct)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        start = time.perf_counter()
        for _ in range(slabs):
            list(pool.map(codec.encode, chunks))
        seconds = time.perf_counter() - start
    return {"engine": "ceiling", "workload": workload.name, "mib_per_s": slabs * slab.nbytes / MiB / seconds}


def run_disk_ceiling(workload: Workload, out: Path) -> dict[str, Any]:
    """Write the same number of raw bytes to the same disk, one file per shard, fsync at the end."""
    shard_bytes = int(np.prod(workload.shard_shape)) * 2
    total = workload.frames * workload.frame_bytes
    buffer = np.random.default_rng(0).integers(0, 255, shard_bytes, dtype=np.uint8).tobytes()
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    start = time.perf_counter()
    written = 0
    while written < total:
        path = out / f"shard{len(paths)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        view = memoryview(buffer)[: min(shard_bytes, total - written)]
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)
        paths.append(path)
        written += min(shard_bytes, total - written)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    seconds = time.perf_counter() - start
    return {"engine": "ceiling", "workload": workload.name, "mib_per_s": total / MiB / seconds}


def _child(args: argparse.Namespace) -> None:
    workload = _workload(args)
    out = Path(args.out)
    try:
        if args.engine == "ceiling":
            result = run_blosc_ceiling(workload) if workload.codec else run_disk_ceiling(workload, out)
        else:
            result = run_writer(args.engine, workload, out, args.fps)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result))


def _workload(args: argparse.Namespace) -> Workload:
    base = WORKLOADS[args.workload]
    return Workload(
        base.name, base.chunks, base.shard_counts, base.codec, base.level, base.shuffle, base.data,
        frames=args.frames or base.frames, size=args.size or base.size,
    )  # fmt: skip


def _spawn(engine: str, args: argparse.Namespace, workload: str, scratch: Path) -> dict[str, Any] | None:
    command = [
        sys.executable, "-m", "zarr_stream._bench", "--child", "--engine", engine,
        "--workload", workload, "--out", str(scratch / f"{engine}.zarr"),
        "--frames", str(args.frames or 0), "--size", str(args.size or 0),
    ]  # fmt: skip
    if args.fps:
        command += ["--fps", str(args.fps)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {engine} on {workload} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def available_peers() -> list[str]:
    import importlib.util

    modules = {"acquire-zarr": "acquire_zarr", "tensorstore": "tensorstore", "zarr-python": "zarr"}
    return [p for p in PEERS if importlib.util.find_spec(modules[p]) is not None]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    workloads = list(WORKLOADS) if args.workload == "all" else [args.workload]
    engines = ["zarr-stream", "zarr-stream-nofsync", *(available_peers() if args.compare else []), "ceiling"]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="zarr-stream-bench-", dir=args.scratch) as tmp:
        for run in range(args.runs):
            for workload in workloads:
                for engine in engines:  # interleaved: one run of each engine, then the next round
                    result = _spawn(engine, args, workload, Path(tmp))
                    if result is not None:
                        runs.setdefault((workload, engine), []).append(result)
                        print(f"  run {run + 1}/{args.runs} {workload:>5} {engine:<12} "
                              f"{result['mib_per_s']:7.0f} MiB/s", file=sys.stderr, flush=True)  # fmt: skip
    medians = {
        f"{w}/{e}": {k: statistics.median(r[k] for r in rs) for k in rs[0] if isinstance(rs[0][k], float)}
        for (w, e), rs in runs.items()
    }
    report(medians, workloads, engines)
    return medians


def report(medians: dict[str, dict[str, float]], workloads: list[str], engines: list[str]) -> None:
    """Print the medians, with zarr-stream's ratio to each peer (fsync on, and off) and to the ceiling."""
    print(f"\n{'workload':<8} {'engine':<19} {'MiB/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'RSS+ MiB':>9}  ratio")
    for w in workloads:
        ours = medians.get(f"{w}/zarr-stream", {}).get("mib_per_s")
        fast = medians.get(f"{w}/zarr-stream-nofsync", {}).get("mib_per_s")
        for e in engines:
            m = medians.get(f"{w}/{e}")
            if m is None:
                continue
            ratio = ""
            if ours and e == "ceiling":
                ratio = f"zarr-stream {ours / m['mib_per_s']:.0%} of ceiling"
                if fast:
                    ratio += f" (nofsync {fast / m['mib_per_s']:.0%})"
            elif ours and e not in ("zarr-stream", "zarr-stream-nofsync"):
                ratio = f"{ours / m['mib_per_s']:.2f}x vs {e}"
                if fast:
                    ratio += f" (nofsync {fast / m['mib_per_s']:.2f}x)"
            latency = (
                f"{m['p50_ms']:7.2f} {m['p99_ms']:7.2f} {m['rss_growth_mib']:9.0f}"
                if "p50_ms" in m
                else " " * 25
            )
            print(f"{w:<8} {e:<19} {m['mib_per_s']:7.0f} {latency}  {ratio}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="all", choices=["all", *WORKLOADS])
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


if __name__ == "__main__":
    raise SystemExit(main())
