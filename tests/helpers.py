"""Shared test helpers: build settings, stream frames, and what a reader must see."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import zarr

import zarr_stream as zs
from zarr_stream.testing import expected_array

__all__ = ["dims_from", "expected_array", "random_frames", "read", "stream"]


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


def napari_channels(path) -> list[tuple[str, list[np.ndarray]]]:
    """napari-ome-zarr's reader on ``path``, as (layer name, levels) per channel.

    napari-ome-zarr 0.10 returns one layer with a ``channel_axis``; 0.11 one layer per channel.
    """
    import napari_ome_zarr

    reader = napari_ome_zarr.napari_get_reader(str(path))
    assert reader is not None, f"napari-ome-zarr reads no image at {path}"
    channels = []
    for data, kwargs, kind in reader(str(path)):
        assert kind == "image"
        axis = kwargs.get("channel_axis")
        names = kwargs.get("name")
        if axis is None:
            channels.append((str(names), [np.asarray(level) for level in data]))
            continue
        if names is None:  # no omero block: no names
            names = [f"channel {c}" for c in range(np.shape(data[0])[axis])]
        for c, name in enumerate(names):
            channels.append((name, [np.take(np.asarray(level), c, axis=axis) for level in data]))
    return channels
