"""A test kit for streams: synthetic camera frames, and what a reader must see after appending.

Use it in your own tests::

    frames = camera_frames(10, 64, 64)
    with zs.ZarrStream(settings) as stream:
        for frame in frames:
            stream.append(frame)
    assert_round_trip(settings.store, frames, key="raw")
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

__all__ = ["assert_round_trip", "camera_frames", "expected_array", "free_port", "moto_server"]


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


def expected_array(shape: Sequence[int], frames: npt.ArrayLike, fill_value: Any = 0) -> np.ndarray:
    """What a reader must see in an array of ``shape`` after ``frames`` were appended.

    ``frames`` holds every frame appended, in order: ``(count, *frame_shape)``, where the
    frame shape is the last dimensions of ``shape``. It is ``np.stack`` of the frames,
    reshaped to the array's dimensions, with the last step padded with ``fill_value``.

    >>> expected_array((0, 2, 3), np.ones((3, 3), "uint8")).tolist()
    [[[1, 1, 1], [1, 1, 1]], [[1, 1, 1], [0, 0, 0]]]
    """
    stacked = np.asarray(frames)
    frame_ndim = stacked.ndim - 1
    per_step = math.prod(shape[1 : len(shape) - frame_ndim])
    steps = -(-len(stacked) // per_step)
    flat = np.full((steps * per_step, *stacked.shape[1:]), fill_value, dtype=stacked.dtype)
    flat[: len(stacked)] = stacked
    return flat.reshape(steps, *shape[1:])


def assert_round_trip(store: Any, frames: Sequence[npt.ArrayLike] | np.ndarray, key: str = "") -> None:
    """Assert that zarr-python reads the array at ``key`` as ``np.stack(frames)``, and nothing else.

    ``store`` is what ``zarr.open_array`` takes (a path or a zarr Store). ``frames`` are
    every frame appended to the array, in order. Raises AssertionError on any difference
    in dtype, shape or values.
    """
    array = zarr.open_array(store, path=key, mode="r")
    stacked = np.stack([np.asarray(frame) for frame in frames]) if len(frames) else np.empty((0,))
    got = np.asarray(array[...])
    if not len(frames):
        assert got.size == 0, f"the array {key!r} holds {got.shape} where nothing was appended"
        return
    assert got.dtype == stacked.dtype, f"dtype of {key!r}: got {got.dtype}, appended {stacked.dtype}"
    expected = expected_array(array.shape, stacked, array.fill_value)
    np.testing.assert_array_equal(got, expected, err_msg=f"the array {key!r} of {store!r}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Run a local S3-compatible server (moto in server mode, ``pip install 'moto[server]'``)
    on 127.0.0.1 and a free port; yield its endpoint URL and process id; stop it.

    ``env`` is added to the server's environment (``{"INITIAL_NO_AUTH_ACTION_COUNT": "0"}``
    makes it check credentials). Clients need some credentials in their environment.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the moto server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield endpoint, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
