from __future__ import annotations

import pytest

import zarr_stream as zs


@pytest.fixture(autouse=True)
def _small_pool():
    """Two encoder threads and two slabs in flight, as on the reference machine."""
    with zs.config.set({"encode_threads": 2, "slabs_in_flight": 2}):
        yield
