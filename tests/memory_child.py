"""Child process for the memory test: streams 2 GiB of 2048x2048 uint16 frames and reports RSS.

``python memory_child.py STORE IN_FLIGHT [zstd|raw|pyramid]``: zstd takes the tile encoding, raw
the slabs, pyramid is zstd with a mean pyramid (levels 2048 to 256).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import zarr_stream as zs
from zarr_stream.bench._memory import peak_rss_mib, rss_mib
from zarr_stream.engine._layout import Layout
from zarr_stream.engine._tiles import frames_per_block, run_buffers

FRAMES, SIZE, CHUNK_T = 256, 2048, 16
THREADS = 2
FRAME_MIB = SIZE * SIZE * 2 / 2**20


def stored_mib(store: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(store) for f in files) / 2**20


def main(store: str, in_flight: int, codec: str) -> None:
    rng = np.random.default_rng(0)
    sources = [rng.poisson(100, (SIZE, SIZE)).astype(np.uint16) for _ in range(4)]
    dims = [
        zs.Dimension("t", kind="time", size=0, chunk=CHUNK_T, shard=1),
        zs.Dimension("y", size=SIZE, chunk=256, shard=4),
        zs.Dimension("x", size=SIZE, chunk=256, shard=4),
    ]
    settings = zs.StreamSettings(
        store=store,
        arrays=[
            zs.ArraySettings(
                key="raw",
                dimensions=dims,
                compression=None
                if codec == "raw"
                else zs.Compression(compressor="zstd", level=1)
                if codec == "plain-zstd"
                else zs.Compression(codec="zstd", level=1),
                multiscale=zs.Multiscale(method="mean") if codec == "pyramid" else None,
            )
        ],
    )
    with zs.config.set({"slabs_in_flight": in_flight, "encode_threads": THREADS}):
        max_memory_mib = settings.max_memory_bytes() / 2**20
        baseline = rss_mib()
        start = time.perf_counter()
        with zs.ZarrStream(settings) as stream:
            for i in range(FRAMES):
                record = {"t": i * 0.01, "stage": [1.5, -2.0, float(i)]} if codec == "metadata" else None
                stream.append(sources[i % 4], metadata=record)
        seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    slab_mib = CHUNK_T * FRAME_MIB
    if codec in ("pyramid", "plain-zstd", "metadata"):  # the stream's own bound, alone
        bound = max_memory_mib
    elif codec == "zstd":  # tiles: the run buffers, and every slab in flight held compressed
        compressed_slab_mib = stored_mib(store) / (FRAMES / CHUNK_T)
        layout = Layout((0, SIZE, SIZE), (CHUNK_T, 256, 256), (1, 4, 4))
        per_run = frames_per_block(layout, np.dtype("uint16"), zs.config.get("max_block_bytes"))
        run_frames = run_buffers(THREADS, per_run) * per_run
        # x2: malloc's per-thread arenas keep freed block buffers around (seen: up to 290 MiB
        # growth with 2 slabs in flight of 43 MiB each, against 140-205 in quieter runs)
        bound = run_frames * FRAME_MIB + 2 * (in_flight + 1) * compressed_slab_mib + 64
    else:  # raw slabs
        bound = (in_flight + 1) * slab_mib + 64
    print(
        json.dumps(
            {
                "baseline_mib": baseline,
                "peak_mib": peak,
                "growth_mib": peak - baseline,
                "slab_mib": slab_mib,
                "in_flight": in_flight,
                "codec": codec,
                "bound_mib": bound,
                "max_memory_mib": max_memory_mib,
                "mib_per_s": FRAMES * SIZE * SIZE * 2 / 2**20 / seconds,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "zstd")
