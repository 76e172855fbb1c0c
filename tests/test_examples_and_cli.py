"""The examples run, and the CLI's demo and info work on a real store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from zarr_stream.cli import main

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(tmp_path, script):
    out = tmp_path / "out.zarr"
    result = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout or "dask read" in result.stdout
    assert (out / "zarr.json").exists()


def test_demo_and_info(tmp_path, capsys):
    out = tmp_path / "demo.zarr"
    assert main(["demo", "--out", str(out), "--frames", "10", "--size", "128", "--chunk-t", "4"]) == 0
    printed = capsys.readouterr().out
    assert "10/10 frames" in printed
    assert "shape: [10, 128, 128]" in printed
    assert "compression_ratio" in printed and "mib_per_s" in printed
    array = zarr.open_array(str(out), path="raw", mode="r")
    assert array.shape == (10, 128, 128) and array.shards == (4, 128, 128)
    assert np.asarray(array[:]).any()
    main(["info", str(out)])
    tree = capsys.readouterr().out.splitlines()
    assert tree[0] == "demo.zarr [group]"
    assert tree[1].startswith("  raw [array]  shape=(10, 128, 128)  dtype=uint16  chunks=(4, 128, 128)")
    assert "cname=zstd" in tree[1] and "stored=" in tree[1]


def test_cli_entry_point(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zarr_stream.cli",
            "demo",
            "--out",
            str(tmp_path / "d.zarr"),
            "--frames",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--frames, --size and --chunk-t must be >= 1. Got 0" in result.stderr


def test_info_shows_ome_images_with_levels_axes_units_scales_and_plates(tmp_path, capsys):
    import zarr_stream as zs

    D = zs.Dimension
    dims = [
        D("t", kind="time", chunk=2),
        D("c", kind="channel", size=2),
        D("y", size=40, chunk=16, unit="micrometer", scale=0.5),
        D("x", size=30, chunk=16, unit="micrometer", scale=0.5),
    ]
    image = zs.ArraySettings(dimensions=dims, multiscale=zs.Multiscale())
    plate = zs.Plate(
        name="p1",
        rows=["A", "B"],
        columns=["1"],
        wells=[zs.Well(row="A", column="1", fields=[zs.FieldOfView(path="0", array=image)])],
    )
    store = tmp_path / "ome.zarr"
    with zs.ZarrStream(zs.StreamSettings(store=store, plates=[plate])) as stream:
        stream.append(np.ones((4, 40, 30), "uint16"))
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "plate [OME plate 'p1', rows A,B, columns 1, 1 wells" in out
    assert "1 [OME well, fields 0]" in out
    assert "0 [OME image, 2 levels, mean, axes t:time c:channel y:space:micrometer x:space:micrometer]" in out
    assert (
        "shape=(2, 2, 20, 15)" in out
        and "scale=[1.0, 1.0, 1.0, 1.0]  translation=[0.0, 0.0, 0.25, 0.25]" in out
    )


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    levels = zarr.open_group(tmp_path / "out.zarr", path="raw", mode="r").attrs["ome"]["multiscales"][0][
        "datasets"
    ]
    assert zarr.open_array(tmp_path / "out.zarr", path="raw/0").shape == (1, 3, 2048, 2048)
    assert len(levels) == 4
