"""What a stream may write over, what it refuses, and what it leaves behind (local stores)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import zarr
from zarr.storage import MemoryStore

import zarr_stream as zs
from helpers import dims_from, read
from zarr_stream.cli import main as cli

SHAPE = (0, 8, 8)


def settings(store, overwrite=False):
    array = zs.ArraySettings(key="raw", dimensions=dims_from(SHAPE, (2, 8, 8), (1, 1, 1)))
    return zs.StreamSettings(store=store, arrays=[array], overwrite=overwrite)


def tree(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() if p.is_file() else None for p in path.rglob("*")}


def write_store(path, value=1):
    with zs.ZarrStream(settings(path, overwrite=True)) as stream:
        stream.append(np.full((3, 8, 8), value, "uint16"))


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_folder_that_is_not_a_zarr_hierarchy_is_never_touched(tmp_path, overwrite):
    """Case 3: overwrite=True used to delete any folder, even the working directory."""
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024/cat.jpg").write_bytes(b"meow")
    (folder / "notes.txt").write_text("mine")
    before = tree(folder)
    with pytest.raises(zs.StoreExistsError, match="left untouched") as info:
        zs.ZarrStream(settings(folder, overwrite))
    assert isinstance(info.value, FileExistsError)
    assert tree(folder) == before


def test_the_working_directory_with_overwrite_is_refused(tmp_path, monkeypatch):
    (tmp_path / "thesis.tex").write_text("years of work")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zs.StoreExistsError):
        zs.ZarrStream(settings(".", overwrite=True))
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_a_file_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "s.zarr").write_text("x")
    for overwrite in (False, True):
        with pytest.raises(zs.StoreExistsError, match="which is a file"):
            zs.ZarrStream(settings(tmp_path / "s.zarr", overwrite))
    assert (tmp_path / "s.zarr").read_text() == "x"


def test_overwrite_replaces_a_zarr_hierarchy_and_only_with_overwrite(tmp_path):
    path = tmp_path / "s.zarr"
    write_store(path, 1)
    (path / "extra").mkdir()  # inside a Zarr hierarchy: part of what is replaced
    before = tree(path)
    with pytest.raises(zs.StoreExistsError, match="holds a Zarr hierarchy"):
        zs.ZarrStream(settings(path))
    assert tree(path) == before
    write_store(path, 2)
    assert not (path / "extra").exists()
    np.testing.assert_array_equal(read(path, "raw"), np.full((3, 8, 8), 2))


def test_a_zarr_2_hierarchy_can_be_replaced(tmp_path):
    path = tmp_path / "v2.zarr"
    zarr.create_group(str(path), zarr_format=2)
    write_store(path, 3)
    np.testing.assert_array_equal(read(path, "raw"), np.full((3, 8, 8), 3))


def test_a_broken_symlink_as_the_store_says_so(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(zs.StoreAccessError, match=r"broken symbolic link.*nowhere.*does not exist"):
        zs.ZarrStream(settings(tmp_path / "link"))
    assert not (tmp_path / "nowhere").exists()


def test_a_symlink_to_a_folder_is_that_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    write_store(tmp_path / "link", 4)
    np.testing.assert_array_equal(read(tmp_path / "real", "raw"), np.full((3, 8, 8), 4))


def test_a_store_on_a_read_only_filesystem_raises_store_access_error(small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(zs.StoreAccessError, match="writ") as info:
        zs.ZarrStream(settings(small_disk / "s.zarr"))
    assert isinstance(info.value, OSError) and isinstance(info.value.__cause__, OSError)


def test_a_zarr_store_that_is_not_a_hierarchy_is_not_cleared():
    store = MemoryStore()
    zarr.core.sync.sync(
        store.set("data.bin", zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(b"x"))
    )
    with pytest.raises(zs.StoreExistsError, match="left untouched"):
        zs.ZarrStream(settings(store, overwrite=True))
    assert zarr.core.sync.sync(store.exists("data.bin"))


def test_the_demo_refuses_an_output_folder_that_is_not_a_zarr_store(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("keep")
    with pytest.raises(SystemExit) as info:
        cli(["demo", "--out", str(tmp_path), "--frames", "2", "--size", "64"])
    assert info.value.code == 2
    assert "zarr-stream: error:" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "keep"


KILLED = """
import os, sys, numpy as np, zarr_stream as zs
sys.path.insert(0, {tests!r})
from helpers import dims_from
array = zs.ArraySettings(key="raw", dimensions=dims_from((0, 8, 8), (4, 8, 8), (1, 1, 1)))
stream = zs.ZarrStream(zs.StreamSettings(store={store!r}, arrays=[array]))
stream.append(np.ones((6, 8, 8), "uint16"))
stream.flush()
stream.append(np.ones((1, 8, 8), "uint16"))  # a slab being filled: staged, unpublished
os.kill(os.getpid(), 9)
"""


def test_what_a_killed_stream_leaves_is_harmless_reported_and_removed_by_overwrite(tmp_path, capsys):
    """Case 10: leftovers of a kill used to be scattered .partial files; now one staging folder."""
    path = tmp_path / "s.zarr"
    tests = os.path.dirname(os.path.dirname(__file__))
    subprocess.run([sys.executable, "-c", KILLED.format(tests=tests, store=str(path))], check=False)
    staging = path / "raw/.zarr-stream"
    assert any(staging.iterdir())  # the kill left staged files
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr-python lists no stray member
        group = zarr.open_group(str(path), mode="r")
        assert [name for name, _ in group.members()] == ["raw"]
        np.testing.assert_array_equal(read(path, "raw"), np.ones((6, 8, 8)))
    cli(["info", str(path)])
    printed = capsys.readouterr().out
    assert "raw/.zarr-stream" in printed and "left by a stream that did not close" in printed
    write_store(path, 5)  # overwrite removes them with the rest
    assert not staging.exists()
    np.testing.assert_array_equal(read(path, "raw"), np.full((3, 8, 8), 5))


STAGED_NAME = "0123456789abcdef" * 2  # how a stream names a staged file


def test_a_folder_holding_only_leftovers_counts_as_empty(tmp_path):
    path = tmp_path / "s.zarr"
    (path / "raw/.zarr-stream").mkdir(parents=True)
    (path / "raw/.zarr-stream" / STAGED_NAME).write_bytes(b"staged")
    with zs.ZarrStream(settings(path)) as stream:  # no overwrite needed
        stream.append(np.ones((2, 8, 8), "uint16"))
    assert not (path / "raw/.zarr-stream").exists()
    np.testing.assert_array_equal(read(path, "raw"), np.ones((2, 8, 8)))


@pytest.mark.parametrize(
    "layout",
    [
        {"raw/.zarr-stream/notes.txt": b"mine"},  # not a name a stream gives
        {"raw/.zarr-stream/" + STAGED_NAME: b"staged", "empty/": None},  # an empty folder of someone's
        {"raw/.zarr-stream/" + STAGED_NAME: b"staged", "raw/.zarr-stream/inner/": None},
    ],
    ids=["foreign-file", "empty-folder", "folder-in-staging"],
)
@pytest.mark.parametrize("overwrite", [False, True])
def test_what_only_looks_like_leftovers_is_never_touched(tmp_path, layout, overwrite):
    path = tmp_path / "s.zarr"
    for name, data in layout.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            (path / name).mkdir()
        else:
            (path / name).write_bytes(data)
    before = sorted(p.relative_to(path) for p in path.rglob("*"))
    with pytest.raises(zs.StoreExistsError, match="left untouched"):
        zs.ZarrStream(settings(path, overwrite=overwrite))
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == before
