"""The frames the live-reader test writes, and what a reader may see of them."""

from __future__ import annotations

import math

import numpy as np

FRAME = (64, 48)


def frame(i: int) -> np.ndarray:
    """Frame ``i``: distinct for every i, and never 0 (the fill value) anywhere."""
    base = np.arange(FRAME[0] * FRAME[1], dtype=np.uint32).reshape(FRAME) * 2654435761
    return (((base >> 7) + i * 977) % 65535 + 1).astype(np.uint16)


def matches(got: np.ndarray, first_step: int, steps: int, shape: tuple[int, ...]) -> bool:
    """Whether ``got``, steps ``first_step`` on of an array of ``steps`` steps, holds the written frames.

    Every frame before the last step must be exact. A flush pads the last step with fill value,
    so there a frame may also read as 0 where it was not flushed yet, element by element (its
    chunks may come from shards published at different flushes), but never as anything else.
    """
    per_step = math.prod(shape[1:-2])
    frames = got.reshape(-1, *FRAME)
    for j, value in enumerate(frames):
        i = first_step * per_step + j
        expected = frame(i)
        if i < (steps - 1) * per_step + 1:
            if not np.array_equal(value, expected):
                return False
        elif not np.all((value == expected) | (value == 0)):
            return False
    return True
