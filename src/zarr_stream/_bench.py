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
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from zarr_stream._bench_writers import WRITERS, Workload
from zarr_stream._synthetic import camera_frames
from zarr_stream.storage import FSYNC_THREADS, _fsync_path, fsync_and_drop

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


def run_writer(engine: str, workload: Workload, out: Path, fps: float | None) -> dict[str, Any]:
    """Stream the workload through one writer in this process and measure it."""
    frames = source_frames(workload)
    baseline = rss_mib()
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
    peak = peak_rss_mib()
    fsync_tree(out)
    durable = time.perf_counter() - start
    total = workload.frames * workload.frame_bytes / MiB
    return {
        "engine": engine,
        "workload": workload.name,
        "mib_per_s": total / seconds,
        "durable_mib_per_s": total / durable,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "rss_growth_mib": peak - baseline,
        "seconds": seconds,
    }


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root``."""
    for directory, _, files in os.walk(root):
        for path in [*(Path(directory) / name for name in files), Path(directory)]:
            _fsync_path(path)


def _cut_chunks(workload: Workload) -> tuple[list[np.ndarray], Any, int]:
    """One slab of the workload cut into its chunks, contiguous; the Blosc codec; slabs a stream."""
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
    return chunks, codec, -(-workload.frames // ct)


def blosc_chunks(workload: Workload) -> tuple[int, list[bytes], float]:
    """Blosc alone on every core: compress the workload's chunks, already cut and contiguous.

    Returns the raw bytes compressed, one slab's compressed chunks, and the seconds taken.
    """
    chunks, codec, slabs = _cut_chunks(workload)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        start = time.perf_counter()
        for _ in range(slabs):
            compressed = list(pool.map(codec.encode, chunks))
        seconds = time.perf_counter() - start
    return slabs * sum(c.nbytes for c in chunks), compressed, seconds


def blosc_durable_seconds(workload: Workload, out: Path) -> float:
    """Seconds for Blosc on every core while its chunks are written to shard files, durably.

    The simplest durable writer, with no copy: each slab's chunks, already cut, are
    compressed on every core and written in shard order as they come, one file per shard,
    each fsynced in the background once written (:func:`durable_files_seconds`). Not part of the
    ceiling: it shows what getting the bytes to disk during the run costs on this machine.
    """
    chunks, codec, slabs = _cut_chunks(workload)
    grid = -(-workload.size // workload.chunks[2])  # chunks along x
    _, sy, sx = workload.shard_counts
    order = sorted(range(len(chunks)), key=lambda i: ((i // grid) // sy, (i % grid) // sx))
    per_shard = sy * sx

    with ThreadPoolExecutor(os.cpu_count()) as pool:

        def shards() -> Iterator[Iterator[bytes]]:
            for _ in range(slabs):
                encoded = [pool.submit(codec.encode, chunks[i]) for i in order]
                for first in range(0, len(order), per_shard):
                    yield (chunk.result() for chunk in encoded[first : first + per_shard])

        return durable_files_seconds(shards(), out)


def disk_seconds(total: int, shard_bytes: int, out: Path) -> float:
    """Seconds to write ``total`` bytes to files of ``shard_bytes`` under ``out``, durably."""
    buffer = memoryview(np.random.default_rng(0).integers(0, 255, shard_bytes, dtype=np.uint8).tobytes())
    files = ([buffer[: min(shard_bytes, total - start)]] for start in range(0, total, shard_bytes))
    return durable_files_seconds(files, out)


def durable_files_seconds(files: Iterable[Iterable[bytes | memoryview]], out: Path) -> float:
    """Seconds to write each of ``files`` (its parts in order) to a file under ``out``, durably.

    Each file is fsynced in the background as soon as it is written, a few at once, so the
    disk works while the next file is written: the fastest way we found to get bytes onto
    it durably (4 fsyncs in flight beat 1 and 2, and match 8), then out of the page cache.
    The time includes making the parts, when ``files`` makes them as it goes.
    """
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(FSYNC_THREADS) as syncer:
        syncs: list[Future[None]] = []
        start = time.perf_counter()
        for parts in files:
            fd = os.open(out / f"shard{len(syncs)}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view) :]
            syncs.append(syncer.submit(_fsync_and_close, fd))
        for sync in syncs:
            sync.result()
        return time.perf_counter() - start


def _fsync_and_close(fd: int) -> None:
    try:
        fsync_and_drop(fd)  # as the engine does: the fastest way we know
    finally:
        os.close(fd)


def run_ceiling(workload: Workload, out: Path) -> dict[str, Any]:
    """The machine's ceiling for the workload (see the module docstring), with its parts."""
    shard_raw = int(np.prod(workload.shard_shape)) * 2
    total_raw = workload.frames * workload.frame_bytes
    result: dict[str, Any] = {"engine": "ceiling", "workload": workload.name}
    if workload.codec is None:
        disk = disk_seconds(total_raw, shard_raw, out)
        result["mib_per_s"] = result["disk_mib_per_s"] = total_raw / MiB / disk
        return result
    raw, chunks, blosc = blosc_chunks(workload)
    ratio = len(chunks) * np.prod(workload.chunks) * 2 / sum(len(c) for c in chunks)
    disk = disk_seconds(int(total_raw / ratio), int(shard_raw / ratio), out)
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # see _child
    result["blosc_durable_mib_per_s"] = raw / MiB / blosc_durable_seconds(workload, out)
    result["blosc_mib_per_s"] = raw / MiB / blosc
    result["disk_mib_per_s"] = total_raw / MiB / disk  # raw frames' MiB/s: compressed bytes x ratio
    result["mib_per_s"] = min(result["blosc_mib_per_s"], result["disk_mib_per_s"])
    result["ratio"] = float(ratio)
    return result


def _child(args: argparse.Namespace) -> None:
    workload = _workload(args)
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
    medians = {f"{w}/{e}": summarize(e, rs) for (w, e), rs in runs.items()}
    report(medians, workloads, engines)
    return medians


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
    return lines


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
