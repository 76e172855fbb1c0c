"""Frames into slabs: the per-array frame buffer. No I/O.

A slab is one chunk deep along the append dimension (see ``zarr_stream.engine._layout``).
It is stored *chunk-major*: ``slab.data[grid_coords]`` is one whole chunk, contiguous,
so each frame is copied exactly once, into the layout its chunks are encoded from,
and encoders and writers read chunks without copying them again. Cells past a ragged
edge are zero (the fill value) from allocation on and are never written.

Slab memory is allocated once and recycled: the first slab when the stream opens, the
others on a side thread while the first fills (their page faults are slow, and need not
hold up the stream). A slab handed to the encoder comes back through
``FrameBuffer.release``. With ``max_slabs`` slabs
and no more, ``append`` blocks (backpressure) instead of growing memory without bound.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from zarr_stream.engine._layout import Layout, frame_pieces

__all__ = ["BufferPool", "FrameBuffer", "FrameScatter", "Slab", "preallocated", "take"]

T = TypeVar("T")


def take(free: queue.SimpleQueue[T], check: Callable[[], None]) -> T:
    """The next free item; while none is free, wait (backpressure), running ``check`` often."""
    while True:
        check()
        try:
            return free.get(timeout=0.05)
        except queue.Empty:
            continue


def preallocated(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A zeroed array whose memory is already written.

    The first write into fresh memory would otherwise stall an ``append`` on page faults
    (numpy asks for huge pages, which are zeroed 2 MiB at a time).
    """
    data = np.empty(shape, dtype=dtype)
    data.fill(0)
    return data


class BufferPool:
    """Recycled zeroed buffers of one shape, ``count`` at most: ``take`` waits while all are out.

    The first is allocated at once (the first append needs it), the others on a side
    thread: their page faults are slow, and overlap the first buffer's filling. If memory
    runs out there, the stream is warned and goes on with the buffers it has.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, count: int, what: str) -> None:
        self._what = what  # "slab", "run buffer": for the warning
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._free.put(preallocated(shape, dtype))
        self._allocation_error: BaseException | None = None
        if count > 1:
            threading.Thread(
                target=self._allocate, args=(shape, dtype, count - 1), name="zarr-stream-alloc", daemon=True
            ).start()

    def take(self, check: Callable[[], None]) -> np.ndarray:
        """A free buffer; while none is, wait, running ``check`` often."""
        return take(self._free, lambda: self._check_allocation(check))

    def put(self, buffer: np.ndarray) -> None:
        """Give a buffer back for reuse."""
        self._free.put(buffer)

    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype, count: int) -> None:
        try:
            for _ in range(count):
                self._free.put(preallocated(shape, dtype))
        except Exception as error:  # MemoryError: the caller warns while it waits for a buffer
            self._allocation_error = error

    def _check_allocation(self, check: Callable[[], None]) -> None:
        error, self._allocation_error = self._allocation_error, None
        if error is not None:
            warnings.warn(
                f"could not allocate every {self._what} ({error!r}); the stream goes on with those it "
                "has, encoding and writing less in parallel",
                RuntimeWarning,
                stacklevel=2,
            )
        check()


class FrameScatter:
    """Copies frames into a chunk-major view: ``(*frame grid, frames, *frame chunk)``.

    Each frame is cut into its chunks' tiles on the way: the one copy a frame gets.
    """

    def __init__(self, layout: Layout) -> None:
        fnd = layout.frame_ndim
        self._pieces = frame_pieces(layout.frame_shape, layout.chunks[layout.ndim - fnd :])
        # (frames, g0, c0, g1, c1) -> (g0, g1, frames, c0, c1): the view's order of a frame run
        self._perm = (*(1 + 2 * j for j in range(fnd)), 0, *(2 + 2 * j for j in range(fnd)))

    def copy(self, view: np.ndarray, frames: np.ndarray | None) -> None:
        """Copy ``frames`` (``(n, *frame_shape)``) into ``view``, or zeros when None."""
        length = view.shape[len(self._perm) // 2]
        for piece in self._pieces:
            if frames is None:
                view[piece.target] = 0
            else:
                source = frames[(slice(None), *piece.source)]
                view[piece.target] = source.reshape(length, *piece.split).transpose(self._perm)


@dataclass(slots=True)
class Slab:
    """One slab: ``data`` has the layout's chunk-major buffer shape; ``filled`` frames are valid."""

    data: np.ndarray
    index: int
    filled: int = 0


class FrameBuffer:
    """Copies frames into recycled slabs and hands each full slab to ``on_full``.

    Parameters
    ----------
    layout
        Geometry of the array.
    dtype
        Array dtype; incoming frames are cast to it on copy.
    max_slabs
        Slabs allocated at most: the filling one plus those in flight.
    """

    def __init__(self, layout: Layout, dtype: np.dtype, max_slabs: int) -> None:
        self._layout = layout
        self._free = BufferPool(layout.buffer_shape, dtype, max_slabs, "slab")
        self._current: Slab | None = None
        self._next_index = 0
        self.frames = 0  # frames accepted so far
        self._scatter = FrameScatter(layout)
        self._fnd = layout.frame_ndim

    def start_at(self, slab_index: int) -> None:
        """Before any frame: the next frame is the first of slab ``slab_index``."""
        assert self._current is None and self.frames == 0
        self._next_index = slab_index
        self.frames = slab_index * self._layout.frames_per_slab

    def write(
        self,
        frames: np.ndarray,
        on_full: Callable[[Slab], None],
        check: Callable[[], None],
    ) -> None:
        """Copy ``frames`` (shape ``(n, *frame_shape)``) in; ``check`` runs while waiting for a slab."""
        position = 0
        per_slab = self._layout.frames_per_slab
        while position < len(frames):
            if self._current is None:
                data = self._free.take(check)
                self._current = Slab(data, self._next_index)
                self._next_index += 1
            slab = self._current
            count = min(len(frames) - position, per_slab - slab.filled)
            self._copy(slab.data, slab.filled, frames[position : position + count])
            slab.filled += count
            position += count
            self.frames += count
            if slab.filled == per_slab:
                self._current = None
                on_full(slab)

    def partial(self) -> Slab | None:
        """The filling slab, if it holds frames, with its unfilled frames set to the fill value.

        The slab stays the filling one: later frames go on filling it.
        """
        slab = self._current
        if slab is None or slab.filled == 0:
            return None
        self._copy(slab.data, slab.filled, None, count=self._layout.frames_per_slab - slab.filled)
        return slab

    def release(self, data: np.ndarray) -> None:
        """Return a slab's memory once its chunks are encoded and written."""
        self._free.put(data)

    def _copy(self, data: np.ndarray, first: int, frames: np.ndarray | None, count: int = 0) -> None:
        """Copy ``frames`` (or zeros, ``count`` of them) to frame positions ``first, first + 1, ...``."""
        count = len(frames) if frames is not None else count
        if self._layout.frames_per_step == 1:  # consecutive frames are consecutive depths: one run
            runs = [(first, 0, count)]
        else:
            runs = [(first + j, j, 1) for j in range(count)]
        whole = (slice(None),) * self._fnd
        for position, offset, length in runs:
            grid, t, inner = self._layout.frame_position(position)
            index: tuple[int | slice, ...] = (*grid, *whole, slice(t, t + length), *inner, *whole)
            self._scatter.copy(data[index], None if frames is None else frames[offset : offset + length])
