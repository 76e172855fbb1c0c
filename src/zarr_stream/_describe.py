"""How a stored array is described to people: its shape, codecs and stored bytes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import zarr

from zarr_stream.settings import STAGING_NAME

__all__ = ["describe_array", "stored_bytes"]

MiB = 2**20


def stored_bytes(path: Path) -> int:
    """Bytes of the files under ``path``, leaving out what streams staged (see ``leftovers``)."""
    total = 0
    for directory, subdirectories, files in os.walk(path):
        if STAGING_NAME in subdirectories:
            subdirectories.remove(STAGING_NAME)
        total += sum(_disk_bytes(os.path.join(directory, name)) for name in files)
    return total


def _disk_bytes(path: str) -> int:
    """The bytes a file holds: a shard closed before it was full keeps holes where its partial
    versions were (see docs/concepts.md), which its size counts and the disk does not."""
    stat = os.stat(path)
    blocks = getattr(stat, "st_blocks", None)
    return stat.st_size if blocks is None else min(stat.st_size, blocks * 512)


def _codecs(array: zarr.Array[Any]) -> str:
    doc: dict[str, Any] = json.loads(json.dumps(array.metadata.to_dict(), default=str))
    names: list[str] = []
    for codec in doc.get("codecs", []):
        if codec["name"] == "sharding_indexed":
            inner = codec["configuration"]["codecs"]
            names.extend(
                f"{c['name']}({', '.join(f'{k}={v}' for k, v in c.get('configuration', {}).items())})"
                for c in inner
            )
        else:
            names.append(codec["name"])
    return " -> ".join(names)


def describe_array(array: zarr.Array[Any], stored: int | None) -> str:
    raw = array.nbytes
    parts = [
        f"shape={array.shape}",
        f"dtype={array.dtype}",
        f"chunks={array.chunks}",
        f"shards={array.shards}",
        f"codecs={_codecs(array)}",
    ]
    if stored is not None:
        ratio = f", ratio {raw / stored:.2f}x" if stored else ""
        parts.append(f"stored={stored / MiB:.1f} MiB{ratio}")
    return "  ".join(parts)
