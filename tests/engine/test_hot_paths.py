"""pytest-benchmark benchmarks of the engine's hot paths, each also checking what it makes.

CI runs them with ``--benchmark-disable``: exercised once, not timed. Time them with
``pytest tests/engine/test_hot_paths.py --benchmark-only``.
"""

from __future__ import annotations

import json

import numpy as np
from numcodecs import Blosc

import zarr_stream as zs
from zarr_stream.engine._buffer import FrameScatter
from zarr_stream.engine._encode import encode_index
from zarr_stream.engine._frame_records import encode_records
from zarr_stream.engine._layout import Layout
from zarr_stream.engine._stitch import BlockCompressor
from zarr_stream.testing import camera_frames

FRAME = camera_frames(1, 2048, 2048)[0]


def test_benchmark_frame_scatter_cuts_a_2048_frame_into_its_tiles(benchmark):
    layout = Layout(shape=(0, 2048, 2048), chunks=(4, 256, 256), shard_counts=(1, 4, 4))
    scatter = FrameScatter(layout)
    run = np.zeros((*layout.frame_grid, 1, *layout.tile_shape), np.uint16)  # a run of one frame
    benchmark(scatter.copy, run, FRAME[None])
    assert np.array_equal(run[2, 5, 0], FRAME[512:768, 1280:1536])


def test_benchmark_tile_compression_of_a_frame_of_tiles(benchmark):
    tiles = FRAME.reshape(8, 256, 8, 256).transpose(0, 2, 1, 3).reshape(64, 256 * 256)
    compressor = BlockCompressor(zs.Compression(codec="lz4", level=1), np.dtype("<u2"), 256 * 256 * 2)
    blocks = benchmark(compressor.compress, np.ascontiguousarray(tiles))
    chunk = b"".join(bytes(part) for part in compressor.assemble(blocks[:1]) or [])
    assert np.array_equal(np.frombuffer(Blosc().decode(chunk), "<u2"), tiles[0])


def test_benchmark_shard_index_encoding(benchmark):
    index = np.arange(2 * 256, dtype="<u8").reshape(256, 2)
    encoded = benchmark(encode_index, index)
    assert len(encoded) == 256 * 16 + 4
    assert np.array_equal(np.frombuffer(encoded[:-4], "<u8").reshape(256, 2), index)


def test_benchmark_per_frame_metadata_of_a_block_of_1000_frames(benchmark):
    records = [
        {"t": i * 0.01, "stage": {"x": float(i), "y": -1.5, "z": np.float64(3.25)}, "exposure_ms": 10}
        for i in range(1000)
    ]
    encoded = benchmark(encode_records, records, 1000, "raw")
    assert json.loads(encoded[7]) == {"t": 0.07, "stage": {"x": 7.0, "y": -1.5, "z": 3.25}, "exposure_ms": 10}
