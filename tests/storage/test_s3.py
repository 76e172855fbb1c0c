"""Streams to S3 (a moto server over HTTP): round trips, flushes, write-once rules, access errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from zarr.storage import ObjectStore

import zarr_stream as zs
from helpers import dims_from, random_frames
from zarr_stream.testing import expected_array

# (shape, chunks, shard counts, frames): a representative subset of the core layouts.
LAYOUTS = {
    "3d": ((0, 50, 37), (4, 16, 8), (2, 2, 3), 19),
    "4d": ((0, 3, 33, 20), (2, 2, 16, 7), (3, 1, 2, 2), 3 * 13 + 2),
    "bounded-partial": ((10, 20, 20), (4, 8, 8), (2, 1, 1), 7),
    "many-shards-along-t": ((0, 12, 12), (1, 6, 6), (2, 1, 2), 11),
}
COMPRESSIONS = {
    "raw": None,
    "blosc": zs.Compression(codec="zstd", level=1, shuffle="shuffle"),
    "zstd": zs.Compression(compressor="zstd", level=3),
}


def array_settings(layout: str, compression: str, key: str = "raw") -> zs.ArraySettings:
    shape, chunks, shards, _ = LAYOUTS[layout]
    return zs.ArraySettings(
        key=key,
        dtype="uint16",
        dimensions=dims_from(shape, chunks, shards),
        compression=COMPRESSIONS[compression],
    )


def read_back(bucket, key: str, prefix: str = "data.zarr") -> np.ndarray:
    """The array as zarr-python reads it through its own ObjectStore, checked equal by dask."""
    array = zarr.open_array(ObjectStore(bucket.obstore(prefix), read_only=True), path=key, mode="r")
    values = np.asarray(array[...])
    np.testing.assert_array_equal(da.from_zarr(array).compute(), values)
    return values


def expected(settings: zs.ArraySettings, frames: np.ndarray) -> np.ndarray:
    shape = tuple(d.size for d in settings.dimensions)
    return expected_array(shape, frames)


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_stream_to_an_s3_url_reads_back_as_the_frames(bucket, layout, compression):
    array = array_settings(layout, compression)
    frames = random_frames(LAYOUTS[layout][0], LAYOUTS[layout][3], "uint16")
    settings = zs.StreamSettings(
        store=bucket.url(),
        arrays=[array],
        s3=zs.S3Settings(endpoint=bucket.endpoint, region="us-east-1", allow_http=True),
    )
    with zs.ZarrStream(settings) as stream:
        for start in range(0, len(frames), 3):
            stream.append(frames[start : start + 3])
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames))
    assert bucket.multipart_uploads() == []


def test_an_obstore_store_passed_as_store_streams_several_arrays_and_groups(bucket):
    arrays = [array_settings("3d", "blosc", key="a/b/raw"), array_settings("4d", "raw", key="a/other")]
    frames = {
        a.key: random_frames(LAYOUTS[layout][0], LAYOUTS[layout][3], "uint16", seed=i)
        for i, (a, layout) in enumerate(zip(arrays, ["3d", "4d"], strict=True))
    }
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=arrays)) as stream:
        for i in range(max(len(f) for f in frames.values())):
            for key, block in frames.items():
                if i < len(block):
                    stream.append(block[i], key=key)
    for a in arrays:
        np.testing.assert_array_equal(read_back(bucket, a.key), expected(a, frames[a.key]))
    group = zarr.open_group(ObjectStore(bucket.obstore(), read_only=True), mode="r")
    assert sorted(group["a"].array_keys()) == ["other"]
    assert sorted(group["a"].group_keys()) == ["b"]


def test_each_flush_makes_everything_appended_readable_and_close_completes_it(bucket):
    array = array_settings("many-shards-along-t", "blosc")
    frames = random_frames(LAYOUTS["many-shards-along-t"][0], 11, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array])) as stream:
        for count, frame in enumerate(frames, 1):
            stream.append(frame)
            if count in (1, 2, 5, 6, 9):
                stream.flush()
                np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames[:count]))
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames))


def snapshot(bucket) -> dict[str, bytes]:
    client = bucket.client
    return {
        key: client.get_object(Bucket=bucket.name, Key=key)["Body"].read() for key in bucket.object_keys()
    }


def test_a_stream_pointed_at_an_existing_array_refuses_and_changes_nothing(bucket):
    array = array_settings("3d", "blosc")
    frames = random_frames(LAYOUTS["3d"][0], 19, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array])) as stream:
        stream.append(frames)
    before = snapshot(bucket)
    with pytest.raises(zs.StoreExistsError, match="must be empty unless overwrite=True"):
        zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array]))
    assert snapshot(bucket) == before
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames))


def test_two_streams_racing_to_create_one_array_leave_the_winners_data_whole(bucket):
    """Both open at once, again and again: one wins and the other gets a FileExistsError, or
    both get one (see below); no object is mixed."""
    import threading

    array = array_settings("many-shards-along-t", "blosc")
    shape = LAYOUTS["many-shards-along-t"][0]
    for attempt in range(6):
        prefix = f"race{attempt}.zarr"
        barrier = threading.Barrier(2)
        outcome: dict[int, object] = {}
        sent = {seed: random_frames(shape, 11, "uint16", seed=seed) for seed in (1, 2)}

        def run(seed: int, prefix: str = prefix, barrier=barrier, outcome=outcome, sent=sent) -> None:
            frames = sent[seed]
            barrier.wait()
            try:
                with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(prefix), arrays=[array])) as s:
                    for frame in frames:
                        s.append(frame)
                outcome[seed] = frames
            except zs.ZarrStreamError as error:
                outcome[seed] = error

        threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [frames for frames in outcome.values() if isinstance(frames, np.ndarray)]
        losers = [failure for failure in outcome.values() if isinstance(failure, BaseException)]
        assert all(isinstance(loser, FileExistsError) for loser in losers), losers
        if winners:
            assert len(winners) == 1 and len(losers) == 1, outcome
            np.testing.assert_array_equal(read_back(bucket, "raw", prefix), expected(array, winners[0]))
            continue
        # Both opened: their open documents are the same bytes, which a write-once create takes
        # for its own retried attempt. Each then fails, loudly, at the first shard the other
        # wrote; every shard stored is still one stream's, whole.
        assert len(losers) == 2, outcome
        stored = zarr.open_array(ObjectStore(bucket.obstore(prefix), read_only=True), path="raw", mode="r")
        got, shards = stored[...], stored.shards
        sources = [expected(array, frames)[: got.shape[0]] for frames in sent.values()]
        for corner in np.ndindex(*(-(-n // c) for n, c in zip(got.shape, shards, strict=True))):
            region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(corner, shards, strict=True))
            assert not got[region].any() or any(np.array_equal(got[region], s[region]) for s in sources)


def test_a_foreign_object_at_a_shard_key_is_never_overwritten_and_fails_the_stream(bucket):
    array = array_settings("many-shards-along-t", "blosc")  # shards of 2 frames along t
    frames = random_frames(LAYOUTS["many-shards-along-t"][0], 11, "uint16")
    stream = zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array]))
    bucket.client.put_object(Bucket=bucket.name, Key="data.zarr/raw/c/2/0/0", Body=b"not ours")
    stream.append(frames[:4])
    stream.flush()  # shard rows 0 and 1: fine
    with pytest.raises(zs.ObjectExistsError, match=r"'raw/c/2/0/0' already exists"):
        stream.append(frames[4:6])
        stream.flush()
    with pytest.raises(zs.ObjectExistsError):
        stream.close()
    body = bucket.client.get_object(Bucket=bucket.name, Key="data.zarr/raw/c/2/0/0")["Body"].read()
    assert body == b"not ours"
    got = zarr.open_array(ObjectStore(bucket.obstore(), read_only=True), path="raw", mode="r")
    assert got.shape[0] == 4
    np.testing.assert_array_equal(got[:4], expected(array, frames[:4]))


def test_a_flushed_partial_shard_changed_by_someone_else_is_not_replaced(bucket):
    array = array_settings("many-shards-along-t", "blosc")
    frames = random_frames(LAYOUTS["many-shards-along-t"][0], 11, "uint16")
    stream = zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array]))
    stream.append(frames[:3])
    stream.flush()  # shard row 1 is partial: frame 2 of 2..3
    bucket.client.put_object(Bucket=bucket.name, Key="data.zarr/raw/c/1/0/0", Body=b"someone else")
    stream.append(frames[3])
    with pytest.raises(zs.ObjectExistsError, match="changed by another writer"):
        stream.flush()
    with pytest.raises(zs.ObjectExistsError):
        stream.close()
    body = bucket.client.get_object(Bucket=bucket.name, Key="data.zarr/raw/c/1/0/0")["Body"].read()
    assert body == b"someone else"


def error_texts(error: BaseException) -> str:
    """Every message and repr along the chain of ``error``."""
    texts = []
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return "\n".join(texts)


def s3_stream_settings(url: str, endpoint: str) -> zs.StreamSettings:
    return zs.StreamSettings(
        store=url,
        arrays=[array_settings("3d", "blosc")],
        s3=zs.S3Settings(endpoint=endpoint, region="us-east-1", allow_http=True),
    )


def test_a_wrong_endpoint_fails_at_creation_within_seconds(bucket):
    import time

    from s3_server import CREDENTIALS, free_port

    start = time.monotonic()
    with pytest.raises(zs.StoreAccessError, match="must be reachable") as caught:
        zs.ZarrStream(s3_stream_settings(bucket.url(), f"http://127.0.0.1:{free_port()}"))
    assert time.monotonic() - start < 60  # obstore's retries are bounded; not a timing assertion
    assert isinstance(caught.value, OSError) and caught.value.__cause__ is not None
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in error_texts(caught.value)


def test_a_missing_bucket_fails_at_creation(bucket):
    with pytest.raises(zs.StoreAccessError, match="must be reachable") as caught:
        zs.ZarrStream(s3_stream_settings("s3://no-such-bucket-here/x.zarr", bucket.endpoint))
    assert caught.value.__cause__ is not None


@pytest.fixture(scope="module")
def authenticating_endpoint(s3_endpoint):
    """A second moto server that checks credentials (the session's accepts any)."""
    from s3_server import moto_server

    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        yield endpoint


def test_bad_credentials_fail_at_creation_and_never_show(authenticating_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-that-must-never-be-printed")
    settings = s3_stream_settings("s3://some-bucket/x.zarr", authenticating_endpoint)
    with pytest.raises(zs.StoreAccessError, match="must be reachable") as caught:
        zs.ZarrStream(settings)
    texts = error_texts(caught.value) + repr(settings)
    assert "wrong-secret-that-must-never-be-printed" not in texts
    assert "403" in texts or "InvalidAccessKeyId" in texts or "Forbidden" in texts


def fast_retries(max_retries: int) -> dict:
    from datetime import timedelta

    return {
        "max_retries": max_retries,
        "retry_timeout": timedelta(seconds=60),
        "backoff": {"init_backoff": timedelta(milliseconds=5), "max_backoff": timedelta(milliseconds=100)},
    }


def stream_with_flushes(store, array: zs.ArraySettings, frames: np.ndarray) -> None:
    with zs.ZarrStream(zs.StreamSettings(store=store, arrays=[array])) as stream:
        for count, frame in enumerate(frames, 1):
            stream.append(frame)
            if count % 4 == 1:
                stream.flush()


@pytest.mark.parametrize("faults", ["status", "drop_upload", "drop_answer", "all"])
def test_a_stream_through_a_faulty_link_completes_with_identical_data_and_objects(bucket, faults):
    from fault_proxy import FaultPlan, FaultProxy

    rates = {"status": 0.15, "drop_upload": 0.1, "drop_answer": 0.15, "delay": 0.05}
    if faults != "all":
        rates = {faults: 0.3}
    methods = ("PUT", "GET", "HEAD", "POST", "DELETE") if faults == "all" else ("PUT",)
    plan = FaultPlan(seed=len(faults), methods=methods, **rates)
    array = array_settings("many-shards-along-t", "blosc")
    frames = random_frames(LAYOUTS["many-shards-along-t"][0], 11, "uint16")
    stream_with_flushes(bucket.obstore("clean.zarr"), array, frames)  # the same stream, no faults
    with FaultProxy(bucket.endpoint, plan) as proxy:
        store = bucket.obstore(endpoint=proxy.endpoint, retry_config=fast_retries(10))
        stream_with_flushes(store, array, frames)
    assert sum(count for fault, count in plan.counts.items() if fault != "forwarded") >= 5, plan.counts
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames))
    clean = {key.removeprefix("clean.zarr/") for key in bucket.object_keys("clean.zarr/")}
    assert {key.removeprefix("data.zarr/") for key in bucket.object_keys("data.zarr/")} == clean
    assert bucket.multipart_uploads() == []


