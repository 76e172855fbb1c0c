"""AsyncZarrStream: the same calls, awaited; a call that waits suspends its task, not the loop."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import zarr
from zarr.storage import ObjectStore

import zarr_stream as zs
from helpers import random_frames

D = zs.Dimension


def array(key="raw", size=0):
    return zs.ArraySettings(
        key=key,
        compression=zs.Compression(codec="lz4"),
        dimensions=[
            D("t", kind="time", size=size, chunk=4, shard=2),
            D("y", size=64, chunk=32),
            D("x", size=64, chunk=32),
        ],
    )


async def test_every_call_awaited_writes_what_the_sync_stream_writes(tmp_path):
    frames = random_frames((0, 64, 64), 13, "uint16")
    settings = zs.StreamSettings(store=tmp_path / "a.zarr", arrays=[array()])
    async with zs.AsyncZarrStream(settings) as stream:
        await stream.append(frames[:5])
        await stream.skip(2)
        await stream.flush()
        assert zarr.open_array(str(tmp_path / "a.zarr"), path="raw").shape[0] == 7  # flushed: visible
        for frame in frames[5:]:
            await stream.append(frame, key="raw")
        await stream.set_attributes({"operator": "ab"}, key="raw")
    assert stream.closed
    expected = np.stack([*frames[:5], *np.zeros((2, 64, 64), "uint16"), *frames[5:]])
    got = zarr.open_array(str(tmp_path / "a.zarr"), path="raw", mode="r")
    np.testing.assert_array_equal(got[...], expected)
    assert got.attrs["operator"] == "ab"


async def test_errors_are_raised_by_the_awaited_call_and_nothing_is_written(tmp_path):
    frames = random_frames((0, 64, 64), 3, "uint16")
    stream = zs.AsyncZarrStream(zs.StreamSettings(store=tmp_path / "a.zarr", arrays=[array(size=3)]))
    await stream.append(frames[:2])
    with pytest.raises(zs.FrameError, match="trailing shape"):
        await stream.append(np.zeros((3, 3), "uint16"))
    with pytest.raises(zs.CapacityError):
        await stream.append(frames)
    await stream.close()
    with pytest.raises(zs.StreamClosedError):
        await stream.append(frames[0])
    await stream.close()  # closing again does nothing
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a.zarr"), path="raw")[...], frames[:2])


async def test_a_store_that_cannot_open_raises_from_async_with(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    settings = zs.StreamSettings(store=tmp_path / "mine", arrays=[array()], overwrite=True)
    stream = zs.AsyncZarrStream(settings)
    with pytest.raises(zs.StoreExistsError):
        async with stream:
            pass
    await stream.close()  # it never opened: nothing to close, and no error of another kind
    with pytest.raises(zs.StreamClosedError):
        await stream.append(np.zeros((64, 64), "uint16"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "x"
    with pytest.raises(zs.SettingsError, match="must be a StreamSettings"):
        zs.AsyncZarrStream({"store": "x"})


async def test_a_task_keeps_running_while_appends_wait_on_backpressure(bucket):
    """Every PUT to S3 is delayed 0.2 s, so the encoders' slabs wait on the uploads and appends
    wait on the slabs. The ticker task must run while each waiting append is awaited: a call
    that blocked the loop would let it run only between appends, never during one."""
    from fault_proxy import FaultPlan, FaultProxy

    plan = FaultPlan(methods=("PUT",), delay=1.0)
    frames = random_frames((0, 64, 64), 48, "uint16", seed=2)
    with FaultProxy(bucket.endpoint, plan) as proxy, zs.config.set({"slabs_in_flight": 1}):
        s3 = zs.S3Settings(endpoint=proxy.endpoint, allow_http=True)
        settings = zs.StreamSettings(store=bucket.url("a.zarr"), s3=s3, arrays=[array()])
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        ticks_during = []
        async with zs.AsyncZarrStream(settings) as stream:
            for frame in frames:
                before = ticks
                await stream.append(frame)
                ticks_during.append(ticks - before)
        ticking.cancel()
    assert plan.counts["delay"] >= 6  # shards really went through the slow link
    # the loop ran the ticker during every append (each takes its thread a while, at least a hop),
    # and many times during those that waited for the uploads
    assert min(ticks_during) >= 1
    assert max(ticks_during) > 100
    got = zarr.open_array(ObjectStore(bucket.obstore("a.zarr"), read_only=True), path="raw", mode="r")
    np.testing.assert_array_equal(got[...], frames)


async def test_a_close_whose_task_is_cancelled_still_closes_and_a_later_close_awaits_it(tmp_path):
    frames = random_frames((0, 64, 64), 40, "uint16")
    stream = zs.AsyncZarrStream(zs.StreamSettings(store=tmp_path / "a.zarr", arrays=[array()]))
    appends = [asyncio.ensure_future(stream.append(frame)) for frame in frames]  # queued in order
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(stream.close())
    await asyncio.sleep(0)
    closing.cancel()
    await asyncio.gather(*appends)
    with pytest.raises(asyncio.CancelledError):
        await closing
    await stream.close()  # the same close, which went on
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a.zarr"), path="raw")[...], frames)
    with pytest.raises(zs.StreamClosedError):
        await stream.append(frames[0])
