"""Child process for the kill test: streams deterministic frames, flushing now and then.

After each flush returns it records how many frames are durable in ``progress``
(written atomically), so the parent knows what must survive a SIGKILL.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import zarr_stream as zs

FRAME = (96, 80)


def frame(i: int) -> np.ndarray:
    base = np.arange(FRAME[0] * FRAME[1], dtype=np.uint32).reshape(FRAME) * 2654435761
    return ((base >> 7) + i * 977).astype(np.uint16)


def record(path: str, count: int) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(str(count))
    os.replace(path + ".tmp", path)


def main(store: str, progress: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dims = [
        zs.Dimension("t", kind="time", size=0, chunk=3, shard=2),
        zs.Dimension("y", size=FRAME[0], chunk=32, shard=2),
        zs.Dimension("x", size=FRAME[1], chunk=32, shard=2),
    ]
    settings = zs.StreamSettings(
        store=store,
        arrays=[zs.ArraySettings(key="raw", dimensions=dims, compression=zs.Compression(level=1))],
    )
    stream = zs.ZarrStream(settings)
    record(progress, 0)
    i = 0
    while True:
        block = int(rng.integers(1, 5))
        stream.append(np.stack([frame(i + k) for k in range(block)]))
        i += block
        if rng.random() < 0.3:
            stream.flush()
            record(progress, i)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
