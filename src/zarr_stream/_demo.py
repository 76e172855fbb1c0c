"""``zarr-stream demo``: synthetic camera frames streamed into every array of some settings
(the demo's own, or a settings file's), then read back with zarr-python and summarised."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import zarr

import zarr_stream as zs
from zarr_stream._describe import describe_array, stored_bytes
from zarr_stream.storage import open_reader
from zarr_stream.testing import camera_frames

__all__ = ["demo_settings", "run_demo", "with_store"]

MiB = 2**20
SOURCE_FRAMES = 8  # distinct synthetic frames, cycled


def demo_settings(
    out: str, size: int, chunk_t: int, endpoint: str | None = None, region: str | None = None
) -> zs.StreamSettings:
    """The demo's settings: one 2-D camera's uint16 frames, Blosc zstd, replacing ``out``."""
    s3 = None
    if out.startswith("s3://"):
        s3 = zs.S3Settings(
            endpoint=endpoint, region=region, allow_http=(endpoint or "").startswith("http://")
        )
    elif endpoint is not None or region is not None:
        raise zs.SettingsError(f"--endpoint and --region apply to s3:// outputs only. Got --out {out!r}.")
    chunk = min(256, size)
    shard = min(4, -(-size // chunk))  # up to 4x4 chunks per shard, no more than the frame needs
    return zs.StreamSettings(
        store=out,
        overwrite=True,
        s3=s3,
        arrays=[
            zs.ArraySettings(
                key="raw",
                dtype="uint16",
                dimensions=[
                    zs.Dimension("t", kind="time", size=0, chunk=chunk_t, shard=1),
                    zs.Dimension("y", size=size, chunk=chunk, shard=shard),
                    zs.Dimension("x", size=size, chunk=chunk, shard=shard),
                ],
                compression=zs.Compression(codec="zstd", level=1, shuffle="shuffle"),
                attributes={"source": "zarr-stream demo: synthetic camera frames"},
            )
        ],
    )


def with_store(settings: zs.StreamSettings, out: str) -> zs.StreamSettings:
    """``settings`` writing to ``out`` instead; its S3 settings are kept for an s3:// ``out``."""
    s3 = settings.s3 if out.startswith("s3://") else None
    return dataclasses.replace(settings, store=out, s3=s3)


@dataclasses.dataclass
class _Source:
    """The synthetic frames of one array, and how many it takes."""

    array: zs.ArraySettings
    frames: list[np.ndarray]
    count: int

    @property
    def frames_per_step(self) -> int:
        dims = self.array.dimensions
        return math.prod(d.size for d in dims[1 : len(dims) - _frame_ndim(self.array)])

    def frame(self, i: int) -> np.ndarray:
        return self.frames[i % len(self.frames)]


def _frame_ndim(array: zs.ArraySettings) -> int:
    return 2 if len(array.dimensions) >= 3 else 1


def _sources(settings: zs.StreamSettings, frames: int) -> list[_Source]:
    sources = []
    for array in settings.streamed_arrays:
        shape = [d.size for d in array.dimensions[-_frame_ndim(array) :]]
        camera = camera_frames(SOURCE_FRAMES, shape[0] if len(shape) == 2 else 1, shape[-1])
        dtype = np.dtype(array.dtype)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            camera = [np.clip(f, info.min, info.max) for f in camera]
        typed = [f.astype(dtype).reshape(shape) for f in camera]
        first = array.dimensions[0].size
        capacity = first * _Source(array, typed, 0).frames_per_step if first else frames
        sources.append(_Source(array, typed, min(frames, capacity)))
    return sources


def _stored_bytes_of(reader: Any) -> int:
    if isinstance(reader, str):
        return stored_bytes(Path(reader))
    import obstore

    return sum(item["size"] for batch in obstore.list(reader.store) for item in batch)


class _Progress:
    """A progress line: redrawn in place on a terminal, a line per tenth otherwise (logs, CI)."""

    def __init__(self, total_frames: int, out: TextIO) -> None:
        self.total = total_frames
        self.out = out
        self.tty = out.isatty()
        self.start = time.perf_counter()
        self._shown = 0

    def update(self, frames: int, mib: float) -> None:
        tenth = max(1, self.total // 10)
        step = max(1, self.total // 100) if self.tty else tenth
        if frames - self._shown < step and frames != self.total:
            return
        self._shown = frames
        seconds = time.perf_counter() - self.start
        line = f"streaming {frames}/{self.total} frames  {mib:.0f} MiB  {seconds:.1f} s"
        if self.tty:
            self.out.write("\r" + line)
            if frames == self.total:
                self.out.write("\n")
        else:
            self.out.write(line + "\n")
        self.out.flush()


def run_demo(settings: zs.StreamSettings, frames: int, write: Callable[[str], None] = print) -> None:
    """Stream ``frames`` synthetic frames into each array of ``settings`` (fewer where its append
    dimension is bounded), read the last step of each back, and print a summary."""
    sources = _sources(settings, frames)
    total = sum(s.count for s in sources)
    progress = _Progress(total, sys.stdout)
    appended = 0
    appended_bytes = 0
    start = time.perf_counter()
    with zs.ZarrStream(settings) as stream:
        for i in range(max(s.count for s in sources)):
            for source in sources:
                if i < source.count:
                    frame = source.frame(i)
                    stream.append(frame, key=source.array.key)
                    appended += 1
                    appended_bytes += frame.nbytes
                    progress.update(appended, appended_bytes / MiB)
    seconds = time.perf_counter() - start  # close included: the frames are all stored by now
    reader = open_reader(settings.store, settings.s3)
    for source in sources:
        _check_last_step(reader, source)
    stored = _stored_bytes_of(reader)
    for source in sources:
        array = zarr.open_array(reader, path=_level0(source.array), mode="r")
        write(f"{_level0(source.array) or '(root)'}: {describe_array(array, None)}")
    summary = {
        "store": settings.store if not isinstance(reader, str) else str(Path(reader).absolute()),
        "arrays": len(sources),
        "frames": appended,
        "raw_mib": round(appended_bytes / MiB, 1),
        "stored_mib": round(stored / MiB, 1),
        "compression_ratio": round(appended_bytes / stored, 2) if stored else None,
        "seconds": round(seconds, 2),
        "mib_per_s": round(appended_bytes / MiB / seconds, 1),
    }
    for key, value in summary.items():
        write(f"{key:>18}: {value}")


def _level0(array: zs.ArraySettings) -> str:
    """The key of the array that holds the frames as given: the array, or an image's level 0."""
    if not array.ngff:
        return array.key
    return f"{array.key}/0" if array.key else "0"


def _check_last_step(reader: Any, source: _Source) -> None:
    """The last step along the append dimension reads back as the frames appended to it."""
    if source.count == 0:
        return
    array = source.array
    per_step = source.frames_per_step
    step = (source.count - 1) // per_step
    dims = array.dimensions
    inner = [d.size for d in dims[1:]]
    expected = np.zeros((per_step, *inner[len(inner) - _frame_ndim(array) :]), np.dtype(array.dtype))
    for i in range(step * per_step, source.count):
        expected[i - step * per_step] = source.frame(i)
    expected = expected.reshape(inner)
    if array.storage_order is not None:
        names = [d.name for d in dims[1:]]
        expected = expected.transpose([names.index(name) for name in array.storage_order[1:]])
    got = np.asarray(zarr.open_array(reader, path=_level0(array), mode="r")[step])
    if not np.array_equal(got, expected):
        raise SystemExit(f"demo: the last frames of {_level0(array)!r} read back differ from those appended")
