"""SIGKILL at random moments, inside flush() and inside close(): the store opens, holds every
flushed frame, no zarr.json is torn, and what the stream staged is harmless and removable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

import kill_child
import zarr_stream as zs
from zarr_stream.cli import info
from zarr_stream.storage import leftovers

HERE = Path(__file__).parent
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


def run_child(store: Path, progress: Path, where: str, seed: int) -> None:
    child = subprocess.Popen(
        [sys.executable, str(HERE / "kill_child.py"), str(store), str(progress), where, str(seed)],
        env=CHILD_ENV,
    )
    try:
        if where == "anywhere":  # the parent picks the moment
            deadline = time.monotonic() + 60
            while not progress.exists():
                assert child.poll() is None, "the child stream died before it started"
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(np.random.default_rng(seed).uniform(0.0, 1.5))
            child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=120) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()


def assert_survived(store: Path, flushed: int, with_records: int = 0) -> None:
    for document in store.rglob("zarr.json"):
        json.loads(document.read_text())  # never torn
    array = zarr.open_array(str(store), path="raw", mode="r")
    assert array.shape[0] >= flushed
    got = array[...]
    expected = np.stack([kill_child.frame(i) for i in range(array.shape[0])]) if array.shape[0] else got
    np.testing.assert_array_equal(got, expected)
    # the records of every flushed frame, and of no frame the array does not show
    records = zs.read_frame_metadata(store, "raw")
    assert with_records <= len(records) <= array.shape[0]
    for i, record in enumerate(records):
        assert record in ({}, kill_child.frame_record(i)), (i, record)


def assert_resumes(store: Path, raw: bool) -> None:
    """A resumed stream continues right after the frames the killed one left, records too."""
    shown = zarr.open_array(str(store), path="raw", mode="r").shape[0]
    records = zs.read_frame_metadata(store, "raw")
    with zs.ZarrStream(kill_child.settings(str(store), resume=True, raw=raw)) as stream:
        for i in range(shown, shown + 7):
            stream.append(kill_child.frame(i), metadata=kill_child.frame_record(i))
            if i == shown + 3:
                stream.flush()
    array = zarr.open_array(str(store), path="raw", mode="r")
    np.testing.assert_array_equal(array[...], np.stack([kill_child.frame(i) for i in range(shown + 7)]))
    resumed = zs.read_frame_metadata(store, "raw")
    assert resumed[: len(records)] == records  # every record kept, and the frames without one
    assert resumed[len(records) : shown] == [{}] * (shown - len(records))
    assert resumed[shown:] == [kill_child.frame_record(i) for i in range(shown, shown + 7)]


def assert_leftovers_harmless(store: Path) -> None:
    """Readers list only the array; `info` names what was staged; overwrite=True removes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        members = dict(zarr.open_group(str(store), mode="r").members(max_depth=None))
    assert set(members) <= {
        "raw",
        "raw.frame_metadata",
        "raw.frame_metadata/json",
        "raw.frame_metadata/spans",
    }
    staged = leftovers(store)
    lines: list[str] = []
    info(str(store), write=lines.append)
    assert len([line for line in lines if line.startswith("leftover: ")]) == len(staged)
    array = zs.ArraySettings(
        key="raw", dimensions=[zs.Dimension("t", size=0, chunk=1), zs.Dimension("y", size=2, chunk=2)]
    )
    zs.ZarrStream(zs.StreamSettings(store=store, arrays=[array], overwrite=True)).close()
    assert not leftovers(store)


@pytest.mark.parametrize("where", ["anywhere", "flush", "close"])
@pytest.mark.parametrize("seed", range(8))
def test_sigkill(tmp_path, where, seed):
    progress = tmp_path / "progress"
    run_child(tmp_path / "s.zarr", progress, where, seed)
    state = json.loads(progress.read_text())
    store = Path(state["store"])
    print(
        f"{where} seed {seed}: killed with {state['flushed']} frames flushed, after {state['tries']} "
        f"{where} calls returned first; {len(leftovers(store))} staging folders left"
    )
    assert_survived(store, state["flushed"], min(state["records"], state["flushed"]))
    assert_resumes(store, raw=seed % 2 == 1)
    assert_leftovers_harmless(store)
