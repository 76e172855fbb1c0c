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
    assert "raw: shape=(10, 128, 128)" in printed
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
    assert "--frames must be >= 1. Got 0." in result.stderr


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "zarr_stream", *args], capture_output=True, text=True, cwd=cwd
    )


def test_python_dash_m_and_version():
    import zarr_stream as zs

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"zarr-stream {zs.__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "missing.zarr"], "info reads a local Zarr v3 store: no such path. Got 'missing.zarr'."),
        (["info", "."], "info reads a local Zarr v3 store: no zarr.json at its root. Got '.'."),
        (["demo", "--out", "notzarr", "--size", "16", "--frames", "2"], "must be empty or a Zarr hierarchy"),
        (["demo", "--out", "s3://B/x", "--size", "16"], "an s3 store must be s3://bucket/prefix"),
        (["demo", "--out", "x.zarr", "--endpoint", "http://h"], "--endpoint and --region apply to s3://"),
        (["demo", "--config", "missing.yaml"], "the settings file 'missing.yaml' cannot be read"),
        (["demo", "--config", "acq.yaml", "--size", "8"], "--config sets the arrays .*: leave out --size."),
        (["demo", "--save-config", "acq.toml", "--size", "16"], "a settings file ends in .json, .yaml"),
    ],
)
def test_user_mistakes_are_one_line_errors_and_touch_nothing(tmp_path, args, message):
    import re

    (tmp_path / "notzarr").mkdir()
    (tmp_path / "notzarr" / "data.txt").write_text("mine")
    (tmp_path / "acq.yaml").write_text("store: a.zarr\narrays: []\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("zarr-stream: error: ") and re.search(message, error), result.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "notzarr" / "data.txt").read_text() == "mine"


def test_the_progress_is_a_line_per_tenth_when_stdout_is_not_a_terminal(tmp_path):
    result = run_cli("demo", "--out", "d.zarr", "--frames", "200", "--size", "32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("streaming ")]
    assert "\r" not in result.stdout
    assert len(progress) == 10 and progress[-1].startswith("streaming 200/200 frames")
    summary = dict(line.strip().split(": ", 1) for line in lines if line.startswith(" "))
    # one throughput figure, and it is the bytes over the time
    assert sum("MiB/s" in line or "mib_per_s" in line for line in lines) == 1
    raw, seconds, rate = (float(summary[k]) for k in ("raw_mib", "seconds", "mib_per_s"))
    exact = 200 * 32 * 32 * 2 / 2**20
    assert raw == pytest.approx(exact, abs=0.05)
    # the figures are rounded as printed (seconds to 0.01, MiB/s to 0.1): within that, they agree
    assert exact / (seconds + 0.005) - 0.05 <= rate <= exact / max(seconds - 0.005, 1e-9) + 0.05


CONFIG = """
store: acq.zarr
arrays:
  - key: cam/image
    dtype: uint8
    multiscale: {method: max}
    storage_order: ome
    dimensions:
      - {name: t, kind: time, chunk: 2}
      - {name: z, size: 3, chunk: 1, unit: micrometer, scale: 2}
      - {name: c, kind: channel, size: 2}
      - {name: y, size: 40, chunk: 16, unit: micrometer}
      - {name: x, size: 36, chunk: 16, unit: micrometer}
  - key: counts
    dtype: int32
    compression: {compressor: zstd, level: 7}
    dimensions: [{name: t, size: 5, chunk: 2}, {name: x, size: 100}]
plates:
  - rows: [A]
    columns: ["1"]
    wells:
      - row: A
        column: "1"
        fields:
          - path: "0"
            array: {dimensions: [{name: t, chunk: 4}, {name: y, size: 8}, {name: x, size: 8}]}
"""


def test_the_demo_streams_into_every_array_of_a_settings_file(tmp_path):
    from zarr_stream.testing import camera_frames

    (tmp_path / "acq.yaml").write_text(CONFIG)
    result = run_cli(
        "demo", "--config", "acq.yaml", "--frames", "13", "--save-config", "used.json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    import zarr_stream as zs

    assert zs.StreamSettings.from_file(tmp_path / "used.json") == zs.StreamSettings.from_file(
        tmp_path / "acq.yaml"
    )
    store = tmp_path / "acq.zarr"
    image = zarr.open_array(store, path="cam/image/0", mode="r")
    assert image.metadata.dimension_names == ("t", "c", "z", "y", "x")
    # 13 frames: 2 steps of 3 z x 2 c, and one frame of the third step
    frames = [np.clip(f, 0, 255).astype("uint8") for f in camera_frames(8, 40, 36)]
    appended = np.stack([frames[i % 8] for i in range(13)])
    expected = np.zeros((18, 40, 36), "uint8")
    expected[:13] = appended
    expected = expected.reshape(3, 3, 2, 40, 36).transpose(0, 2, 1, 3, 4)
    np.testing.assert_array_equal(image[...], expected)
    counts = zarr.open_array(store, path="counts", mode="r")
    assert counts.shape == (5, 100)  # bounded: 5 of the 13 frames
    line = [f.astype("int32") for f in camera_frames(8, 1, 100)]
    np.testing.assert_array_equal(counts[...], np.stack([line[i % 8].reshape(100) for i in range(5)]))
    field = zarr.open_array(store, path="plate/A/1/0/0", mode="r")
    small = camera_frames(8, 8, 8)
    np.testing.assert_array_equal(field[...], np.stack([small[i % 8] for i in range(13)]))
    assert "frames: 31" in result.stdout  # 13 + 5 + 13


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
