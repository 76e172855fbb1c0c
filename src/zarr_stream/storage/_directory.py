"""A local directory held open by a descriptor, every path relative to it.

A stream writes its store through the descriptor of the store's root, never through the
root's path: if the store is deleted or moved while it is written, nothing recreates a
half-empty store at the old path (a deleted directory takes no new entries), and
``PinnedDirectory.check`` tells the stream so, in words.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

from zarr_stream.errors import StoreAccessError

__all__ = ["PinnedDirectory", "missing_folders"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def missing_folders(path: Path) -> list[Path]:
    """``path`` and the folders above it that do not exist, deepest first."""
    missing = []
    while not os.path.lexists(path) and path.parent != path:
        missing.append(path)
        path = path.parent
    return missing


class PinnedDirectory:
    """The directory at ``path``, opened; relative paths below it (``"a/b"``; ``""`` is itself)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        stat = os.fstat(self.fd)
        self._identity = (stat.st_dev, stat.st_ino)
        self._made: set[str] = {""}  # directories known to exist
        # Directories whose entries makedirs changed: a new directory survives a power loss
        # only once its parent is fsynced. Arrays' writer threads share them.
        self._changed: set[str] = set()
        self._changed_lock = threading.Lock()

    def check(self) -> None:
        """Raise StoreAccessError if ``path`` no longer names this directory (deleted, moved, replaced)."""
        try:
            stat = os.stat(self.path)
            now: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except OSError:
            now = None
        if now != self._identity:
            happened = "was deleted" if now is None else "was replaced by another"
            raise StoreAccessError(
                f"the store directory must stay where the stream opened it. Got {str(self.path)!r}, "
                f"which {happened} while the stream wrote to it; nothing more is written."
            )

    def open(self, relative: str, flags: int, mode: int = 0o644) -> int:
        """A descriptor for ``relative`` (``os.open`` flags)."""
        return os.open(relative, flags | _CLOEXEC, mode, dir_fd=self.fd)

    def makedirs(self, relative: str) -> None:
        """Create ``relative`` and the directories above it, below this one, as needed."""
        if relative in self._made:
            return
        parent = relative.rpartition("/")[0]
        self.makedirs(parent)
        try:
            os.mkdir(relative, dir_fd=self.fd)
        except FileExistsError:
            pass
        else:
            with self._changed_lock:
                self._changed.add(parent)
        self._made.add(relative)

    def take_changed(self) -> set[str]:
        """The directories whose entries ``makedirs`` changed since the last call."""
        with self._changed_lock:
            changed, self._changed = self._changed, set()
        return changed

    def replace(self, source: str, target: str) -> None:
        """Move ``source`` to ``target``, replacing it (atomic)."""
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def link(self, source: str, target: str) -> None:
        """Make ``target`` a new name of ``source``; FileExistsError if it exists (atomic)."""
        os.link(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)

    def unlink(self, relative: str) -> None:
        os.unlink(relative, dir_fd=self.fd)

    def fsync(self, relative: str) -> None:
        """fsync the directory ``relative``: its new entries survive a power loss."""
        fd = self.open(relative or ".", os.O_RDONLY | _DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove_tree(self, relative: str) -> None:
        """Remove the directory ``relative`` and everything in it, if it exists."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(relative, dir_fd=self.fd)
        self._made = {d for d in self._made if d != relative and not d.startswith(relative + "/")}

    def close(self) -> None:
        os.close(self.fd)
