"""One OME-NGFF image: its levels, each an array stream, each fed by the level above.

Frames go to level 0 as they come; a level's frames are reduced (on the encoder pool, see
``zarr_stream.multiscale``) while the caller's thread copies them in, and the frames they
complete go on to the next level, and so on down, in the same call. A flush publishes every
level; close finishes the frames still waiting for their second z-plane first. The image
group's ``zarr.json`` (the OME metadata and the user's attributes) is written at open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np
import numpy.typing as npt

from zarr_stream.config import Tuning
from zarr_stream.engine._pipeline import ArrayStream
from zarr_stream.errors import BackgroundError, SettingsError, UnknownKeyError
from zarr_stream.metadata import GroupDocument, image_attributes, read_document
from zarr_stream.metadata._array_document import stored_frames
from zarr_stream.multiscale import ImagePlan, LevelFeeder, Reducer
from zarr_stream.settings import ArraySettings, check_not_reserved, json_attributes
from zarr_stream.storage import Backend

__all__ = ["ImageStream"]


class ImageStream:
    """Streams frames into an OME-NGFF image at ``settings.key``. One caller thread at a time."""

    def __init__(self, settings: ArraySettings, backend: Backend, pool: Executor, tuning: Tuning) -> None:
        plan = ImagePlan.of(settings)
        self._plan = plan
        self.key = settings.key
        self.levels: list[ArrayStream] = []
        try:
            for level in plan.levels:
                self.levels.append(ArrayStream(level, backend, pool, tuning))
        except BaseException:
            for stream in self.levels:
                stream.close(publish=False)
            raise
        method = settings.multiscale.method if settings.multiscale is not None else None
        dtype = np.dtype(settings.dtype)
        self._feeders = [
            LevelFeeder(geometry, Reducer(method, dtype, geometry.frame_shape, geometry.halve_frame), pool)
            for geometry in plan.geometries
            if method is not None
        ]
        for above, below, geometry in zip(self.levels, self.levels[1:], plan.geometries, strict=False):
            # a level never shows more than the level above covers: they grow on their own threads
            below.document.cap = _cap(above, geometry.z == 0)
            above.document.followers.append(below.document)
        name = settings.key.rsplit("/", 1)[-1] or "image"
        ome = image_attributes(
            name,
            settings.stored_dimensions,
            plan.factors,
            method,
            settings.channels,
            np.dtype(settings.dtype),
        )
        self.document = GroupDocument(settings.key, backend, fixed=ome)
        self.document.attributes = dict(settings.attributes or {})
        self._failure: BaseException | None = None
        self._refeed: tuple[Any, int, int] | None = None  # what a resume feeds again (see resume)

    @property
    def level_keys(self) -> list[str]:
        return [level.key for level in self.levels]

    @property
    def frames(self) -> int:
        """Frames accepted so far (at level 0)."""
        return self.levels[0].frames

    @property
    def resumed_frames(self) -> int:
        """The frames the image holds once :meth:`reload` has run (at level 0)."""
        return self.levels[0].resumed_frames

    @property
    def failure(self) -> BaseException | None:
        """The exception that failed the image (a level, or the reduction), if one did."""
        return self._failure or next((lv.failure for lv in self.levels if lv.failure is not None), None)

    def check(self) -> None:
        """Raise the image's failure, if any."""
        for level in self.levels:
            level.check()
        if self._failure is not None:
            raise BackgroundError(
                f"writing image {self.key!r} failed, and the stream writes no more: {self._failure!r}"
            ) from self._failure

    def append(self, data: npt.ArrayLike) -> None:
        """Check ``data`` against level 0 and take its frames into every level. A bad call takes nothing."""
        self.take(self.levels[0].checked_frames(data))

    def take(self, frames: np.ndarray) -> None:
        """Take a block of frames checked by level 0's ``checked_frames`` into every level."""
        self.check()
        self._guarded(self._cascade, 0, frames)

    def flush(self) -> None:
        """Publish every level as it stands (see ``zarr_stream.multiscale._feeder``)."""
        self.check()
        for level in self.levels:
            level.flush()

    def close(self, publish: bool = True) -> None:
        """Finish the levels and publish them (unless ``publish`` is False or the image failed),
        release every level in any case, then raise the failure, if there was one."""
        try:
            if publish and self.failure is None:
                self._guarded(self._finish_levels)
        finally:
            first: BaseException | None = None
            for level in self.levels:  # every level is released, whatever fails
                try:
                    level.close(publish=publish and self.failure is None)
                except BaseException as error:
                    first = first or error
        self.check()
        if first is not None:
            raise first

    def set_attributes(self, attributes: Mapping[str, Any], key: str | None = None) -> None:
        """Merge ``attributes`` into the image group's ``zarr.json`` (or a level's, by its key)."""
        if key is not None and key != self.key:
            if key not in self.level_keys:
                raise UnknownKeyError(
                    f"key must name the image {self.key!r} or a level {self.level_keys}. Got {key!r}."
                )
            self.levels[self.level_keys.index(key)].set_attributes(attributes)
            return
        self.check()
        update = json_attributes(attributes, "attributes")
        check_not_reserved(update)
        self._guarded(self.document.merge_attributes, update)

    def resume(self, reader: Any, stored: dict[str, Any]) -> None:
        """Before any frame, and before the documents are written: continue the image stored at
        the key (its group's ``zarr.json`` is ``stored``).

        Level 0 keeps every frame stored. The levels below restart at the latest step ``R``
        of level 0 where no target of any level waits for a plane (an even step where z is
        the append dimension) and that every level's stored frames cover: each keeps what
        ``R`` made of it, and :meth:`reload` feeds level 0's frames from ``R`` through the
        levels again, which remakes what a killed stream left unfinished.
        """
        ome = stored.get("attributes", {}).get("ome")
        if ome != self.document.fixed.get("ome"):
            raise SettingsError(
                f"resume continues an image with the same settings: the OME metadata of {self.key!r} "
                f"differs. Got {json.dumps(self.document.fixed.get('ome'))[:300]} from the settings, "
                f"{json.dumps(ome)[:300]} stored."
            )
        documents = [read_document(reader, level.key) for level in self.levels]
        missing = [level.key for level, doc in zip(self.levels, documents, strict=True) if doc is None]
        if missing:
            raise SettingsError(f"resume needs every level of the image {self.key!r}. Got none at {missing}.")
        per_step = [level.layout.frames_per_step for level in self.levels]
        stored_levels = [
            stored_frames(doc, step) for doc, step in zip(documents, per_step, strict=True) if doc is not None
        ]
        halves = [geometry.z == 0 for geometry in self._plan.geometries] if self._feeders else []
        period = 2 ** sum(halves)

        def made(steps: int) -> list[int]:
            """The frames of each level that ``steps`` steps of level 0 make (a multiple of period)."""
            frames = []
            for level, step_frames in enumerate(per_step):
                frames.append(steps * step_frames)
                if level < len(halves) and halves[level]:
                    steps //= 2
            return frames

        steps = stored_levels[0] // per_step[0] // period * period
        while steps > 0 and any(m > s for m, s in zip(made(steps), stored_levels, strict=True)):
            steps -= period
        kept = made(steps)
        for index, (level, document) in enumerate(zip(self.levels, documents, strict=True)):
            assert document is not None
            level.resume(reader, document, keep_frames=None if index == 0 else kept[index])
        for index, feeder in enumerate(self._feeders):
            feeder.start_at(kept[index], kept[index + 1])
        self._refeed = (reader, kept[0], stored_levels[0])

    def reload(self) -> None:
        """After the documents are written: each level's kept partial row again, then level 0's
        frames from the restart step fed through the levels below (see :meth:`resume`)."""
        for level in self.levels:
            level.reload()
        if self._refeed is None or not self._feeders:
            return
        reader, start, end = self._refeed
        self._refeed = None
        for frames in self.levels[0].read_frames(reader, start, end):
            made = self._feeders[0].feed(frames)()
            if len(made):
                self._guarded(self._cascade, 1, made)

    def write_documents(self, durable: bool) -> None:
        """Write the image group's ``zarr.json`` and every level's."""
        self.document.write(durable)
        for level in self.levels:
            level.write_documents(durable)

    def _cascade(self, index: int, frames: np.ndarray) -> None:
        """Take ``frames`` into level ``index``, and what they complete into the levels below."""
        below: Callable[[], np.ndarray] | None = None
        if index < len(self._feeders):
            below = self._feeders[index].feed(frames)  # reduced on the pool while level ``index`` copies
        try:
            self.levels[index].take(frames)
        finally:
            made = below() if below is not None else None  # the tasks read ``frames``: wait for them
        if made is not None and len(made):
            self._cascade(index + 1, made)

    def _finish_levels(self) -> None:
        for index, feeder in enumerate(self._feeders):
            made = feeder.close()
            if len(made):
                self._cascade(index + 1, made)

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Run a step; its failure fails the image."""
        try:
            step(*args)
        except BaseException as error:
            if self._failure is None and all(level.failure is None for level in self.levels):
                self._failure = error
            if not isinstance(error, Exception):
                raise
            self.check()
            raise


def _cap(above: ArrayStream, halved: bool) -> Callable[[], int]:
    """The longest append dimension the level below ``above`` may show."""

    def cap() -> int:
        extent = above.document.metadata.shape[0]
        return -(-extent // 2) if halved else extent

    return cap
