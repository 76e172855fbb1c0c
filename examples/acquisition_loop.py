"""Runs on a plain install. An acquisition loop as an instrument runs one: settings kept in a
YAML file, a timestamp and stage position with every frame, frames the camera dropped, a
crash in the middle (the process is killed) and a resumed stream that picks up after the
last flushed frame, the second part driven from asyncio.

Run: python examples/acquisition_loop.py [OUT]   (default ./acquisition_loop.zarr)
"""

import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile

import numpy as np
import zarr

import zarr_stream as zs

HEIGHT, WIDTH = 256, 320


def frame(i: int) -> np.ndarray:
    """Frame ``i`` of the (synthetic) camera: the same every time it is asked for."""
    return np.random.default_rng(i).integers(100, 4000, (HEIGHT, WIDTH), dtype=np.uint16)


def record(i: int) -> dict:
    return {"t_s": round(i * 0.05, 3), "stage_um": {"x": 100.0 + i, "y": 250.0}, "exposure_ms": 20}


def first_part(config: str) -> None:
    """Stream 23 frames (one dropped), flushing every 5, and die without closing."""
    settings = zs.StreamSettings.from_file(config)
    stream = zs.ZarrStream(settings)
    for i in range(23):
        if i == 7:
            stream.skip(1, key="cam/raw")  # the camera dropped frame 7
        else:
            stream.append(frame(i), key="cam/raw", metadata=record(i))
        if i % 5 == 4:
            stream.flush()  # frames 0 .. i are durable now
    os._exit(1)  # a crash: frames 20 .. 22 were never flushed


async def second_part(settings: zs.StreamSettings, first: int) -> None:
    async with zs.AsyncZarrStream(settings) as stream:
        for i in range(first, first + 15):
            await stream.append(frame(i), key="cam/raw", metadata=record(i))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "acquisition_loop.zarr"
    config = os.path.join(tempfile.mkdtemp(), "acq.yaml")
    dims = [
        zs.Dimension("t", kind="time", chunk=8, shard=2),
        zs.Dimension("y", size=HEIGHT, chunk=128, shard=2),
        zs.Dimension("x", size=WIDTH, chunk=160, shard=2),
    ]
    array = zs.ArraySettings(key="cam/raw", dtype="uint16", dimensions=dims, compression=zs.Compression())
    zs.StreamSettings(store=out, arrays=[array], overwrite=True).to_file(config)

    # The first part runs in a process of its own, which dies as a crash would.
    child = subprocess.run([sys.executable, __file__, out, "--first-part", config])
    assert child.returncode == 1

    settings = dataclasses.replace(zs.StreamSettings.from_file(config), overwrite=False, resume=True)
    flushed = zarr.open_array(out, path="cam/raw", mode="r").shape[0]
    print(f"after the crash: {flushed} frames flushed (the last flush covered 20)")
    asyncio.run(second_part(settings, flushed))

    data = zarr.open_array(out, path="cam/raw", mode="r")[...]
    expected = np.stack(
        [np.zeros((HEIGHT, WIDTH), np.uint16) if i == 7 else frame(i) for i in range(flushed + 15)]
    )
    assert np.array_equal(data, expected), "the resumed array differs from the frames streamed"
    records = zs.read_frame_metadata(out, "cam/raw")
    assert records == [{} if i == 7 else record(i) for i in range(flushed + 15)]
    print(f"wrote {out}: {data.shape[0]} frames, frame 7 dropped, {len(records)} records; e.g. {records[3]}")


if __name__ == "__main__":
    if "--first-part" in sys.argv:
        first_part(sys.argv[sys.argv.index("--first-part") + 1])
    else:
        main()
