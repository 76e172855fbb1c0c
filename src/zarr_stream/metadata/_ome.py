"""OME-NGFF 0.5 metadata (``attributes.ome``): images (axes, levels, transforms), plates, wells.

Every value follows from the settings alone, so the document is written whole when the
stream opens and stays true while the levels grow (their shapes live in their own
``zarr.json``); a stream killed at any point leaves a valid image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np

from zarr_stream.settings import OME_KEY, Channel, Dimension, DownsampleMethod, Plate, Well

__all__ = ["NGFF_VERSION", "image_attributes", "level_transforms", "plate_attributes", "well_attributes"]

NGFF_VERSION = "0.5"
_AXIS_TYPES = {"time": "time", "channel": "channel", "space": "space"}  # "other": no type


class Axis(TypedDict, total=False):
    name: str
    type: str
    unit: str


def axes(dims: Sequence[Dimension]) -> list[Axis]:
    """The ``axes`` of an image stored with ``dims``."""
    result: list[Axis] = []
    for dim in dims:
        axis: Axis = {"name": dim.name}
        if dim.kind in _AXIS_TYPES:
            axis["type"] = _AXIS_TYPES[dim.kind]
        if dim.unit is not None:
            axis["unit"] = dim.unit
        result.append(axis)
    return result


def level_transforms(
    dims: Sequence[Dimension], factors: Sequence[int], method: DownsampleMethod | None
) -> list[dict[str, Any]]:
    """The ``coordinateTransformations`` of a level ``factors`` times coarser than level 0.

    A level pixel made from a block of ``f`` pixels has its centre at the block's centre:
    ``(f - 1) / 2`` level-0 pixels on, hence the translation. A decimated pixel is the
    block's first pixel, whose centre does not move.

    >>> from zarr_stream import Dimension
    >>> dims = [Dimension("t", kind="time"), Dimension("y", scale=0.5), Dimension("x", scale=0.5)]
    >>> level_transforms(dims, [1, 4, 4], "mean")
    [{'type': 'scale', 'scale': [1.0, 2.0, 2.0]}, {'type': 'translation', 'translation': [0.0, 0.75, 0.75]}]
    """
    scale = [dim.scale * factor for dim, factor in zip(dims, factors, strict=True)]
    transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
    if method != "decimate" and any(factor > 1 for factor in factors):
        shift = [(factor - 1) / 2 * dim.scale for dim, factor in zip(dims, factors, strict=True)]
        transforms.append({"type": "translation", "translation": shift})
    return transforms


def omero(channels: Sequence[Channel], dtype: np.dtype) -> dict[str, Any]:
    """The ``omero`` block of an image's channels, as ome-writers and napari-ome-zarr know it."""
    if dtype.kind in "iu":
        low, high = float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)
    else:
        low, high = 0.0, 1.0
    entries = []
    for channel in channels:
        start, end = channel.window if channel.window is not None else (low, high)
        entries.append({
            "label": channel.label,
            "color": channel.color,
            "active": True,
            "coefficient": 1.0,
            "family": "linear",
            "inverted": False,
            "window": {"min": min(low, start), "max": max(high, end), "start": start, "end": end},
        })  # fmt: skip
    return {"channels": entries, "rdefs": {"model": "color"}}


def image_attributes(
    name: str,
    dims: Sequence[Dimension],
    level_factors: Sequence[Sequence[int]],
    method: DownsampleMethod | None,
    channels: Sequence[Channel] = (),
    dtype: np.dtype | None = None,
) -> dict[str, Any]:
    """``{"ome": ...}`` of an image stored with ``dims``, its levels ``level_factors`` coarser."""
    multiscale: dict[str, Any] = {
        "name": name,
        "axes": axes(dims),
        "datasets": [
            {"path": str(level), "coordinateTransformations": level_transforms(dims, factors, method)}
            for level, factors in enumerate(level_factors)
        ],
    }
    if method is not None:
        multiscale["type"] = method
        multiscale["metadata"] = {
            "description": "zarr-stream: each level from the one above, blocks of 2 along y, x (and z)",
            "method": method,
        }
    ome: dict[str, Any] = {"version": NGFF_VERSION, "multiscales": [multiscale]}
    if channels:
        ome["omero"] = omero(channels, np.dtype(dtype))
    return {OME_KEY: ome}


def plate_attributes(plate: Plate) -> dict[str, Any]:
    """``{"ome": ...}`` of an HCS plate group: rows, columns, wells, acquisitions, field counts."""
    fields_per_well = [len(well.fields) for well in plate.wells]
    metadata: dict[str, Any] = {
        "rows": [{"name": row} for row in plate.rows],
        "columns": [{"name": column} for column in plate.columns],
        "wells": [
            {
                "path": well.path,
                "rowIndex": plate.rows.index(well.row),
                "columnIndex": plate.columns.index(well.column),
            }
            for well in plate.wells
        ],
        "field_count": max(fields_per_well, default=0),
    }
    if plate.name is not None:
        metadata["name"] = plate.name
    if plate.acquisitions:
        metadata["acquisitions"] = []
        for acquisition in plate.acquisitions:
            entry: dict[str, Any] = {"id": acquisition.id}
            counts = [sum(f.acquisition == acquisition.id for f in well.fields) for well in plate.wells]
            if max(counts, default=0):
                entry["maximumfieldcount"] = max(counts)
            if acquisition.name is not None:
                entry["name"] = acquisition.name
            if acquisition.description is not None:
                entry["description"] = acquisition.description
            metadata["acquisitions"].append(entry)
    return {OME_KEY: {"version": NGFF_VERSION, "plate": metadata}}


def well_attributes(well: Well) -> dict[str, Any]:
    """``{"ome": ...}`` of a well group: its fields' images (and their acquisitions)."""
    images = []
    for fov in well.fields:
        image: dict[str, Any] = {"path": fov.path}
        if fov.acquisition is not None:
            image["acquisition"] = fov.acquisition
        images.append(image)
    return {OME_KEY: {"version": NGFF_VERSION, "well": {"images": images}}}
