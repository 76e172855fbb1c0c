"""The pyramid's levels: the same count and shapes as acquire-zarr's for the same settings."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import zarr_stream as zs
from zarr_stream.multiscale import ImagePlan, level_count

D = zs.Dimension

# (name, size, chunk, shard, kind) per dimension, the first unbounded
GEOMETRIES = {
    "tyx": [("t", 0, 2, 1, "time"), ("y", 300, 32, 2, "space"), ("x", 200, 32, 2, "space")],
    "tcyx": [
        ("t", 0, 1, 1, "time"),
        ("c", 2, 1, 1, "channel"),
        ("y", 100, 16, 2, "space"),
        ("x", 130, 16, 4, "space"),
    ],
    "tzyx": [
        ("t", 0, 1, 1, "time"),
        ("z", 20, 4, 1, "space"),
        ("y", 64, 16, 2, "space"),
        ("x", 64, 16, 2, "space"),
    ],
    "anisotropic": [
        ("t", 0, 1, 1, "time"),
        ("z", 64, 8, 1, "space"),
        ("y", 48, 16, 1, "space"),
        ("x", 48, 16, 1, "space"),
    ],
    "odd": [("t", 0, 3, 1, "time"), ("y", 257, 64, 2, "space"), ("x", 129, 32, 3, "space")],
}
FRAMES = 4


def ours(geometry, max_levels=None) -> list[tuple[int, ...]]:
    dims = [D(n, kind=k, size=s, chunk=c, shard=sh) for n, s, c, sh, k in geometry]
    settings = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(max_levels=max_levels))
    return [tuple(d.size for d in level.dimensions) for level in ImagePlan.of(settings).levels]


def acquire_zarr_levels(tmp_path, geometry, max_levels=0) -> list[tuple[int, ...]]:
    az = pytest.importorskip("acquire_zarr")
    kinds = {
        "time": az.DimensionType.TIME,
        "channel": az.DimensionType.CHANNEL,
        "space": az.DimensionType.SPACE,
    }
    dims = [
        az.Dimension(name=n, kind=kinds[k], array_size_px=s, chunk_size_px=c, shard_size_chunks=sh)
        for n, s, c, sh, k in geometry
    ]
    array = az.ArraySettings(
        output_key="img",
        dimensions=dims,
        data_type=az.DataType.UINT16,
        downsampling_method=az.DownsamplingMethod.MEAN,
        max_levels=max_levels,
    )
    settings = az.StreamSettings()
    settings.store_path = str(tmp_path / "acquire.zarr")
    settings.arrays = [array]
    stream = az.ZarrStream(settings)
    frame_shape = tuple(s for _, s, *_ in geometry[-2:])
    per_step = int(np.prod([s for _, s, *_ in geometry[1:-2]] or [1]))
    for _ in range(FRAMES * per_step):
        stream.append(np.zeros(frame_shape, np.uint16))
    stream.close()
    group = zarr.open_group(tmp_path / "acquire.zarr", path="img", mode="r")
    shapes = [group[key].shape for key in sorted(group.array_keys(), key=int)]
    return [(0, *shape[1:]) for shape in shapes]  # the append dimension: unbounded in the plan


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_levels_and_shapes_are_acquire_zarrs(tmp_path, name):
    theirs = acquire_zarr_levels(tmp_path, GEOMETRIES[name])
    distinct = [shape for i, shape in enumerate(theirs) if i == 0 or shape != theirs[i - 1]]
    assert ours(GEOMETRIES[name]) == distinct  # "odd": acquire-zarr repeats its last level (see below)


def test_max_levels_is_acquire_zarrs_plus_one(tmp_path):
    geometry = GEOMETRIES["tyx"]
    assert ours(geometry, max_levels=2) == acquire_zarr_levels(tmp_path, geometry, max_levels=1)
    assert len(ours(geometry, max_levels=1)) == 1


def test_a_level_acquire_zarr_would_repeat_unchanged_is_not_written(tmp_path):
    # y has 4 chunks, x 4: two levels by acquire-zarr's count, but min(y, x) = 40 is not longer
    # than the larger chunk (100), so it would not halve: its "level 1" would equal level 0.
    geometry = [("t", 0, 1, 1, "time"), ("y", 40, 10, 1, "space"), ("x", 400, 100, 1, "space")]
    theirs = acquire_zarr_levels(tmp_path, geometry)
    assert len(theirs) > 1 and len(set(theirs)) == 1
    assert ours(geometry) == theirs[:1]


def test_an_unbounded_z_is_halved_at_every_level_and_the_count_follows_y_and_x():
    dims = (D("z", chunk=4), D("y", size=256, chunk=32), D("x", size=512, chunk=32))
    assert level_count(dims, None) == 4  # y has 8 chunks: 3 halvings
    plan = ImagePlan.of(zs.ArraySettings(dimensions=dims, multiscale=zs.Multiscale()))
    assert [g.z for g in plan.geometries] == [0, 0, 0]
    assert [f[0] for f in plan.factors] == [1, 2, 4, 8]


def test_shards_are_clipped_to_the_level_and_chunks_kept():
    dims = (D("t", chunk=2), D("y", size=512, chunk=64, shard=4), D("x", size=512, chunk=64, shard=4))
    plan = ImagePlan.of(zs.ArraySettings(dimensions=dims, multiscale=zs.Multiscale()))
    assert [lv.chunk_shape for lv in plan.levels] == [(2, 64, 64)] * 4
    assert [lv.shard_counts for lv in plan.levels] == [(1, 4, 4), (1, 4, 4), (1, 2, 2), (1, 1, 1)]
