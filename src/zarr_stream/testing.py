"""Synthetic camera frames: a background of 100, a few dozen bright Gaussian spots, Poisson noise."""

from __future__ import annotations

import numpy as np

__all__ = ["camera_frames"]


def camera_frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` distinct uint16 frames that compress like real fluorescence images.

    >>> frames = camera_frames(2, 64, 48)
    >>> frames[0].shape, frames[0].dtype.name
    ((64, 48), 'uint16')
    """
    rng = np.random.default_rng(seed)
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    frames = []
    for _ in range(count):
        expected = np.full((height, width), 100.0, dtype=np.float32)
        for _ in range(int(rng.integers(24, 48))):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            sigma, peak = rng.uniform(2, 8), rng.uniform(200, 3000)
            ys = slice(max(0, int(cy - 4 * sigma)), min(height, int(cy + 4 * sigma) + 1))
            xs = slice(max(0, int(cx - 4 * sigma)), min(width, int(cx + 4 * sigma) + 1))
            expected[ys, xs] += peak * np.exp(-((y[ys] - cy) ** 2 + (x[:, xs] - cx) ** 2) / (2 * sigma**2))
        frames.append(rng.poisson(expected).astype(np.uint16))
    return frames
