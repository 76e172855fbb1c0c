"""OME-NGFF images and pyramids streamed end to end, read back by zarr, ome-zarr-models and
napari-ome-zarr's reader, and compared with a numpy reference on the whole appended data."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import zarr
from ome_zarr_models.v05.image import Image

import zarr_stream as zs
from helpers import napari_channels
from pyramid_reference import reference_levels

D = zs.Dimension

# name -> (acquisition dimensions, storage_order, frames appended)
CASES = {
    "tyx": (
        [
            D("t", kind="time", chunk=3, shard=2),
            D("y", size=37, chunk=8, shard=2),
            D("x", size=50, chunk=8, shard=3),
        ],
        None,
        13,
    ),
    "tcyx": (
        [
            D("t", kind="time", chunk=2, shard=2, unit="second", scale=0.5),
            D("c", kind="channel", size=3, chunk=2),
            D("y", size=21, chunk=4, shard=2, unit="micrometer", scale=0.65),
            D("x", size=18, chunk=4, unit="micrometer", scale=0.65),
        ],
        None,
        17,
    ),
    "tczyx": (
        [
            D("t", kind="time", chunk=1, shard=3),
            D("c", kind="channel", size=2, chunk=1),
            D("z", size=5, chunk=1, shard=2, unit="micrometer", scale=2.0),
            D("y", size=19, chunk=4, shard=2),
            D("x", size=22, chunk=8),
        ],
        None,
        34,
    ),
    "zyx-unbounded": (
        [D("z", chunk=2, shard=2), D("y", size=30, chunk=8, shard=2), D("x", size=26, chunk=8)],
        None,
        11,
    ),
    "tzcyx-as-ome": (
        [
            D("t", kind="time", chunk=2),
            D("z", size=3, chunk=1),
            D("c", kind="channel", size=2, chunk=1),
            D("y", size=17, chunk=4, shard=2),
            D("x", size=20, chunk=4),
        ],
        "ome",
        23,
    ),
}
METHODS = [("uint16", m) for m in ("mean", "min", "max", "decimate")] + [
    ("int16", "mean"),
    ("int16", "min"),
    ("float32", "mean"),
]
BLOCKS = (1, 4, 2, 7, 3)  # frames per append, in turn
FLUSH_EVERY = 2  # appends


def frames_for(dims: list[zs.Dimension], count: int, dtype: str, seed: int = 0) -> np.ndarray:
    """``count`` frames without zeros, so that a frame not written yet (fill value) stands out."""
    rng = np.random.default_rng(seed)
    shape = (count, *(d.size for d in dims[-2:]))
    if dtype == "float32":
        return rng.uniform(1, 1000, shape).astype(dtype)
    low = -30000 if dtype == "int16" else 1
    data = rng.integers(low, 30000, shape, dtype=dtype)
    data[data == 0] = 1
    return data


def stored_level0(dims: list[zs.Dimension], storage_order, frames: np.ndarray) -> np.ndarray:
    """What level 0 must hold: the frames in acquisition order, a last partial step as fill, stored order."""
    middle = [d.size for d in dims[1:-2]]
    per_step = int(np.prod(middle)) if middle else 1
    steps = -(-len(frames) // per_step)
    data = np.zeros((steps * per_step, *frames.shape[1:]), frames.dtype)
    data[: len(frames)] = frames
    data = data.reshape(steps, *middle, *frames.shape[1:])
    if storage_order == "ome":
        rank = {"time": 0, "channel": 1, "other": 1, "space": 2}
        order = sorted(range(len(dims)), key=lambda i: rank[dims[i].kind])
        data = data.transpose(order)
    return data


def image_settings(path, dims, storage_order, dtype, method, key="img", **extra) -> zs.StreamSettings:
    array = zs.ArraySettings(
        key=key,
        dtype=dtype,
        dimensions=dims,
        storage_order=storage_order,
        multiscale=zs.Multiscale(method=method),
        **extra,
    )
    return zs.StreamSettings(store=path, arrays=[array], overwrite=True)


def read_levels(path, key="img") -> tuple[dict, list[np.ndarray]]:
    group = zarr.open_group(path, path=key, mode="r")
    ome = group.attrs["ome"]
    return ome, [group[d["path"]][:] for d in ome["multiscales"][0]["datasets"]]


def assert_frames_final_or_fill(level: np.ndarray, reference: np.ndarray, whole_frames: bool = True) -> int:
    """Each frame a flushed level holds is its final value, or all fill value (each pixel, unless
    ``whole_frames``); returns how many frames are final."""
    overlap = tuple(slice(0, min(a, b)) for a, b in zip(level.shape, reference.shape, strict=True))
    got = level[overlap].reshape(-1, *level.shape[-2:])
    want = reference[overlap].reshape(-1, *level.shape[-2:])
    axes = (1, 2) if whole_frames else ()
    final = np.all(got == want, axis=axes)
    fill = np.all(got == 0, axis=axes)
    assert np.all(final | fill), f"frames {np.flatnonzero(~(final | fill))} are neither final nor fill"
    assert all(s <= r for s, r in zip(level.shape, reference.shape, strict=True))
    return int(np.all(final.reshape(len(got), -1), axis=1).sum())


@pytest.mark.parametrize(("dtype", "method"), METHODS, ids=[f"{d}-{m}" for d, m in METHODS])
@pytest.mark.parametrize("case", list(CASES))
def test_levels_equal_the_numpy_reference_at_every_flush_and_after_close(tmp_path, case, dtype, method):
    dims, storage_order, count = CASES[case]
    frames = frames_for(dims, count, dtype)
    path = tmp_path / "image.zarr"
    final_ome = None
    with zs.ZarrStream(image_settings(path, dims, storage_order, dtype, method)) as stream:
        # the final levels, for the checks at each flush
        ome = zarr.open_group(path, path="img", mode="r").attrs["ome"]
        final_ome = ome
        expected = reference_levels(stored_level0(dims, storage_order, frames), ome, method)
        written, finals = 0, None
        for i, block in zip(itertools.count(), itertools.cycle(BLOCKS)):
            if written >= count:
                break
            stream.append(frames[written : written + block])
            written = min(count, written + block)
            if i % FLUSH_EVERY == 1:
                stream.flush()
                _, levels = read_levels(path)
                flushed = stored_level0(dims, storage_order, frames[:written])
                np.testing.assert_array_equal(levels[0], flushed)
                counts = [
                    assert_frames_final_or_fill(lv, ref) for lv, ref in zip(levels, expected, strict=True)
                ]
                if finals is not None:
                    assert all(c >= p for c, p in zip(counts, finals, strict=True)), "a level lost frames"
                finals = counts
    ome, levels = read_levels(path)
    assert ome == final_ome
    assert len(levels) == len(expected) > 1
    for k, (level, reference) in enumerate(zip(levels, expected, strict=True)):
        assert level.shape == reference.shape, f"level {k}"
        np.testing.assert_array_equal(level, reference, err_msg=f"level {k}")
    Image.from_zarr(zarr.open_group(path, path="img", mode="r"))


def test_frames_one_by_one_and_in_one_block_write_the_same_image(tmp_path):
    dims, order, count = CASES["tczyx"]
    frames = frames_for(dims, count, "uint16", seed=3)
    stores = []
    for block in (1, count):
        path = tmp_path / f"block{block}.zarr"
        with zs.ZarrStream(image_settings(path, dims, order, "uint16", "mean")) as stream:
            for start in range(0, count, block):
                stream.append(frames[start : start + block])
        stores.append(read_levels(path)[1])
    for one, other in zip(*stores, strict=True):
        np.testing.assert_array_equal(one, other)


def test_the_image_metadata_names_axes_units_scales_and_centre_aligned_translations(tmp_path):
    dims, order, _ = CASES["tcyx"]
    path = tmp_path / "m.zarr"
    with zs.ZarrStream(image_settings(path, dims, order, "uint16", "mean", attributes={"who": "me"})):
        pass
    group = zarr.open_group(path, path="img", mode="r")
    assert group.attrs["who"] == "me"
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    (multiscale,) = ome["multiscales"]
    assert multiscale["axes"] == [
        {"name": "t", "type": "time", "unit": "second"},
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    assert multiscale["type"] == "mean"
    for k, dataset in enumerate(multiscale["datasets"]):
        assert dataset["path"] == str(k)
        transforms = dataset["coordinateTransformations"]
        assert transforms[0] == {"type": "scale", "scale": [0.5, 1.0, 0.65 * 2**k, 0.65 * 2**k]}
        if k:  # a level pixel's centre is the centre of the 2**k level-0 pixels it is made of
            assert transforms[1]["type"] == "translation"
            shift = (2**k - 1) / 2 * 0.65
            np.testing.assert_allclose(transforms[1]["translation"], [0, 0, shift, shift])
        else:
            assert len(transforms) == 1
    Image.from_zarr(group)


def test_decimated_levels_have_no_translation(tmp_path):
    dims, order, _ = CASES["tyx"]
    path = tmp_path / "d.zarr"
    with zs.ZarrStream(image_settings(path, dims, order, "uint16", "decimate")):
        pass
    datasets = zarr.open_group(path, path="img").attrs["ome"]["multiscales"][0]["datasets"]
    assert len(datasets) > 1 and all(len(d["coordinateTransformations"]) == 1 for d in datasets)


def test_ngff_without_multiscale_is_one_level_image(tmp_path):
    dims, order, count = CASES["tcyx"]
    frames = frames_for(dims, count, "uint16")
    path = tmp_path / "one.zarr"
    array = zs.ArraySettings(key="a/img", dimensions=dims, ngff=True)
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])) as stream:
        stream.append(frames)
    group = zarr.open_group(path, path="a/img", mode="r")
    assert [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]] == ["0"]
    assert "type" not in group.attrs["ome"]["multiscales"][0]
    np.testing.assert_array_equal(group["0"][:], stored_level0(dims, order, frames))
    assert list(group.array_keys()) == ["0"]  # nothing else (no staging folder) is listed
    Image.from_zarr(group)


def test_max_levels_counts_level_zero(tmp_path):
    dims, _order, _ = CASES["tyx"]
    path = tmp_path / "cap.zarr"
    array = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(max_levels=2))
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])):
        pass
    assert sorted(zarr.open_group(path, path="img").array_keys()) == ["0", "1"]


def test_napari_ome_zarr_reader_returns_every_level(tmp_path):
    pytest.importorskip("napari_ome_zarr")
    dims, order, count = CASES["tczyx"]
    frames = frames_for(dims, count, "uint16")
    path = tmp_path / "napari.zarr"
    with zs.ZarrStream(image_settings(path, dims, order, "uint16", "mean", key="")) as stream:
        stream.append(frames)
    _ome, levels = read_levels(path, key="")
    channels = napari_channels(path)
    assert len(channels) == dims[1].size
    for c, (_, data) in enumerate(channels):
        assert len(data) == len(levels)
        for got, level in zip(data, levels, strict=True):
            np.testing.assert_array_equal(got, level[:, c])


def test_set_attributes_works_on_every_node_and_the_ome_key_is_reserved(tmp_path):
    path = tmp_path / "nodes.zarr"
    dims, _order, count = CASES["tyx"]
    arrays = [
        zs.ArraySettings(
            key="a/b/raw", dimensions=[D("t", chunk=2), D("y", size=8, chunk=4), D("x", size=8, chunk=4)]
        ),
        zs.ArraySettings(
            key="a/img", dimensions=dims, multiscale=zs.Multiscale(max_levels=2), attributes={"s": 1}
        ),
    ]
    nodes = ["", "a", "a/b", "a/b/raw", "a/img", "a/img/0", "a/img/1"]
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=arrays)) as stream:
        stream.append(np.ones((3, 8, 8), "uint16"), key="a/b/raw")
        stream.append(frames_for(dims, count, "uint16"), key="a/img")
        for node in nodes:
            stream.set_attributes({"node": node}, key=node)
        before = {node: dict(zarr.open(path, path=node, mode="r").attrs) for node in nodes}
        for node in nodes:
            with pytest.raises(zs.SettingsError, match="the attribute key 'ome' is reserved"):
                stream.set_attributes({"ome": {"version": "0.4"}, "other": 1}, key=node)
        with pytest.raises(
            zs.UnknownKeyError, match=r"key must name a node of the stream \[.*'a/img/1'.*\]. Got 'a/c'"
        ):
            stream.set_attributes({"x": 1}, key="a/c")
        after = {node: dict(zarr.open(path, path=node, mode="r").attrs) for node in nodes}
        assert after == before
        stream.append(frames_for(dims, 2, "uint16"), key="a/img")  # the stream goes on
    for node in nodes:
        attrs = zarr.open(path, path=node, mode="r").attrs
        assert attrs["node"] == node
    image = zarr.open_group(path, path="a/img", mode="r")
    assert image.attrs["s"] == 1 and image.attrs["ome"]["version"] == "0.5"
    Image.from_zarr(image)


@pytest.mark.parametrize("seed", range(6))
def test_a_killed_stream_leaves_a_valid_image_with_its_flushed_frames_and_consistent_levels(tmp_path, seed):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import ome_kill_child

    here = Path(__file__).parent
    store, progress = tmp_path / "killed.zarr", tmp_path / "progress"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, str(here / "ome_kill_child.py"), str(store), str(progress), str(seed)], env=env
    )
    try:
        rng = np.random.default_rng(seed)
        wanted = int(rng.integers(2, 30))  # frames flushed at least, then a random moment more
        deadline = time.monotonic() + 120
        while not progress.exists() or json.loads(progress.read_text())["flushed"] < wanted:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.3))
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
    flushed = json.loads(progress.read_text())["flushed"]
    group = zarr.open_group(store, path="img", mode="r")
    Image.from_zarr(group)  # a valid OME-Zarr image, every level listed there
    ome, levels = read_levels(store)
    assert len(levels) > 1
    channels = ome_kill_child.CHANNELS
    steps = levels[0].shape[0]
    true = np.stack([ome_kill_child.frame(i) for i in range(steps * channels)]).reshape(
        steps, channels, *ome_kill_child.FRAME
    )
    expected = reference_levels(true, ome, "mean")
    assert steps * channels >= flushed
    got0 = levels[0].reshape(-1, *ome_kill_child.FRAME)
    np.testing.assert_array_equal(got0[:flushed], true.reshape(-1, *ome_kill_child.FRAME)[:flushed])
    # Frames after the last flush may show shard by shard (each shard whole): pixel by pixel,
    # each is final or fill value; and no level shows more than level 0.
    for level, reference in zip(levels, expected, strict=True):
        assert_frames_final_or_fill(level, reference, whole_frames=False)
    print(f"seed {seed}: killed after {flushed} flushed frames; level shapes {[lv.shape for lv in levels]}")
    # Resumed, the image goes on right after the frames it kept, at every level: it equals the
    # pyramid of all the frames, the kept ones and the new ones.
    kept = zs.read_frame_metadata(store, "img")  # none: the child gives no metadata
    assert kept == []
    shown = zarr.open_array(store, path="img/0", mode="r").attrs["zarr_stream"]["frames"]  # 2 a step
    assert flushed <= shown <= steps * channels
    with zs.ZarrStream(dataclasses.replace(ome_kill_child.settings(str(store)), resume=True)) as stream:
        stream.append(np.stack([ome_kill_child.frame(i) for i in range(shown, shown + 9)]))
    every = np.stack([ome_kill_child.frame(i) for i in range(shown + 9)])
    steps = -(-len(every) // channels)
    padded = np.zeros((steps * channels, *ome_kill_child.FRAME), np.uint16)
    padded[: len(every)] = every
    ome, levels = read_levels(store)
    expected = reference_levels(padded.reshape(steps, channels, *ome_kill_child.FRAME), ome, "mean")
    for level, reference in zip(levels, expected, strict=True):
        np.testing.assert_array_equal(level, reference)
    Image.from_zarr(zarr.open_group(store, path="img", mode="r"))


def test_channel_labels_and_colours_make_the_omero_block_napari_reads(tmp_path):
    pytest.importorskip("napari_ome_zarr")
    dims, _order, count = CASES["tcyx"]
    channels = [
        zs.Channel(label="DAPI", color="0000ff"),
        zs.Channel(label="GFP", color="00FF00", window=(10, 900)),
        zs.Channel(label="RFP"),
    ]
    path = tmp_path / "channels.zarr"
    array = zs.ArraySettings(dimensions=dims, ngff=True, channels=channels)
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])) as stream:
        stream.append(frames_for(dims, count, "uint16"))
    ome = zarr.open_group(path, mode="r").attrs["ome"]
    omero = ome["omero"]["channels"]
    assert [c["label"] for c in omero] == ["DAPI", "GFP", "RFP"]
    assert [c["color"] for c in omero] == ["0000FF", "00FF00", "FFFFFF"]
    assert omero[1]["window"] == {"min": 0.0, "max": 65535.0, "start": 10.0, "end": 900.0}
    Image.from_zarr(zarr.open_group(path, mode="r"))
    names = [name for name, _ in napari_channels(path)]
    assert [name.rsplit(": ", 1)[-1] for name in names] == [
        "DAPI",
        "GFP",
        "RFP",
    ]  # "image: DAPI", ...


@pytest.mark.parametrize(
    ("channels", "ngff", "message"),
    [
        ([zs.Channel(label="a")], True, r"Got 1 channels for channel dimensions of sizes \[3\], ngff=True"),
        ([zs.Channel(label=str(i)) for i in range(3)], False, "ngff=False"),
    ],
)
def test_channels_must_match_the_channel_dimension_of_an_image(channels, ngff, message):
    dims, _, _ = CASES["tcyx"]
    if not ngff:
        dims = [zs.Dimension(d.name, kind=d.kind, size=d.size, chunk=d.chunk, shard=d.shard) for d in dims]
    with pytest.raises(zs.SettingsError, match=message):
        zs.ArraySettings(dimensions=dims, ngff=ngff, channels=channels)
    with pytest.raises(zs.SettingsError, match="channel color must be 6 hex digits"):
        zs.Channel(label="x", color="red")