def test_faults_past_the_retry_budget_fail_the_next_call_and_keep_every_flushed_frame(bucket):
    from fault_proxy import FaultPlan, FaultProxy

    array = array_settings("many-shards-along-t", "blosc")
    frames = random_frames(LAYOUTS["many-shards-along-t"][0], 11, "uint16")
    plan = FaultPlan(methods=("PUT",))
    with FaultProxy(bucket.endpoint, plan) as proxy:
        store = bucket.obstore(endpoint=proxy.endpoint, retry_config=fast_retries(2))
        stream = zs.ZarrStream(zs.StreamSettings(store=store, arrays=[array]))
        stream.append(frames[:5])
        stream.flush()
        flushed = snapshot(bucket)
        plan.always_fail = True
        with pytest.raises(zs.ZarrStreamError) as caught:
            stream.append(frames[5:9])  # completes shard row 2: its upload fails in the background
            stream.flush()
        assert "503" in error_texts(caught.value) or "500" in error_texts(caught.value)
        with pytest.raises(zs.ZarrStreamError):
            stream.append(frames[9])  # it stays raised
        with pytest.raises(zs.ZarrStreamError):
            stream.close()
        plan.always_fail = False
    assert snapshot(bucket) == flushed  # nothing after the failure was written, nothing lost
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames[:5]))


