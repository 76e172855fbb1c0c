"""Resuming an array: where a new stream picks up what an earlier one stored.

A stored array ends with complete shard rows and, after a flush or a kill, one partial row
(its shards published as flushed versions). The new stream starts writing at the first
step of that partial row: it reads the row's steps back with zarr-python and appends them
again, so the row's shards are rewritten whole (replacing the earlier stream's versions,
which are adopted as this stream's own) and never cut short. The complete rows before it
are never touched. An array with several frames per step resumes after its last stored
step: frames a partial last step never got keep the fill value.

The arithmetic is here, without I/O; ``ArrayStream.resume`` does the reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zarr_stream.engine._layout import Layout
from zarr_stream.errors import SettingsError

__all__ = ["Restart", "check_same_array", "restart_at", "shards_from"]


@dataclass(frozen=True, slots=True)
class Restart:
    """Where a resumed array starts: ``start`` steps are kept as stored, ``reload`` steps from
    there are read back and appended again, ``frames`` of them at most (the rest are new)."""

    start: int
    reload: int
    frames: int

    @property
    def end(self) -> int:
        return self.start + self.reload


def restart_at(layout: Layout, stored_steps: int, keep_frames: int | None = None) -> Restart:
    """The restart of an array of ``layout`` that stores ``stored_steps`` steps, keeping
    ``keep_frames`` frames (all its steps' frames by default).

    >>> lay = Layout(shape=(0, 8, 8), chunks=(4, 8, 8), shard_counts=(2, 1, 1))  # 8 steps a row
    >>> restart_at(lay, 19)  # rows 0 and 1 complete, 3 steps of row 2 to read back
    Restart(start=16, reload=3, frames=3)
    >>> restart_at(lay, 16)  # every row complete: nothing to read back
    Restart(start=16, reload=0, frames=0)
    >>> restart_at(lay, 19, keep_frames=10)  # keep 10 frames: row 1 is read back, 2 of its steps
    Restart(start=8, reload=2, frames=2)
    >>> five = Layout(shape=(0, 5, 8, 8), chunks=(1, 5, 8, 8), shard_counts=(2, 1, 1, 1))
    >>> restart_at(five, 2, keep_frames=9)  # 5 frames a step: step 1 holds 4 of its 5
    Restart(start=0, reload=2, frames=9)
    """
    per_step = layout.frames_per_step
    keep = stored_steps * per_step if keep_frames is None else min(keep_frames, stored_steps * per_step)
    row_steps = layout.shard_shape[0]
    start = keep // per_step // row_steps * row_steps  # the row of the first position left to fill
    return Restart(start, -(-keep // per_step) - start, keep - start * per_step)


def shards_from(keys: list[str], first_row: int) -> list[str]:
    """The shard keys (relative to the array, ``c/<row>/...``) among ``keys`` in row
    ``first_row`` or later: the shards a resumed stream may replace.

    >>> shards_from(["c/0/0/0", "c/1/0/0", "c/2/1/0", "zarr.json"], 1)
    ['c/1/0/0', 'c/2/1/0']
    """
    found = []
    for key in keys:
        parts = key.split("/")
        if len(parts) >= 2 and parts[0] == "c" and parts[1].isdigit() and int(parts[1]) >= first_row:
            found.append(key)
    return found


def check_same_array(key: str, wanted: dict[str, Any], stored: dict[str, Any]) -> None:
    """Raise ``SettingsError`` naming what differs between the ``zarr.json`` the settings
    make (``wanted``) and the one stored, but the append dimension's length and the attributes."""

    def comparable(document: dict[str, Any]) -> dict[str, Any]:
        same = {k: v for k, v in document.items() if k != "attributes"}
        same["shape"] = list(document.get("shape", []))[1:]
        return same

    want, have = comparable(wanted), comparable(stored)
    differ = sorted(
        (name for name in set(want) | set(have) if want.get(name) != have.get(name)),
        key=lambda name: (_TELLING.index(name) if name in _TELLING else len(_TELLING), name),
    )
    if differ:
        name = differ[0]  # the one that says most; a dtype or a chunk change changes the codecs too
        also = f" (and {', '.join(map(repr, differ[1:]))})" if differ[1:] else ""
        raise SettingsError(
            f"resume continues an array with the same settings: {name!r}{also} of the array {key!r} "
            f"differs. Got {_short(want.get(name))} from the settings, {_short(have.get(name))} stored."
        )


_TELLING = ["node_type", "data_type", "shape", "dimension_names", "chunk_grid", "fill_value", "codecs"]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."
