"""Feeding a level from the one above: frames of level k in, frames of level k + 1 out.

Frames arrive in acquisition order (C order over the non-frame dimensions as acquired). A
frame of level k + 1 (a *target*) is made from the frames of level k it covers: one, or two
when z is downsampled (z = 2i and 2i + 1; one at an odd edge, and one for ``decimate``).
The z dimension is a middle dimension, or the append dimension itself (consecutive steps
are paired, also when it is unbounded). Targets complete in their own acquisition order
(a target completes with its last z-plane, and that plane comes later for later targets),
so each block of frames completes a run of consecutive targets, which is appended to the
next level as one block.

A target that has some planes but not all keeps an accumulator (see ``._kernels``): a
quarter-sized frame, at most one step's worth. Frames of a block are reduced on the encoder
pool, cut into bands of rows when they are big, so both cores work on one frame; the caller
waits for the block's results (it copies the same frames into level k meanwhile).

At a flush nothing is emitted: a target appears in level k + 1 once its planes are all in
level k. At close, targets still waiting are finished: a missing plane inside the level's
last step is fill value (it reads as 0 in level k), one beyond it is past the edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import numpy as np

from zarr_stream.multiscale._kernels import Reducer, half

__all__ = ["LevelFeeder", "LevelGeometry"]

#: Bytes of level-k frames reduced by one pool task at least (below: several targets per task).
TASK_BYTES = 2 << 20


@dataclass(frozen=True, slots=True)
class LevelGeometry:
    """The acquisition-order shape of level k, and which of its non-frame axes is z.

    ``steps`` is the append dimension's size (0: unbounded); ``middle`` the sizes between it
    and the frame's; ``z`` is None (z not halved), 0 (the append dimension: steps are paired)
    or 1 + the index of a middle dimension (the acquisition index of z).
    """

    steps: int
    middle: tuple[int, ...]
    frame_shape: tuple[int, ...]
    z: int | None
    halve_frame: bool = True  # the next level halves the frame's dimensions (y, x)

    @property
    def frames_per_step(self) -> int:
        return math.prod(self.middle)

    def below(self) -> LevelGeometry:
        """The geometry of the next level."""
        steps, middle = self.steps, list(self.middle)
        if self.z == 0:
            steps = half(steps)
        elif self.z is not None:
            middle[self.z - 1] = half(middle[self.z - 1])
        frame = tuple(half(s) for s in self.frame_shape) if self.halve_frame else self.frame_shape
        return LevelGeometry(steps, tuple(middle), frame, None)


@dataclass(slots=True)
class _Target:
    """One frame of the next level: where its planes are and how many it needs."""

    index: int  # its frame index in the next level, in arrival order
    planes: list[int]  # positions in the block of the planes arriving now
    complete: bool  # its last plane arrives in this block
    z_count: int  # planes along z it is made of (1 or 2)
    starts_accumulator: bool = False  # incomplete, and these are its first planes


class LevelFeeder:
    """Turns the frames of one level into the frames of the next, as they arrive."""

    def __init__(self, geometry: LevelGeometry, reducer: Reducer, pool: Executor) -> None:
        self._geometry = geometry
        self._next = geometry.below()
        self._reducer = reducer
        self._pool = pool
        self._frames = 0  # frames of this level taken so far
        self._emitted = 0  # frames of the next level made so far
        self._waiting: dict[int, np.ndarray] = {}  # accumulators of targets still missing planes
        frame_bytes = math.prod(geometry.frame_shape) * reducer.dtype.itemsize
        rows = self._next.frame_shape[0] if len(geometry.frame_shape) == 2 else 1
        # big frames are cut in two bands of the next level's rows, so that two encoders share one
        split = rows >= 2 and frame_bytes >= 2 * TASK_BYTES
        self._bands = [slice(0, rows // 2), slice(rows // 2, None)] if split else [slice(None)]
        self._per_task = max(1, TASK_BYTES // max(1, frame_bytes))

    def start_at(self, frames: int, emitted: int) -> None:
        """Before any frame: this level has ``frames`` frames, that made the next level's first
        ``emitted``, with no target waiting (a resumed image, restarted where none waits)."""
        assert not self._waiting and self._frames == 0
        self._frames, self._emitted = frames, emitted

    @property
    def emitted(self) -> int:
        """Frames of the next level made so far."""
        return self._emitted

    def feed(self, frames: np.ndarray) -> Callable[[], np.ndarray]:
        """Start reducing ``frames`` (``(n, *frame_shape)``, read until the result is taken);
        returns the call that waits and gives the next level's frames they complete."""
        targets = self._targets(len(frames))
        self._frames += len(frames)
        return self._run(targets, frames)

    def close(self) -> np.ndarray:
        """Finish the targets still waiting (see the module docstring); their frames, in order."""
        last_step = self._last_step()
        targets = []
        for index in sorted(self._waiting):
            fill = self._partner_in_last_step(index, last_step)
            if fill:
                self._reducer.add_fill(self._waiting[index])
            targets.append(_Target(index, [], True, 2 if fill else 1))
        return self._run(targets, np.empty((0, *self._geometry.frame_shape), self._reducer.dtype))()

    # --- arithmetic ------------------------------------------------------------------------

    def _targets(self, count: int) -> list[_Target]:
        """The targets the next ``count`` frames contribute to, in order, each with its planes."""
        geometry, below = self._geometry, self._next
        per_step = geometry.frames_per_step
        frames = np.arange(self._frames, self._frames + count)
        steps, rest = np.divmod(frames, per_step)
        coords = list(np.unravel_index(rest, geometry.middle)) if geometry.middle else []
        z, size = self._z_of(steps, coords)
        if z is None:
            last = np.ones(count, dtype=bool)
            z_count = np.ones(count, dtype="int64")
        elif self._reducer.method == "decimate":
            last = z % 2 == 0
            z_count = np.ones(count, dtype="int64")
        else:
            has_partner = (z // 2 * 2 + 1 < size) if size else np.ones(count, dtype=bool)
            last = (z % 2 == 1) | ~has_partner
            z_count = np.where(has_partner, 2, 1)
        if geometry.z == 0:
            steps = steps // 2
        elif geometry.z is not None:
            coords[geometry.z - 1] = coords[geometry.z - 1] // 2
        inner = np.ravel_multi_index(coords, below.middle) if below.middle else np.zeros(count, "int64")
        indices = steps * below.frames_per_step + inner
        contributes = np.ones(count, dtype=bool) if z is None or self._reducer.method != "decimate" else last
        targets: dict[int, _Target] = {}
        for position in np.flatnonzero(contributes):
            index = int(indices[position])
            target = targets.get(index)
            if target is None:
                target = targets[index] = _Target(index, [], False, int(z_count[position]))
            target.planes.append(int(position))
            target.complete = target.complete or bool(last[position])
        return sorted(targets.values(), key=lambda t: t.index)

    def _z_of(self, steps: np.ndarray, coords: list[np.ndarray]) -> tuple[np.ndarray | None, int]:
        """Each frame's z, and z's size (0: unbounded), or None when z is not downsampled."""
        geometry = self._geometry
        if geometry.z is None:
            return None, 0
        if geometry.z == 0:
            return steps, geometry.steps
        return coords[geometry.z - 1], geometry.middle[geometry.z - 1]

    def _last_step(self) -> int:
        return (self._frames - 1) // self._geometry.frames_per_step if self._frames else -1

    def _partner_in_last_step(self, index: int, last_step: int) -> bool:
        """Whether the missing second plane of target ``index`` lies in the level (as fill value)."""
        geometry = self._geometry
        if geometry.z == 0:
            return 2 * (index // self._next.frames_per_step) + 1 <= last_step
        return True  # a middle z: its second plane (there is one: else it was complete) is in this step

    # --- work on the pool --------------------------------------------------------------------

    def _run(self, targets: list[_Target], frames: np.ndarray) -> Callable[[], np.ndarray]:
        """Submit the work of ``targets``; the returned call waits for it and gives the new frames."""
        first = self._emitted
        complete = [t for t in targets if t.complete]
        assert [t.index for t in complete] == list(range(first, first + len(complete))), "in order"
        out = np.empty((len(complete), *self._next.frame_shape), self._reducer.dtype)
        self._emitted += len(complete)
        shape = (self._reducer.parts, *self._next.frame_shape)
        units: list[tuple[_Target, slice, np.ndarray | None]] = []
        for target in targets:
            if target.complete:
                acc = self._waiting.pop(target.index, None)
            else:  # taken by the tasks below, band by band; complete in a later block
                acc = self._waiting.get(target.index)
                if acc is None:
                    acc = self._waiting[target.index] = np.empty(shape, self._reducer.accumulator_dtype)
                    target.starts_accumulator = True
            units.extend((target, band, acc) for band in self._bands)
        per_task = max(1, self._per_task // max([1, *(len(t.planes) for t in targets)]))
        futures: list[Future[None]] = [
            self._pool.submit(self._work, units[i : i + per_task], frames, out, first)
            for i in range(0, len(units), per_task)
        ]

        def result() -> np.ndarray:
            for future in futures:
                future.result()
            return out

        return result

    def _work(
        self,
        units: list[tuple[_Target, slice, np.ndarray | None]],
        frames: np.ndarray,
        out: np.ndarray,
        first: int,
    ) -> None:
        """Reduce each unit's planes (a band of rows of one target) into its accumulator, or its frame."""
        reducer = self._reducer
        for target, band, acc in units:
            source = _source_rows(band) if self._geometry.halve_frame else band
            planes = [frames[p][source] for p in target.planes]
            if target.starts_accumulator:
                assert acc is not None
                acc[(slice(None), band)] = reducer.accumulate(planes, None)
                continue
            part = None if acc is None else acc[(slice(None), band)]
            reduced = reducer.accumulate(planes, part)
            if target.complete:
                reducer.finish(reduced, target.z_count, out[target.index - first][band], band)


def _source_rows(band: slice) -> slice:
    """The rows of the level above that the band of the next level's rows is made from."""
    if band == slice(None):
        return band
    return slice(2 * band.start, None if band.stop is None else 2 * band.stop)