def test_the_demo_streams_to_s3_and_reads_its_frames_back(bucket, capsys):
    from zarr_stream.cli import main as cli
    from zarr_stream.testing import camera_frames

    url = bucket.url("runs/demo.zarr")
    for _ in range(2):  # the second run replaces the first: it is a Zarr hierarchy
        assert (
            cli(["demo", "--out", url, "--endpoint", bucket.endpoint, "--frames", "10", "--size", "96"]) == 0
        )
    assert f"store: {url}" in capsys.readouterr().out
    sources = camera_frames(8, 96, 96)
    got = read_back(bucket, "raw", "runs/demo.zarr")
    np.testing.assert_array_equal(got, np.stack([sources[i % 8] for i in range(10)]))


def test_a_reader_polling_the_bucket_while_it_is_written_sees_only_whole_valid_arrays(bucket):
    """zarr-python reads the array over and over (its own ObjectStore) while the stream appends
    and flushes inside chunks and shards: no read fails, no value is wrong, the array never shrinks."""
    import threading

    import live_frames

    shape = (0, 3, *live_frames.FRAME)
    array = zs.ArraySettings(
        key="raw", dimensions=dims_from(shape, (2, 2, 32, 24), (2, 2, 1, 2)), compression=zs.Compression()
    )
    stop = threading.Event()
    seen = {"reads": 0, "longest": 0, "problems": []}

    def poll() -> None:
        reader = ObjectStore(bucket.obstore(), read_only=True)
        while not stop.is_set():
            try:
                got = np.asarray(zarr.open_array(reader, path="raw", mode="r")[...])
            except FileNotFoundError:
                continue  # not created yet
            except Exception as error:
                seen["problems"].append(repr(error))
                continue
            seen["reads"] += 1
            if got.shape[0] < seen["longest"]:
                seen["problems"].append(f"shrunk to {got.shape[0]}")
            seen["longest"] = max(seen["longest"], got.shape[0])
            if got.shape[0] and not live_frames.matches(got, 0, got.shape[0], got.shape):
                seen["problems"].append(f"wrong values at length {got.shape[0]}")

    reader = threading.Thread(target=poll)
    rng = np.random.default_rng(0)
    written = 0
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array])) as stream:
        reader.start()
        while written < 60 or seen["reads"] < 20:
            block = int(rng.integers(1, 4))
            stream.append(np.stack([live_frames.frame(written + k) for k in range(block)]))
            written += block
            if rng.random() < 0.5:
                stream.flush()
            assert written < 2000, seen
    stop.set()
    reader.join()
    assert seen["problems"] == [], seen["problems"][:3]
    got = read_back(bucket, "raw")
    np.testing.assert_array_equal(
        got.reshape(-1, *live_frames.FRAME)[:written], [live_frames.frame(i) for i in range(written)]
    )


