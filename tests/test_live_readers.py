"""Readers polling a store while it is written see a valid, growing array and the right values.

zarr-python reads a shard's index, then its chunks, in separate reads; tensorstore reads
with conditions on the file's generation. Separate reader processes of each open and read the
store in a loop while this process streams into it and flushes every few frames, in the
middle of shards and of chunks: no open or read may fail, no value may be wrong, and the
array may never get shorter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import live_frames
import zarr_stream as zs
from helpers import dims_from

HERE = Path(__file__).parent
READERS = ("zarr", "tensorstore")
LAYOUTS = {  # (shape, chunks, shard counts): flushes land inside chunks and shard rows
    "3d": ((0, *live_frames.FRAME), (4, 32, 24), (2, 2, 2)),
    "4d": ((0, 3, *live_frames.FRAME), (2, 2, 32, 24), (2, 2, 1, 2)),
}


MIN_OPENS = 50


def opens_so_far(stop: Path) -> int:
    """The fewest opens any reader has reported (in tens) so far."""
    counts = []
    for reader in READERS:
        try:
            counts.append(int(Path(f"{stop}.{reader}").read_text()))
        except FileNotFoundError:
            counts.append(0)
    return min(counts)


def start_readers(store: Path, stop: Path) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return [
        subprocess.Popen(
            [sys.executable, str(HERE / "live_reader_child.py"), str(store), "raw", reader, str(stop)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for reader in READERS
    ]


@pytest.mark.parametrize("compression", [None, zs.Compression(codec="lz4")], ids=["raw", "lz4"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_readers_polling_a_live_store_see_no_error_and_no_wrong_value(tmp_path, layout, compression, engine):
    if compression is None and engine != "slabs":
        pytest.skip("uncompressed arrays are written from raw slabs whatever the engine")
    shape, chunks, shards = LAYOUTS[layout]
    store, stop = tmp_path / "s.zarr", tmp_path / "stop"
    array = zs.ArraySettings(key="raw", dimensions=dims_from(shape, chunks, shards), compression=compression)
    rng = np.random.default_rng(len(layout) + (compression is None))
    readers = start_readers(store, stop)
    written = 0
    try:
        with zs.ZarrStream(zs.StreamSettings(store=store, arrays=[array])) as stream:
            # 4 s at least, and on a slow machine until each reader has opened it MIN_OPENS times
            start = time.monotonic()
            while time.monotonic() < start + 4.0 or (
                time.monotonic() < start + 120.0 and opens_so_far(stop) < MIN_OPENS
            ):
                block = int(rng.integers(1, 4))
                stream.append(np.stack([live_frames.frame(written + k) for k in range(block)]))
                written += block
                if rng.random() < 0.5:
                    stream.flush()
                time.sleep(0.01)
        time.sleep(0.3)  # the readers see the closed store too
    finally:
        stop.touch()
        results = [json.loads(reader.communicate(timeout=60)[0]) for reader in readers]
    for reader, counts in zip(READERS, results, strict=True):
        print(reader, counts)
        assert counts["errors"] == 0, counts["first_error"]
        assert counts["wrong"] == 0 and counts["shrunk"] == 0, counts
        assert counts["opens"] >= MIN_OPENS, counts  # they really polled while the stream wrote
    got = zarr.open_array(str(store), path="raw", mode="r")[...]
    per_step = int(np.prod(shape[1:-2]))
    assert got.shape[0] == -(-written // per_step)
    assert live_frames.matches(got, 0, got.shape[0], got.shape)
    np.testing.assert_array_equal(
        got.reshape(-1, *live_frames.FRAME)[:written], [live_frames.frame(i) for i in range(written)]
    )
