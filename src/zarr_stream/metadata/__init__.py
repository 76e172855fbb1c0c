"""zarr.json documents, built by zarr-python's own metadata classes."""

from zarr_stream.metadata._array_document import ArrayDocument
from zarr_stream.metadata._zarr import (
    array_document,
    array_metadata,
    document_key,
    group_document,
    group_keys,
)

__all__ = [
    "ArrayDocument",
    "array_document",
    "array_metadata",
    "document_key",
    "group_document",
    "group_keys",
]
