"""The root folder of a local store: what may be written there, and what ``overwrite`` may remove.

A stream writes into an empty folder, or a new one. ``overwrite=True`` also lets it replace
a Zarr hierarchy: a folder whose root holds a Zarr document (``zarr.json``, or Zarr 2's
``.zgroup`` / ``.zarray``). Anything else is left untouched and refused, even with
``overwrite=True``: a stream deletes nothing that is not provably a Zarr store.

What a killed stream leaves behind, its staging folders (``.zarr-stream``), holds nothing but
its own staged files: a folder that holds nothing else counts as empty, and is cleaned.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from zarr_stream.errors import StoreAccessError, StoreExistsError
from zarr_stream.settings import STAGING_NAME
from zarr_stream.storage._directory import PinnedDirectory

__all__ = ["is_zarr_hierarchy", "leftovers", "open_root"]

_ZARR_2_DOCUMENTS = (".zgroup", ".zarray")


def is_zarr_hierarchy(path: Path) -> bool:
    """Whether the folder ``path`` is the root of a Zarr hierarchy (its root document says so)."""
    document = path / "zarr.json"
    if document.is_file():
        try:
            node = json.loads(document.read_bytes())
        except (OSError, ValueError):
            return False
        return isinstance(node, dict) and node.get("zarr_format") == 3 and "node_type" in node
    return any((path / name).is_file() for name in _ZARR_2_DOCUMENTS)


def leftovers(path: Path) -> list[Path]:
    """The staging folders of streams that did not close, under the store at ``path``."""
    found = []
    for directory, subdirectories, _ in os.walk(path):
        if STAGING_NAME in subdirectories:
            found.append(Path(directory) / STAGING_NAME)
            subdirectories.remove(STAGING_NAME)
    return sorted(found)


def _only_leftovers(path: Path) -> bool:
    """Whether the folder ``path`` is empty, or holds only what killed streams staged: staging
    folders of staged files, and folders that hold nothing but those (no empty folder)."""
    with os.scandir(path) as entries:  # closed also when all() stops early
        return all(_is_leftover(entry) for entry in entries)


def _is_leftover(entry: os.DirEntry[str]) -> bool:
    if not entry.is_dir(follow_symlinks=False):
        return False
    entries = list(os.scandir(entry.path))
    if entry.name == STAGING_NAME:  # a stream names its staged files with 32 hex digits
        return all(_is_staged_file(staged) for staged in entries)
    return bool(entries) and all(_is_leftover(inner) for inner in entries)


def _is_staged_file(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    return (
        entry.is_file(follow_symlinks=False)
        and len(name) == 32
        and all(c in "0123456789abcdef" for c in name)
    )


def _remove_contents(path: Path) -> None:
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def open_root(path: Path, overwrite: bool, resume: bool = False) -> PinnedDirectory:
    """Check the store folder, clear or create it as the rules above allow, and pin it.

    ``resume`` keeps a Zarr v3 hierarchy as it is, to be continued."""
    where = str(path)
    try:
        if path.is_symlink() and not path.exists():
            raise StoreAccessError(
                f"the store path must not be a broken symbolic link. Got {where!r}, "
                f"a link to {os.readlink(path)!r}, which does not exist."
            )
        if path.exists() and not path.is_dir():
            raise StoreExistsError(f"the store path must be a folder. Got {where!r}, which is a file.")
        if path.is_dir():
            if resume and is_zarr_hierarchy(path) and (path / "zarr.json").is_file():
                pass  # continued as it is
            elif is_zarr_hierarchy(path):
                if not overwrite:
                    raise StoreExistsError(
                        f"the store path must be empty unless overwrite=True. Got {where!r}, "
                        "which holds a Zarr hierarchy."
                    )
                _remove_contents(path)
            elif _only_leftovers(path):
                _remove_contents(path)  # empty, or only what killed streams staged
            else:
                wanted = (
                    "to be continued" if resume else "to be replaced" if overwrite else "with overwrite=True"
                )
                raise StoreExistsError(
                    f"the store path must be empty or a Zarr hierarchy (its root holding zarr.json) "
                    f"{wanted}. Got {where!r}, which holds other files: they are left untouched."
                )
        else:
            path.mkdir(parents=True, exist_ok=True)
        return PinnedDirectory(path)
    except (StoreExistsError, StoreAccessError):
        raise
    except OSError as error:
        raise StoreAccessError(
            f"the store must be a folder the stream can write. Got {where!r}: {error}"
        ) from error
