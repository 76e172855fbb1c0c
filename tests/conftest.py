from __future__ import annotations

import pytest

import zarr_stream as zs


@pytest.fixture(autouse=True)
def _small_pool():
    """Two encoder threads and two slabs in flight, as on the reference machine.

    Test frames are small, so ``min_block_bytes`` is 0: compressed arrays take the tile
    encoding, as big frames do by default. The ``engine`` fixture runs a test both ways.
    """
    with zs.config.set({"encode_threads": 2, "slabs_in_flight": 2, "min_block_bytes": 0}):
        yield


@pytest.fixture(params=["tiles", "slabs"])
def engine(request):
    """Compressed arrays encoded tile by tile (Blosc block per frame tile) or from raw slabs."""
    with zs.config.set({"min_block_bytes": 0 if request.param == "tiles" else 2**62}):
        yield request.param
