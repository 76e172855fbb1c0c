"""Downsampling kernels: blocks of 2 (or 1, at an odd edge) along each downsampled axis. No I/O.

A level's pixel is made from the block of the level above that it covers: 2 x 2 in the
frame (y, x), times 2 along z when z is downsampled. At an odd edge the block is shorter
(1 along that axis): its pixel is made from the pixels that are there, so nothing bleeds in
from beyond the edge, or from another channel or time point.

The work is split so that a frame's two z-planes need not arrive together: ``accumulate``
reduces the frame axes of each contributing plane into an *accumulator* and adds it to what
is there; ``finish`` turns the accumulator into the level's pixels once every plane is in.

- ``mean``: sums in a wider type, divided once at the end, so integers are rounded down
  (``floor(sum / count)``, also for negative values) exactly as a numpy reference on the whole
  block gives. Counts are powers of two (1, 2, 4 or 8), so integer division is a shift.
  64-bit integers cannot be summed in a wider numpy type: their accumulator keeps ``a >> 3``
  and ``a & 7`` apart (two sums that cannot overflow) and recombines them exactly.
- ``min`` / ``max``: the block's minimum or maximum.
- ``decimate``: the block's first pixel (even indices); only the first z-plane contributes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zarr_stream.settings import DownsampleMethod

__all__ = ["Reducer", "half"]


def half(size: int) -> int:
    """A downsampled extent: odd sizes round up (the edge pixel is a block of one).

    >>> half(5), half(4), half(1)
    (3, 2, 1)
    """
    return -(-size // 2)


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    """The accumulator of a mean: wide enough for 8 values, or the dtype itself for 64-bit ints."""
    if dtype.kind == "f":
        return np.dtype("float64")
    if dtype.itemsize == 8:
        return dtype
    wider = {1: "int16", 2: "int32", 4: "int64"}[dtype.itemsize]
    return np.dtype(wider)


class Reducer:
    """One method's arithmetic for frames of ``frame_shape`` in ``dtype``.

    Accumulators have shape ``(parts, *half frame)``: ``parts`` is 2 for the mean of 64-bit
    integers (see the module docstring), 1 otherwise.

    Examples
    --------
    >>> r = Reducer("mean", np.dtype("uint8"), (3, 3))
    >>> plane = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype="uint8")
    >>> out = np.empty((2, 2), "uint8")
    >>> r.finish(r.accumulate([plane], None), z_count=1, out=out)
    >>> out.tolist()  # floor(12 / 4), floor(9 / 2); floor(15 / 2), 9
    [[3, 4], [7, 9]]
    """

    def __init__(
        self,
        method: DownsampleMethod,
        dtype: np.dtype,
        frame_shape: tuple[int, ...],
        halve_frame: bool = True,
    ) -> None:
        self.method = method
        self.dtype = dtype
        self._split = method == "mean" and dtype.kind in "iu" and dtype.itemsize == 8
        self._acc_dtype = _sum_dtype(dtype) if method == "mean" else dtype
        self.parts = 2 if self._split else 1
        self._halve = halve_frame  # False: only z is halved, frames keep their shape
        self.half_shape = tuple(half(size) for size in frame_shape) if halve_frame else frame_shape
        # log2 of each output pixel's count of frame pixels (1 or 2 along each axis)
        shift = np.zeros(self.half_shape, dtype="int64")
        for axis, size in enumerate(frame_shape if halve_frame else ()):
            along = np.ones(half(size), dtype="int64")
            if size % 2:
                along[-1] = 0
            shift += along.reshape([-1 if a == axis else 1 for a in range(len(frame_shape))])
        self._shift = shift
        # even frames: every pixel has the same count, and a scalar shift is faster
        self._uniform = int(shift.flat[0]) if shift.size and (shift == shift.flat[0]).all() else None

    @property
    def accumulator_dtype(self) -> np.dtype:
        return self._acc_dtype

    @property
    def accumulator_bytes(self) -> int:
        """Bytes of one frame's accumulator."""
        return self.parts * int(np.prod(self.half_shape)) * self._acc_dtype.itemsize

    def accumulate(self, planes: Sequence[np.ndarray], acc: np.ndarray | None) -> np.ndarray:
        """Reduce the frame axes of ``planes`` (frames, or the same band of rows of each) and
        combine them into ``acc`` (the same band of an accumulator, changed in place), or into
        a new accumulator. Returns the accumulator."""
        for plane in planes:
            reduced = self._reduce_frame(np.asarray(plane).astype(self.dtype, copy=False))
            if acc is None:
                acc = reduced
            else:
                self._combine(acc, reduced)
        assert acc is not None
        return acc

    def add_fill(self, acc: np.ndarray) -> None:
        """Combine a plane of the fill value (0) into ``acc``: one that lies in the level above
        but was never written (the stream ended before it)."""
        if self.method in ("min", "max"):
            self._combine(acc, np.zeros_like(acc))

    def finish(self, acc: np.ndarray, z_count: int, out: np.ndarray, rows: slice = slice(None)) -> None:
        """Write the level's pixels of ``acc`` (the band ``rows`` of the frame) to ``out``.

        ``z_count`` is how many planes the block has along z: 1 or 2 (planes of fill value
        included, planes beyond the edge not).
        """
        if self.method != "mean":
            out[...] = acc[0]
            return
        shift = (
            self._shift[rows] + (z_count - 1)
            if self._uniform is None
            else np.int64(self._uniform + z_count - 1)
        )
        if self.dtype.kind == "f":
            np.multiply(acc[0], np.ldexp(1.0, -shift), out=out, casting="unsafe")
        elif self._split:
            high = np.left_shift(acc[0], (3 - shift).astype(self.dtype))
            np.add(high, np.right_shift(acc[1], shift.astype(self.dtype)), out=out)
        else:
            np.right_shift(acc[0], shift.astype(self._acc_dtype), out=out, casting="unsafe")

    def _reduce_frame(self, plane: np.ndarray) -> np.ndarray:
        """One plane (or band of rows) in ``dtype`` -> an accumulator of it."""
        if self.method == "decimate":
            kept = plane[(slice(None, None, 2),) * plane.ndim] if self._halve else plane
            return kept[np.newaxis].copy()
        if self._split:
            parts = np.stack([np.right_shift(plane, 3), np.bitwise_and(plane, 7)])
        else:
            parts = plane[np.newaxis]  # widened by the first pairing, which halves it first
        if not self._halve:
            return parts.astype(self._acc_dtype)  # a copy: it is summed into in place
        for axis in range(1, parts.ndim):
            parts = self._pairs(parts, axis)
        return parts

    def _pairs(self, data: np.ndarray, axis: int) -> np.ndarray:
        """Combine neighbours along ``axis``: index 2i with 2i + 1 (a lone last index stays)."""
        index: list[slice] = [slice(None)] * data.ndim
        index[axis] = slice(0, None, 2)
        out = data[tuple(index)].astype(self._acc_dtype)
        index[axis] = slice(1, None, 2)
        odd = data[tuple(index)]
        index[axis] = slice(0, odd.shape[axis])
        self._combine(out[tuple(index)], odd)
        return out

    def _combine(self, acc: np.ndarray, other: np.ndarray) -> None:
        if self.method == "min":
            np.minimum(acc, other, out=acc)
        elif self.method == "max":
            np.maximum(acc, other, out=acc)
        elif self.method == "mean":
            np.add(acc, other, out=acc)
