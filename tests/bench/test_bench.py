"""The benchmark runs end to end on a small workload; it measures, it asserts no timings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from zarr_stream.bench._report import summarize
from zarr_stream.bench._run import PEER_MODULES, main
from zarr_stream.bench._workloads import WORKLOADS, Workload
from zarr_stream.bench._writers import WRITERS


@pytest.mark.parametrize("engine", ["zarr-stream", "tensorstore", "zarr-python", "zarrs"])
def test_every_writer_writes_what_it_was_given(tmp_path, engine):
    pytest.importorskip(PEER_MODULES.get(engine, "zarr_stream"))
    workload = Workload("t", chunks=(4, 32, 32), shard_counts=(1, 2, 2), codec="lz4", frames=10, size=64)
    frames = np.random.default_rng(0).integers(0, 4000, (10, 64, 64), dtype=np.uint16)
    writer = WRITERS[engine](workload, tmp_path / "s.zarr")
    for frame in frames:
        writer.append(frame)
    writer.close()
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "s.zarr"), path="raw", mode="r")[...], frames
    )


def test_bench_reports_medians_for_every_workload(tmp_path, capsys):
    out = tmp_path / "medians.json"
    argv = ["--runs", "1", "--frames", "16", "--size", "128", "--scratch", str(tmp_path), "--json", str(out)]
    assert main(argv) == 0
    medians = json.loads(out.read_text())
    for workload in WORKLOADS:
        ours = medians[f"{workload}/zarr-stream"]
        assert ours["mib_per_s"] > 0
        assert ours["p99_ms"] >= ours["p50_ms"] >= 0
        assert 0 < ours["durable_mib_per_s"] <= ours["mib_per_s"]  # durable comes after close
        assert ours["max_memory_mib"] > 0  # the bound it states, reported beside its RSS
        if WORKLOADS[workload].multiscale:  # only the writers that make pyramids run it
            assert {key.split("/")[1] for key in medians if key.startswith(f"{workload}/")} == {"zarr-stream"}
            continue
        ceiling = medians[f"{workload}/ceiling"]
        parts = [ceiling[k] for k in ("blosc_mib_per_s", "disk_mib_per_s") if k in ceiling]
        assert len(parts) == (2 if WORKLOADS[workload].codec else 1)
        assert ceiling["mib_per_s"] == min(parts) > 0  # the slower stage bounds the machine
        # beside the ceiling, for compressed data: Blosc with its output written durably
        assert ("blosc_durable_mib_per_s" in ceiling) is (WORKLOADS[workload].codec is not None)
    table = capsys.readouterr().out
    assert "of the ceiling" in table
    assert table.count("of Blosc written durably") == 2  # zstd and lz4
    assert "pyramid  zarr-stream's RSS growth" in table


@pytest.mark.parametrize("engine", ["zarr-stream", "acquire-zarr"])
def test_the_pyramid_writers_write_level_0_as_given_and_the_same_levels(tmp_path, engine):
    pytest.importorskip(PEER_MODULES.get(engine, "zarr_stream"))
    workload = Workload(
        "p", chunks=(4, 16, 16), shard_counts=(1, 2, 2), codec="zstd", frames=9, size=64, multiscale="mean"
    )
    frames = np.random.default_rng(0).integers(0, 4000, (9, 64, 64), dtype=np.uint16)
    writer = WRITERS[engine](workload, tmp_path / "s.zarr")
    for frame in frames:
        writer.append(frame)
    writer.close()
    group = zarr.open_group(str(tmp_path / "s.zarr"), path="raw", mode="r")
    np.testing.assert_array_equal(group["0"][...], frames)
    assert [group[k].shape for k in sorted(group.array_keys())] == [(9, 64, 64), (9, 32, 32), (9, 16, 16)]


def test_writers_get_medians_and_the_ceiling_its_best_run():
    writer_runs = [
        {"mib_per_s": v, "p99_ms": p, "engine": "x"} for v, p in ((500.0, 9.0), (700.0, 3.0), (600.0, 5.0))
    ]
    assert summarize("zarr-stream", writer_runs) == {"mib_per_s": 600.0, "p99_ms": 5.0}
    ceiling_runs = [
        {"mib_per_s": 900.0, "blosc_mib_per_s": 900.0, "disk_mib_per_s": 1200.0},
        {"mib_per_s": 1000.0, "blosc_mib_per_s": 1300.0, "disk_mib_per_s": 1000.0},
        {"mib_per_s": 800.0, "blosc_mib_per_s": 1400.0, "disk_mib_per_s": 800.0},
    ]
    # the best run whole, so its parts still bound it: not the best of each part
    assert summarize("ceiling", ceiling_runs) == ceiling_runs[1]


@pytest.mark.parametrize("engine", ["zarr-stream", "zarr-python", "acquire-zarr"])
def test_every_s3_writer_writes_what_it_was_given(bucket, monkeypatch, engine):
    pytest.importorskip(PEER_MODULES.get(engine, "zarr_stream"))
    from zarr.storage import ObjectStore

    from zarr_stream.bench._s3 import ENDPOINT_VARIABLE, S3_WRITERS

    monkeypatch.setenv(ENDPOINT_VARIABLE, bucket.endpoint)
    workload = Workload("t", chunks=(4, 32, 32), shard_counts=(1, 2, 2), codec="zstd", frames=10, size=64)
    frames = np.random.default_rng(0).integers(0, 4000, (10, 64, 64), dtype=np.uint16)
    writer = S3_WRITERS[engine](workload, bucket.url("w.zarr"))
    for frame in frames:
        writer.append(frame)
    writer.close()
    got = zarr.open_array(ObjectStore(bucket.obstore("w.zarr"), read_only=True), path="raw", mode="r")
    np.testing.assert_array_equal(got[...], frames)


def test_the_s3_bench_reports_every_writer_and_the_servers_cpu(tmp_path, capsys):
    out = tmp_path / "medians.json"
    argv = [
        "--s3",
        "--workload",
        "s3-zstd",
        "--runs",
        "1",
        "--frames",
        "8",
        "--size",
        "128",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    medians = json.loads(out.read_text())
    for engine in ("zarr-stream", "zarr-python", "zarr-stream-memory", "zarr-stream-local"):
        assert medians[f"s3-zstd/{engine}"]["mib_per_s"] > 0
    assert medians["s3-zstd/zarr-stream"]["server_cpu_share"] > 0  # the server did work for it
    assert "server_cpu_share" not in medians["s3-zstd/zarr-stream-memory"]
    table = capsys.readouterr().out
    assert "zarr-stream / zarr-python" in table and "MemoryStore / to local disk" in table
