"""A numpy reference for pyramid levels, computed on the whole data, block by block.

Written independently of ``zarr_stream.multiscale``: every block of 2 along each halved axis
(shorter at an odd edge) is gathered by strided slicing, padded with NaN where the edge
leaves it short, and reduced with NaN-aware numpy reductions in float64 (exact for the
integer dtypes the tests use), the mean rounded down.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["downsample", "halved_axes", "reference_levels"]


def downsample(data: np.ndarray, axes: Sequence[int], method: str) -> np.ndarray:
    """One level down from ``data``: blocks of 2 along ``axes``."""
    axes = set(axes)
    if method == "decimate":
        return data[tuple(slice(None, None, 2) if i in axes else slice(None) for i in range(data.ndim))]
    shape = tuple(-(-s // 2) if i in axes else s for i, s in enumerate(data.shape))
    parts = []
    for offsets in itertools.product(*[(0, 1) if i in axes else (0,) for i in range(data.ndim)]):
        part = data[tuple(slice(o, None, 2) if i in axes else slice(None) for i, o in enumerate(offsets))]
        pad = [(0, shape[i] - part.shape[i]) for i in range(data.ndim)]
        parts.append(np.pad(part.astype("float64"), pad, constant_values=np.nan))
    stacked = np.stack(parts)
    if method == "mean":
        mean = np.nansum(stacked, 0) / np.sum(~np.isnan(stacked), 0)
        return (mean if data.dtype.kind == "f" else np.floor(mean)).astype(data.dtype)
    reduce = np.nanmin if method == "min" else np.nanmax
    return reduce(stacked, 0).astype(data.dtype)


def halved_axes(ome: dict, level: int) -> list[int]:
    """The axes level ``level + 1`` halves, read from the image's OME scales (a ratio of 2)."""
    datasets = ome["multiscales"][0]["datasets"]
    upper = datasets[level]["coordinateTransformations"][0]["scale"]
    lower = datasets[level + 1]["coordinateTransformations"][0]["scale"]
    return [i for i, (a, b) in enumerate(zip(upper, lower, strict=True)) if np.isclose(b, 2 * a)]


def reference_levels(level0: np.ndarray, ome: dict, method: str) -> list[np.ndarray]:
    """Every level of the image whose OME metadata is ``ome``, from its level 0 data."""
    levels = [level0]
    for level in range(len(ome["multiscales"][0]["datasets"]) - 1):
        levels.append(downsample(levels[-1], halved_axes(ome, level), method))
    return levels
