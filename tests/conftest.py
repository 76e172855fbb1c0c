from __future__ import annotations

import pytest

import zarr_stream as zs


@pytest.fixture(autouse=True)
def _small_pool():
    """Two encoder threads and two slabs in flight, as on the reference machine.

    Test frames are small, so ``min_block_bytes`` and ``in_place_slab_bytes`` are 0:
    compressed arrays take the tile encoding and, on local disk, write their chunks in
    place, as big frames do by default. The ``engine`` fixture runs a test all three ways.
    """
    settings = {"encode_threads": 2, "slabs_in_flight": 2, "min_block_bytes": 0, "in_place_slab_bytes": 0}
    with zs.config.set(settings):
        yield


ENGINES = {
    "tiles": {"min_block_bytes": 0, "in_place_slab_bytes": 0},  # written in place as frames come
    "held": {"min_block_bytes": 0, "in_place_slab_bytes": 2**62},  # slabs held compressed until full
    "slabs": {"min_block_bytes": 2**62},  # raw slabs, compressed chunk by chunk
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    """Compressed arrays tile by tile (Blosc block per frame tile), in place or held, or from raw slabs."""
    with zs.config.set(ENGINES[request.param]):
        yield request.param
