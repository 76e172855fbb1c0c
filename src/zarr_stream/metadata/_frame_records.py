"""Reading per-frame metadata back (the layout is in ``zarr_stream.engine._frame_records``)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import zarr

from zarr_stream.errors import UnknownKeyError
from zarr_stream.settings import FRAME_METADATA_SUFFIX, S3Settings
from zarr_stream.storage import open_reader

__all__ = ["read_frame_metadata"]


def read_frame_metadata(store: Any, key: str, s3: S3Settings | None = None) -> list[dict[str, Any]]:
    """The per-frame metadata of the array or image at ``key``: one dict per frame, in frame
    order, ``{}`` for frames appended without metadata or skipped; ``[]`` if it never got any.

    ``store`` is what the stream wrote to: a local path, an ``s3://bucket/prefix`` URL (with
    ``s3`` settings, as for the stream), a zarr ``Store`` or an obstore store. It holds the
    records of every frame the array shows: after a flush, exactly the frames flushed.

    Examples
    --------
    >>> import numpy as np, tempfile, zarr_stream as zs
    >>> path = tempfile.mkdtemp() + "/doc.zarr"
    >>> settings = zs.StreamSettings(store=path, arrays=[zs.ArraySettings(key="raw",
    ...     dtype="uint8", dimensions=[zs.Dimension("t"), zs.Dimension("x", size=4)])])
    >>> with zs.ZarrStream(settings) as stream:
    ...     stream.append(np.zeros((2, 4), "uint8"), metadata=[{"t": 0.0}, {"t": 0.5, "z": 3}])
    ...     stream.append(np.zeros(4, "uint8"))
    >>> zs.read_frame_metadata(path, "raw")
    [{'t': 0.0}, {'t': 0.5, 'z': 3}, {}]
    """
    root = zarr.open_group(open_reader(store, s3), mode="r")
    try:
        node = root[key] if key else root
    except KeyError:
        raise UnknownKeyError(f"key must name an array or image of the store. Got {key!r}.") from None
    try:
        group = root[key + FRAME_METADATA_SUFFIX]
    except KeyError:
        return []
    assert isinstance(group, zarr.Group)
    text = np.asarray(_array(group, "json")[:, 0]).tobytes()
    spans = np.asarray(_array(group, "spans")[:])
    frames = min(len(spans), _frames_shown(node))
    records: list[dict[str, Any]] = []
    for start, end in spans[:frames].tolist():
        if end > len(text):  # never after a completed flush: the bytes are published first
            break
        records.append(json.loads(text[start:end]) if end > start else {})
    return records


def _array(group: zarr.Group, name: str) -> zarr.Array[Any]:
    array = group[name]
    assert isinstance(array, zarr.Array)
    return array


def _frames_shown(node: zarr.Group | zarr.Array[Any]) -> int:
    """The most frames an array (or an image's level 0) shows: its steps times frames per step."""
    array = _array(node, "0") if isinstance(node, zarr.Group) else node
    shape = array.shape
    frame_ndim = 2 if len(shape) >= 3 else 1
    return shape[0] * math.prod(shape[1 : len(shape) - frame_ndim])
