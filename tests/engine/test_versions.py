"""Each flush publishes a new version of a partial shard; no version rewrites a byte that a
reader of an earlier one can see. A reader that read one version's index and then reads
chunks from a later version of the file (zarr-python and tensorstore read a shard in several
requests) still gets exactly the values that version held. test_live_readers.py tries it
with real readers.

Compressed chunks and indexes are never rewritten at all. An uncompressed chunk of a partial
shard is filled in place, but only in its steps past the array's shape at that version,
which no reader of it looks at."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import zarr_stream as zs
from helpers import dims_from, random_frames
from zarr_stream.testing import assert_round_trip

INDEX_ENTRY = 16  # (offset, nbytes) as two uint64, then a crc32c
EMPTY = 2**64 - 1
SHAPE, CHUNKS, SHARDS = (0, 2, 32, 48), (2, 1, 16, 16), (4, 2, 2, 3)  # shards of 8 steps, 16 frames


def visible(shard: bytes, shard_t: int, steps: int, raw: bool) -> list[tuple[int, int]]:
    """The byte ranges of one version of shard row ``shard_t`` that a reader of an array of
    ``steps`` steps can see: its index, and its chunks (of raw chunks, the steps up to ``steps``)."""
    chunks_per_shard = math.prod(SHARDS)
    index_size = chunks_per_shard * INDEX_ENTRY + 4
    entries = np.frombuffer(shard[-index_size:-4], "<u8").reshape(chunks_per_shard, 2)
    ranges = [(len(shard) - index_size, index_size)]
    step_bytes = math.prod(CHUNKS[1:]) * 2  # uint16
    for position, (offset, size) in enumerate(entries):
        if offset == EMPTY:
            continue
        first_step = (shard_t * SHARDS[0] + np.unravel_index(position, SHARDS)[0]) * CHUNKS[0]
        seen_steps = min(max(steps - first_step, 0), CHUNKS[0])
        ranges.append((int(offset), seen_steps * step_bytes if raw else int(size)))
    return ranges


@pytest.mark.parametrize("compression", [zs.Compression(codec="lz4"), None], ids=["lz4", "raw"])
def test_no_version_of_a_shard_changes_what_an_earlier_version_refers_to(tmp_path, compression, engine):
    if compression is None and engine != "slabs":
        pytest.skip("uncompressed arrays are written from raw slabs whatever the engine")
    path = tmp_path / "s.zarr"
    array = zs.ArraySettings(key="raw", dimensions=dims_from(SHAPE, CHUNKS, SHARDS), compression=compression)
    frames = random_frames(SHAPE, 40, "uint16") | 1  # no fill-value chunks
    versions: dict[str, list[tuple[bytes, int]]] = {}  # shard key: (its bytes, the array's steps)
    rng = np.random.default_rng(0)
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])) as stream:
        done = 0
        while done < len(frames):
            block = int(rng.integers(1, 4))
            stream.append(frames[done : done + block])
            done += len(frames[done : done + block])
            stream.flush()
            steps = json.loads((path / "raw/zarr.json").read_text())["shape"][0]
            for shard in (path / "raw/c").rglob("*"):
                if shard.is_file():
                    seen = versions.setdefault(shard.relative_to(path).as_posix(), [])
                    data = shard.read_bytes()
                    if not seen or seen[-1][0] != data:
                        seen.append((data, steps))
    assert_round_trip(path, frames, key="raw")
    assert max(map(len, versions.values())) >= 4, "shards are published in several versions"
    checked = 0
    for key, published in versions.items():
        shard_t = int(key.split("/")[2])
        for i, (earlier, steps) in enumerate(published):
            for later, _ in published[i + 1 :]:
                for offset, size in visible(earlier, shard_t, steps, raw=compression is None):
                    assert offset + size <= len(later), f"{key}: a later version is shorter than it"
                    assert later[offset : offset + size] == earlier[offset : offset + size], key
                    checked += 1
    assert checked > 0
