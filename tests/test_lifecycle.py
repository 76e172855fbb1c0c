"""Several threads share a stream safely; a stream nobody closed is closed anyway, with a warning."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import zarr_stream as zs
from helpers import dims_from, read

SHAPE = (0, 3, 24, 20)


LZ4 = zs.Compression(codec="lz4")


def settings(path, compression=LZ4):
    array = zs.ArraySettings(
        key="raw", dimensions=dims_from(SHAPE, (4, 2, 16, 8), (2, 1, 1, 2)), compression=compression
    )
    return zs.StreamSettings(store=path, arrays=[array])


def tagged(tag):
    """A frame whose every element is ``tag``: a torn frame shows two tags."""
    return np.full(SHAPE[2:], tag, "uint16")


def our_threads():
    return [t for t in threading.enumerate() if t.name.startswith("zarr-stream")]


@pytest.mark.parametrize("compression", [zs.Compression(codec="lz4"), None], ids=["lz4", "raw"])
def test_four_threads_appending_at_once_lose_and_tear_nothing(tmp_path, compression, engine):
    """Case 6: concurrent appends used to tear frames, lose some and stall for a minute."""
    if compression is None and engine != "slabs":
        pytest.skip("uncompressed arrays are written from raw slabs whatever the engine")
    path = tmp_path / "s.zarr"
    per_thread, start = 60, threading.Barrier(4)
    with zs.ZarrStream(settings(path, compression)) as stream:

        def run(thread):
            rng = np.random.default_rng(thread)
            start.wait()
            i = 0
            while i < per_thread:
                block = min(per_thread - i, int(rng.integers(1, 4)))
                stream.append(np.stack([tagged(1 + thread * 1000 + i + k) for k in range(block)]))
                i += block
                if rng.random() < 0.1:
                    stream.flush()

        threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    frames = read(path, "raw").reshape(-1, *SHAPE[2:])
    assert len(frames) == 4 * per_thread
    tags = frames[:, 0, 0]
    assert (frames == tags[:, None, None]).all(), "a frame was torn"
    assert sorted(tags.tolist()) == sorted(1 + t * 1000 + i for t in range(4) for i in range(per_thread))
    for t in range(4):  # each thread's frames in the order it appended them
        mine = tags[(tags > t * 1000) & (tags <= t * 1000 + per_thread)]
        assert mine.tolist() == sorted(mine.tolist())


def test_a_stream_collected_without_close_is_closed_with_a_warning(tmp_path):
    """Case 4: its unflushed frames used to be lost, silently, and its threads left running."""
    path = tmp_path / "s.zarr"
    stream = zs.ZarrStream(settings(path))
    frames = np.stack([tagged(i + 1) for i in range(10)])
    stream.append(frames)
    with pytest.warns(ResourceWarning, match="was not closed; closing it now"):  # noqa: PT031
        del stream  # the last reference: collected here, or by gc.collect() if in a cycle
        gc.collect()
    np.testing.assert_array_equal(read(path, "raw").reshape(-1, *SHAPE[2:])[:10], frames)
    deadline = time.monotonic() + 5
    while our_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not our_threads()


LEFT_OPEN = """
import sys, threading, numpy as np, zarr_stream as zs
sys.path.insert(0, {tests!r})
from test_lifecycle import settings, tagged
stream = zs.ZarrStream(settings({store!r}))
stream.append(np.stack([tagged(i + 1) for i in range(5)]))

def late():  # still streaming when the main thread ends: the stream is not closed under it
    import time
    time.sleep(0.5)
    stream.append(np.stack([tagged(i + 1) for i in range(5, 9)]))

threading.Thread(target=late).start()
"""


def test_a_stream_open_at_exit_is_closed_once_every_thread_is_done_with_it(tmp_path):
    path = tmp_path / "s.zarr"
    script = LEFT_OPEN.format(tests=str(tmp_path.parent.parent), store=str(path))
    script = script.replace(
        repr(str(tmp_path.parent.parent)), repr(str(__import__("pathlib").Path(__file__).parent))
    )
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "was not closed; closing it now" in done.stderr
    np.testing.assert_array_equal(
        read(path, "raw").reshape(-1, *SHAPE[2:])[:9], np.stack([tagged(i + 1) for i in range(9)])
    )
