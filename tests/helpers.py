"""Shared test helpers: build settings, stream frames, and what a reader must see."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import zarr

import zarr_stream as zs


def dims_from(shape: Sequence[int], chunks: Sequence[int], shards: Sequence[int]) -> list[zs.Dimension]:
    names = (
        ["t", "c", "z", "y", "x"][-len(shape) :] if len(shape) <= 5 else [f"d{i}" for i in range(len(shape))]
    )
    if len(shape) == 2:
        names = ["t", "x"]
    kinds = {"t": "time", "c": "channel"}
    return [
        zs.Dimension(name, kind=kinds.get(name, "space"), size=size, chunk=chunk, shard=shard)  # type: ignore[arg-type]
        for name, size, chunk, shard in zip(names, shape, chunks, shards, strict=True)
    ]


def frame_ndim(ndim: int) -> int:
    return 2 if ndim >= 3 else 1


def random_frames(shape: Sequence[int], n: int, dtype: str, seed: int = 0) -> np.ndarray:
    """``n`` frames for an array of ``shape``, with values that use the dtype's range and some zeros."""
    rng = np.random.default_rng(seed)
    frame_shape = tuple(shape[len(shape) - frame_ndim(len(shape)) :])
    dt = np.dtype(dtype)
    if dt.kind == "f":
        data = rng.normal(0, 1000, (n, *frame_shape)).astype(dt)
    else:
        info = np.iinfo(dt)
        data = rng.integers(info.min, info.max, (n, *frame_shape), dtype=dt, endpoint=True)
    # a zero band so some chunks are all fill value
    if n:
        data[::3] = 0
    return data


def expected_array(shape: Sequence[int], frames: np.ndarray) -> np.ndarray:
    """The array a reader must see: ``np.stack(frames)`` in C order, padded with fill to whole steps."""
    fnd = frame_ndim(len(shape))
    per_step = math.prod(shape[1 : len(shape) - fnd])
    steps = -(-len(frames) // per_step)
    flat = np.zeros((steps * per_step, *shape[len(shape) - fnd :]), dtype=frames.dtype)
    flat[: len(frames)] = frames
    return flat.reshape(steps, *shape[1:])


def stream(
    path: Path | str,
    array: zs.ArraySettings,
    frames: np.ndarray,
    block: int = 1,
) -> None:
    """Stream ``frames`` into a new store at ``path``, ``block`` frames per append."""
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])) as stream_:
        for start in range(0, len(frames), block):
            stream_.append(frames[start : start + block])


def read(path: Path | str, key: str = "") -> np.ndarray:
    return zarr.open_array(str(path), path=key, mode="r")[...]


def read_while_writing(path: Path | str, key: str = "", attempts: int = 5) -> np.ndarray:
    """Read an array that a stream may be changing right now.

    zarr-python reads a shard's index and its chunks in separate reads; when the stream
    replaces a flushed partial shard in between, the old index meets the new file and
    decoding fails. Reading again sees one version or the other (docs/concepts.md).
    """
    for attempt in range(attempts):
        try:
            return read(path, key)
        except RuntimeError:  # numcodecs: "error during blosc decompression"
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
