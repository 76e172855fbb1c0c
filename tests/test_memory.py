"""Peak memory stays bounded while streaming 2 GiB.

Raw slabs: at most (slabs in flight + 1) slabs plus 64 MiB. Tiles: the frame buffers plus
(slabs in flight + 1) *compressed* slabs plus 64 MiB. Every stream: within its own
``max_memory_bytes()``; a pyramid, plain zstd and per-frame metadata, within that alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

import memory_child
import zarr_stream as zs

HERE = Path(__file__).parent


@pytest.mark.slow
@pytest.mark.parametrize(
    ("codec", "in_flight"),
    [("zstd", 1), ("zstd", 2), ("raw", 1), ("raw", 2), ("pyramid", 1), ("plain-zstd", 1), ("metadata", 1)],
)
def test_rss_growth_is_bounded_while_streaming_2_gib(tmp_path, codec, in_flight):
    out = subprocess.run(
        [sys.executable, str(HERE / "memory_child.py"), str(tmp_path / "s.zarr"), str(in_flight), codec],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    report = json.loads(out)
    print(report)
    assert report["growth_mib"] <= report["bound_mib"], report
    assert report["growth_mib"] <= report["max_memory_mib"], report  # the bound the stream states
    path = "raw/0" if codec == "pyramid" else "raw"
    array = zarr.open_array(str(tmp_path / "s.zarr"), path=path, mode="r")
    assert array.shape == (memory_child.FRAMES, memory_child.SIZE, memory_child.SIZE)
    rng = np.random.default_rng(0)
    sources = [rng.poisson(100, (memory_child.SIZE,) * 2).astype(np.uint16) for _ in range(4)]
    for i in (0, 1, 130, memory_child.FRAMES - 1):
        np.testing.assert_array_equal(array[i], sources[i % 4])
    if codec == "metadata":
        records = zs.read_frame_metadata(tmp_path / "s.zarr", "raw")
        assert records == [
            {"t": i * 0.01, "stage": [1.5, -2.0, float(i)]} for i in range(memory_child.FRAMES)
        ]
