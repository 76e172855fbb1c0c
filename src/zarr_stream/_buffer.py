"""Frames into slabs: the per-array frame buffer. No I/O.

A slab is one chunk deep along the append dimension (see :mod:`zarr_stream._layout`).
Slab memory is recycled: a slab handed to the encoder comes back through
:meth:`FrameBuffer.release`, and at most ``max_slabs`` are ever allocated, so
``append`` blocks (backpressure) instead of growing memory without bound.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zarr_stream._layout import Layout

__all__ = ["FrameBuffer", "Slab"]


@dataclass(slots=True)
class Slab:
    """One slab of frames: ``data`` has the layout's slab shape; ``filled`` frames are valid."""

    data: np.ndarray
    index: int
    filled: int = 0

    @property
    def frames(self) -> np.ndarray:
        """The slab as a stack of frames (a view)."""
        return self.data.reshape(-1, *self.data.shape[-self._frame_ndim() :])

    def _frame_ndim(self) -> int:
        return 2 if self.data.ndim >= 3 else 1


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
        self._dtype = dtype
        self._max_slabs = max_slabs
        self._allocated = 0
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._current: Slab | None = None
        self._next_index = 0
        self.frames = 0  # frames accepted so far

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
                self._current = Slab(self._acquire(check), self._next_index)
                self._next_index += 1
            slab = self._current
            take = min(len(frames) - position, per_slab - slab.filled)
            slab.frames[slab.filled : slab.filled + take] = frames[position : position + take]
            slab.filled += take
            position += take
            self.frames += take
            if slab.filled == per_slab:
                self._current = None
                on_full(slab)

    def partial(self) -> Slab | None:
        """The filling slab, if it holds frames, with its unfilled tail set to the fill value.

        The slab stays the filling one: later frames go on filling it.
        """
        slab = self._current
        if slab is None or slab.filled == 0:
            return None
        slab.frames[slab.filled :] = 0
        return slab

    def release(self, data: np.ndarray) -> None:
        """Return a slab's memory once its chunks are encoded."""
        self._free.put(data)

    def _acquire(self, check: Callable[[], None]) -> np.ndarray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._allocated < self._max_slabs:
            self._allocated += 1
            return np.empty(self._layout.slab_shape, dtype=self._dtype)
        while True:
            check()
            try:
                return self._free.get(timeout=0.05)
            except queue.Empty:
                continue
