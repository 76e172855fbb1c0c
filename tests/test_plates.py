"""HCS plates: an OME-NGFF 0.5 plate of wells of fields, each field an image streamed like any
array, mixed with flat arrays and images; validated by ome-zarr-models, read back by zarr."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import zarr
from ome_zarr_models.v05.hcs import HCS
from ome_zarr_models.v05.image import Image

import zarr_stream as zs
from helpers import napari_channels
from pyramid_reference import reference_levels

D = zs.Dimension


def field_array(**extra) -> zs.ArraySettings:
    dims = [
        D("t", kind="time", chunk=2),
        D("c", kind="channel", size=2),
        D("y", size=33, chunk=16),
        D("x", size=20, chunk=8),
    ]
    return zs.ArraySettings(dimensions=dims, multiscale=zs.Multiscale(), **extra)


def plate(**extra) -> zs.Plate:
    settings = {
        "key": "screen/plate",
        "name": "plate 1",
        "rows": ["A", "B"],
        "columns": ["1", "2", "3"],
        "acquisitions": [zs.Acquisition(id=0, name="first"), zs.Acquisition(id=3, description="again")],
        "wells": [
            zs.Well(
                row="A",
                column="1",
                fields=[
                    zs.FieldOfView(path="0", acquisition=0, array=field_array()),
                    zs.FieldOfView(path="1", acquisition=3, array=field_array()),
                ],
            ),
            zs.Well(
                row="B", column="3", fields=[zs.FieldOfView(path="0", acquisition=0, array=field_array())]
            ),
        ],
    }
    return zs.Plate(**{**settings, **extra})


def validate_plate(path, key):
    with warnings.catch_warnings():  # ome-zarr-models notes the version it reads from "ome", not "plate"
        warnings.filterwarnings("ignore", message="'version' field not specified in plate metadata")
        return HCS.from_zarr(zarr.open_group(path, path=key, mode="r"))


def test_a_plate_of_fields_with_flat_arrays_and_an_image_round_trips_and_validates(tmp_path):
    path = tmp_path / "plate.zarr"
    flat = zs.ArraySettings(key="raw", dimensions=[D("t", chunk=3), D("x", size=10, chunk=4)])
    image = zs.ArraySettings(key="overview", dimensions=field_array().dimensions, ngff=True)
    settings = zs.StreamSettings(store=path, arrays=[flat, image], plates=[plate()])
    rng = np.random.default_rng(0)
    written = {}
    keys = ["screen/plate/A/1/0", "screen/plate/A/1/1", "screen/plate/B/3/0", "overview"]
    with zs.ZarrStream(settings) as stream:
        for round_ in range(3):
            for i, key in enumerate(keys):
                frames = rng.integers(1, 4000, (1 + (round_ + i) % 4, 33, 20), dtype="uint16")
                stream.append(frames, key=key)
                written.setdefault(key, []).append(frames)
            stream.append(np.arange(20, dtype="uint16").reshape(2, 10), key="raw")
            stream.flush()
            validate_plate(path, "screen/plate")  # valid at every flush
    hcs = validate_plate(path, "screen/plate")
    metadata = zarr.open_group(path, path="screen/plate", mode="r").attrs["ome"]
    assert metadata["version"] == "0.5"
    plate_meta = metadata["plate"]
    assert plate_meta["name"] == "plate 1"
    assert [w["path"] for w in plate_meta["wells"]] == ["A/1", "B/3"]
    assert [(w["rowIndex"], w["columnIndex"]) for w in plate_meta["wells"]] == [(0, 0), (1, 2)]
    assert plate_meta["field_count"] == 2
    assert plate_meta["acquisitions"] == [
        {"id": 0, "maximumfieldcount": 1, "name": "first"},
        {"id": 3, "maximumfieldcount": 1, "description": "again"},
    ]
    well = zarr.open_group(path, path="screen/plate/A/1", mode="r").attrs["ome"]["well"]
    assert well == {"images": [{"path": "0", "acquisition": 0}, {"path": "1", "acquisition": 3}]}
    assert len(list(hcs.well_groups)) == 2
    for key, blocks in written.items():
        group = zarr.open_group(path, path=key, mode="r")
        Image.from_zarr(group)
        frames = np.concatenate(blocks)
        steps = -(-len(frames) // 2)
        level0 = np.zeros((steps * 2, 33, 20), "uint16")
        level0[: len(frames)] = frames
        ome = group.attrs["ome"]
        expected = reference_levels(
            level0.reshape(steps, 2, 33, 20), ome, "mean" if key != "overview" else ""
        )
        for dataset, reference in zip(ome["multiscales"][0]["datasets"], expected, strict=True):
            np.testing.assert_array_equal(group[dataset["path"]][:], reference)
    np.testing.assert_array_equal(
        zarr.open_array(path, path="raw")[:], np.tile(np.arange(20).reshape(2, 10), (3, 1))
    )


def test_plate_and_well_attributes_merge_beside_their_ome_metadata(tmp_path):
    path = tmp_path / "attrs.zarr"
    with zs.ZarrStream(zs.StreamSettings(store=path, plates=[plate()])) as stream:
        stream.set_attributes({"operator": "ab"}, key="screen/plate")
        stream.set_attributes({"treated": True}, key="screen/plate/A/1")
        stream.set_attributes({"row": "A"}, key="screen/plate/A")
        with pytest.raises(zs.SettingsError, match="'ome' is reserved"):
            stream.set_attributes({"ome": {}}, key="screen/plate")
    assert zarr.open_group(path, path="screen/plate").attrs["operator"] == "ab"
    assert zarr.open_group(path, path="screen/plate/A/1").attrs["treated"] is True
    assert zarr.open_group(path, path="screen/plate/A").attrs["row"] == "A"
    validate_plate(path, "screen/plate")


def well(row="A", column="1", paths=("0",), acquisition=0):
    return zs.Well(
        row=row,
        column=column,
        fields=[zs.FieldOfView(path=p, acquisition=acquisition, array=field_array()) for p in paths],
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: plate(wells=[well(row="C")]), r"well 'C/1' is in row 'C', not one of \['A', 'B'\]"),
        (
            lambda: plate(wells=[well(column="9")]),
            r"well 'A/9' is in column '9', not one of \['1', '2', '3'\]",
        ),
        (lambda: plate(wells=[well(), well()]), "wells must be unique. Got 'A/1' twice."),
        (
            lambda: well(paths=("0", "0")),
            "field paths must be unique in a well. Got '0' twice in well 'A/1'.",
        ),
        (
            lambda: plate(wells=[well(acquisition=7)]),
            r"acquisition must be one of the plate's \[0, 3\]. Got 7",
        ),
        (
            lambda: plate(wells=[well(acquisition=None)]),
            r"must name its acquisition when the plate has several \[0, 3\]",
        ),
        (lambda: plate(rows=["A-1"]), "plate row name must be alphanumeric .* Got 'A-1'."),
        (lambda: plate(columns=["1", "1"]), "plate columns must be unique. Got '1' twice."),
        (lambda: plate(rows=[]), "plate rows must be a non-empty list of names"),
        (lambda: well(paths=("f_1",)), "field path must be alphanumeric .* Got 'f_1'."),
        (
            lambda: zs.Well(row="A", column="1"),
            "a well must have at least one field. Got none in well 'A/1'.",
        ),
        (
            lambda: plate(acquisitions=[zs.Acquisition(id=1), zs.Acquisition(id=1)]),
            "acquisition ids must be unique. Got 1 twice.",
        ),
        (
            lambda: zs.FieldOfView(path="0", array=field_array(key="x")),
            "a field's array keeps the default key ''",
        ),
        (
            lambda: zs.StreamSettings(
                store="s.zarr",
                arrays=[zs.ArraySettings(key="screen/plate/x", dimensions=field_array().dimensions)],
                plates=[plate()],
            ),
            "an array cannot be at or under a plate",
        ),
        (
            lambda: zs.StreamSettings(store="s.zarr", plates=[plate(wells=[])]),
            "arrays must name at least one array",
        ),
    ],
)
def test_plates_that_break_an_ome_ngff_must_rule_raise_at_construction(tmp_path, monkeypatch, make, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zs.SettingsError, match=message):
        make()
    assert not (tmp_path / "s.zarr").exists()


def test_a_stream_with_only_a_plate_needs_no_flat_array(tmp_path):
    path = tmp_path / "only.zarr"
    one = plate(wells=[well()], acquisitions=[zs.Acquisition(id=0)])
    with zs.ZarrStream(zs.StreamSettings(store=path, plates=[one])) as stream:
        stream.append(np.ones((4, 33, 20), "uint16"))  # the one field: no key needed
    np.testing.assert_array_equal(
        zarr.open_array(path, path="screen/plate/A/1/0/0")[:], np.ones((2, 2, 33, 20))
    )
    validate_plate(path, "screen/plate")


def test_napari_ome_zarr_reader_tiles_the_plate_at_every_level(tmp_path):
    pytest.importorskip("napari_ome_zarr")
    path = tmp_path / "napari.zarr"
    one = plate(wells=[well()], acquisitions=[zs.Acquisition(id=0)])
    with zs.ZarrStream(zs.StreamSettings(store=path, plates=[one])) as stream:
        stream.append(np.ones((4, 33, 20), "uint16"))
    field = zarr.open_group(path, path="screen/plate/A/1/0", mode="r")
    rows, columns = 2, 3  # the plate's grid of wells, each as large as a field
    channels = napari_channels(path / "screen/plate")
    assert len(channels) == field["0"].shape[1]
    for _, data in channels:
        assert [level.shape for level in data] == [
            (field[k].shape[0], rows * field[k].shape[2], columns * field[k].shape[3])
            for k in sorted(field.array_keys())
        ]
        np.testing.assert_array_equal(data[0][:, :33, :20], 1)  # well A/1, the top left tile