def test_an_ome_pyramid_and_a_plate_stream_to_s3_and_validate(bucket):
    from ome_zarr_models.v05.image import Image

    from pyramid_reference import reference_levels

    dims = [
        zs.Dimension("t", kind="time", chunk=2, shard=2),
        zs.Dimension("c", kind="channel", size=2, chunk=1),
        zs.Dimension("y", size=45, chunk=16, shard=2, unit="micrometer", scale=0.5),
        zs.Dimension("x", size=38, chunk=16, unit="micrometer", scale=0.5),
    ]
    image = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(method="mean"))
    field = zs.ArraySettings(dimensions=dims, ngff=True)
    plate = zs.Plate(
        rows=["A"],
        columns=["1"],
        wells=[zs.Well(row="A", column="1", fields=[zs.FieldOfView(path="0", array=field)])],
    )
    frames = np.random.default_rng(5).integers(1, 60000, (2 * 7, 45, 38), dtype=np.uint16)
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[image], plates=[plate])) as stream:
        for start in range(0, len(frames), 3):
            stream.append(frames[start : start + 3], key="img")
            stream.append(frames[start : start + 3], key="plate/A/1/0")
            stream.flush()
    store = ObjectStore(bucket.obstore(), read_only=True)
    group = zarr.open_group(store, path="img", mode="r")
    Image.from_zarr(group)
    ome = group.attrs["ome"]
    expected_levels = reference_levels(frames.reshape(7, 2, 45, 38), ome, "mean")
    assert len(expected_levels) == 3
    for dataset, level in zip(ome["multiscales"][0]["datasets"], expected_levels, strict=True):
        np.testing.assert_array_equal(group[dataset["path"]][...], level)
    np.testing.assert_array_equal(
        zarr.open_array(store, path="plate/A/1/0/0", mode="r")[...], frames.reshape(7, 2, 45, 38)
    )
    assert zarr.open_group(store, path="plate", mode="r").attrs["ome"]["plate"]["wells"][0]["path"] == "A/1"
    assert bucket.multipart_uploads() == []
