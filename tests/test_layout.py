"""Property tests of the pure chunk/shard arithmetic."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from zarr_stream._layout import Layout, ceil_div


@st.composite
def layouts(draw):
    ndim = draw(st.integers(2, 5))
    shape = (draw(st.integers(0, 9)), *(draw(st.integers(1, 9)) for _ in range(ndim - 1)))
    chunks = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    shards = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    return Layout(shape=shape, chunks=chunks, shard_counts=shards)


@given(layouts(), st.integers(0, 4))
def test_slab_chunks_tile_the_slab_once_with_distinct_shard_slots(layout, slab_index):
    covered = np.zeros(layout.slab_shape, dtype=int)
    slots = set()
    for placement in layout.slab_chunks(slab_index):
        covered[placement.region] += 1
        assert 0 <= placement.inner_index < layout.chunks_per_shard
        assert placement.shard_coords[0] == layout.shard_row_of_slab(slab_index)
        slots.add((placement.shard_coords, placement.inner_index))
        region_shape = covered[placement.region].shape
        assert all(0 < n <= c for n, c in zip(region_shape[1:], layout.chunks[1:], strict=True))
    assert (covered == 1).all()
    assert len(slots) == math.prod(
        ceil_div(s, c) for s, c in zip(layout.shape[1:], layout.chunks[1:], strict=True)
    )


@given(layouts(), st.integers(0, 40))
def test_every_slot_of_a_shard_row_is_used_at_most_once(layout, rows):
    seen = set()
    for slab in range(layout.shard_counts[0]):
        for p in layout.slab_chunks(rows * layout.shard_counts[0] + slab):
            key = (p.shard_coords, p.inner_index)
            assert key not in seen
            seen.add(key)
    assert layout.completes_shard_row(rows * layout.shard_counts[0] + layout.shard_counts[0] - 1)


@given(layouts(), st.integers(0, 200))
def test_extent_holds_the_frames(layout, frames):
    extent = layout.extent(frames)
    assert extent * layout.frames_per_step >= frames
    assert (extent - 1) * layout.frames_per_step < frames or frames == 0
    assert layout.frames_per_slab == layout.chunks[0] * layout.frames_per_step
    assert math.prod(layout.frame_shape) * layout.frames_per_step * layout.chunks[0] == math.prod(
        layout.slab_shape
    )
