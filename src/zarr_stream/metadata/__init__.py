"""zarr.json documents, built by zarr-python's own metadata classes, and OME-NGFF metadata."""

from zarr_stream.metadata._array_document import ArrayDocument
from zarr_stream.metadata._frame_records import read_frame_metadata
from zarr_stream.metadata._group_document import GroupDocument
from zarr_stream.metadata._ome import image_attributes, plate_attributes, well_attributes
from zarr_stream.metadata._zarr import (
    array_document,
    array_metadata,
    document_key,
    group_document,
    group_keys,
    read_document,
)

__all__ = [
    "ArrayDocument",
    "GroupDocument",
    "array_document",
    "array_metadata",
    "document_key",
    "group_document",
    "group_keys",
    "image_attributes",
    "plate_attributes",
    "read_document",
    "read_frame_metadata",
    "well_attributes",
]
