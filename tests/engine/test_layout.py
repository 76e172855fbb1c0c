"""Property tests of the pure chunk/shard arithmetic."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from zarr_stream.engine._layout import Layout


@st.composite
def layouts(draw):
    ndim = draw(st.integers(2, 5))
    shape = (draw(st.integers(0, 9)), *(draw(st.integers(1, 9)) for _ in range(ndim - 1)))
    chunks = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    shards = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    return Layout(shape=shape, chunks=chunks, shard_counts=shards)


@given(layouts(), st.integers(0, 4))
def test_slab_chunks_cover_the_grid_once_with_distinct_shard_slots(layout, slab_index):
    seen_cells = set()
    slots = set()
    for placement in layout.slab_chunks(slab_index):
        assert 0 <= placement.inner_index < layout.chunks_per_shard
        assert placement.shard_coords[0] == layout.shard_row_of_slab(slab_index)
        assert all(0 <= g < n for g, n in zip(placement.grid_coords, layout.grid, strict=True))
        seen_cells.add(placement.grid_coords)
        slots.add((placement.shard_coords, placement.inner_index))
    assert len(seen_cells) == len(slots) == math.prod(layout.grid)


@given(layouts())
def test_frame_pieces_put_every_element_in_its_chunk_cell(layout):
    """Copying numbered frames into a chunk-major slab and reading chunks back gives the array."""
    from zarr_stream.engine._buffer import FrameBuffer

    buffer = FrameBuffer(layout, np.dtype("int64"), max_slabs=1)
    n = layout.frames_per_slab
    frames = np.arange(n * math.prod(layout.frame_shape), dtype="int64").reshape(n, *layout.frame_shape) + 1
    full = []
    buffer.write(frames, full.append, lambda: None)
    (slab,) = full
    # rebuild the slab in array order from its chunks
    padded = [g * c for g, c in zip(layout.grid, layout.chunks[1:], strict=True)]
    rebuilt = np.zeros((layout.chunks[0], *padded), dtype="int64")
    for placement in layout.slab_chunks(0):
        region = (slice(None),) + tuple(
            slice(g * c, (g + 1) * c) for g, c in zip(placement.grid_coords, layout.chunks[1:], strict=True)
        )
        rebuilt[region] = slab.data[placement.grid_coords]
    valid = rebuilt[(slice(None), *(slice(0, s) for s in layout.shape[1:]))]
    np.testing.assert_array_equal(valid.reshape(n, *layout.frame_shape), frames)
    outside = rebuilt.copy()
    outside[(slice(None), *(slice(0, s) for s in layout.shape[1:]))] = 0
    assert not outside.any()  # ragged-edge cells hold the fill value


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
