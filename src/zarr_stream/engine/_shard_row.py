"""The shard row being written: its shard files and indexes, and their publication.

A shard row is every shard with the same index along the append dimension (see
``zarr_stream.engine._layout``). Chunks come in for good, slab by slab; a shard is
published complete once its last chunk is in. A flush publishes each shard of the row as it
stands: its chunks, and the versions of the chunks of the slab being filled, which stay in
the shard file for good (see ``zarr_stream.storage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from zarr_stream.engine._encode import Placed, encode_index
from zarr_stream.engine._layout import Layout
from zarr_stream.storage import Backend, Buffer, ShardFile, nbytes

__all__ = ["Chunk", "ShardRow", "Versions"]

#: A chunk for a shard: its bytes as parts, to append, or where it already is in the shard file.
Chunk = Sequence[Buffer] | Placed
#: A flush's chunks, by shard: (slot in the shard, chunk).
Versions = Mapping[tuple[int, ...], Sequence[tuple[int, Chunk]]]


@dataclass(slots=True)
class _Shard:
    file: ShardFile
    index: np.ndarray  # (offset, nbytes) of each slot's chunk for good
    chunks: int = 0


class ShardRow:
    """The shards of the shard row being written. Used by one thread at a time."""

    def __init__(self, layout: Layout, prefix: str, backend: Backend) -> None:
        self._layout = layout
        self._prefix = prefix  # the array's key and "/", or "" at the root
        self._backend = backend
        self._shards: dict[tuple[int, ...], _Shard] = {}

    def file(self, coords: tuple[int, ...]) -> ShardFile:
        """The shard file at ``coords`` (opened on first use)."""
        return self._shard(coords).file

    def add(self, coords: tuple[int, ...], slot: int, chunk: Chunk) -> None:
        """Put a chunk in its slot of the shard at ``coords``, for good."""
        shard = self._shard(coords)
        shard.index[slot] = _place(shard.file, chunk)
        shard.chunks += 1

    def finish(self, coords: tuple[int, ...]) -> None:
        """Publish the complete shard at ``coords``, or drop it if it holds no chunk."""
        shard = self._shards[coords]
        if shard.chunks:
            shard.file.publish(encode_index(shard.index), final=True)
        else:
            shard.file.discard()
        del self._shards[coords]  # only now: should publishing fail, discard() still closes it

    def finish_all(self) -> None:
        for coords in list(self._shards):
            self.finish(coords)

    def publish(self, versions: Versions, final: bool) -> None:
        """Publish every shard of the row as it stands, with a flush's ``versions`` of chunks.

        ``final``: the stream ends here, and the shards are done.
        """
        for coords in versions:
            self._shard(coords)
        for coords, shard in self._shards.items():
            tail = versions.get(coords, ())
            if not shard.chunks and not tail:
                continue
            index = shard.index.copy()
            for slot, chunk in tail:
                index[slot] = _place(shard.file, chunk)
            shard.file.publish(encode_index(index), final)
        if final:
            self.discard()

    def discard(self) -> None:
        """Drop every shard file still staged; nothing more is published."""
        shards, self._shards = self._shards, {}
        for shard in shards.values():
            shard.file.discard()

    def _shard(self, coords: tuple[int, ...]) -> _Shard:
        shard = self._shards.get(coords)
        if shard is None:
            file = self._backend.open_shard(self._prefix + self._layout.shard_key(coords))
            shard = self._shards[coords] = _Shard(file, self._layout.empty_index())
        return shard


def _place(file: ShardFile, chunk: Chunk) -> tuple[int, int]:
    """Where the chunk lies in ``file``, appending its bytes if it is not there yet."""
    if isinstance(chunk, Placed):
        return chunk.offset, chunk.nbytes
    return file.append(chunk), nbytes(chunk)
