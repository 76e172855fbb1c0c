"""SIGKILL at random moments: the store opens, holds every flushed frame, and no zarr.json is torn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import kill_child

HERE = Path(__file__).parent


@pytest.mark.parametrize("seed", range(12))
def test_sigkill_at_random_points(tmp_path, seed):
    store, progress = tmp_path / "s.zarr", tmp_path / "progress"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "kill_child.py"), str(store), str(progress), str(seed)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        deadline = time.monotonic() + 60
        while not progress.exists():
            assert child.poll() is None, "the child stream died before it started"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(np.random.default_rng(seed).uniform(0.0, 1.5))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    flushed = int(progress.read_text())
    print(f"seed {seed}: killed with {flushed} frames flushed")

    for document in store.rglob("zarr.json"):
        json.loads(document.read_text())  # never torn
    array = zarr.open_array(str(store), path="raw", mode="r")
    assert array.shape[0] >= flushed
    got = array[...]
    expected = np.stack([kill_child.frame(i) for i in range(array.shape[0])]) if array.shape[0] else got
    np.testing.assert_array_equal(got, expected)
