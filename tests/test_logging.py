"""The ``zarr_stream`` logger: a stream's life at INFO and DEBUG, failures at WARNING, no credential."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import zarr_stream as zs
from helpers import random_frames

D = zs.Dimension


def array(key="raw"):
    return zs.ArraySettings(
        key=key,
        compression=zs.Compression(codec="lz4"),
        dimensions=[D("t", kind="time", chunk=4), D("y", size=64, chunk=32), D("x", size=64, chunk=32)],
    )


def records(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "zarr_stream"]


def test_open_flush_and_close_are_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="zarr_stream")
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        stream.append(random_frames((0, 64, 64), 3, "uint16"))
        stream.flush()
    lines = records(caplog)
    assert lines[0] == ("INFO", f"stream opened: {str(path)!r}, arrays 'raw'")
    assert lines[1][0] == "DEBUG" and lines[1][1].startswith(f"flushed {str(path)!r} in ")
    assert lines[1][1].endswith("frames {'raw': 3}")
    assert lines[-1][0] == "INFO"
    assert lines[-1][1].startswith(f"stream closed: {str(path)!r} after ")
    assert lines[-1][1].endswith("frames {'raw': 3}")
    assert all(level != "WARNING" for level, _ in lines)


def test_a_failure_is_logged_once_as_a_warning(small_disk, caplog):
    caplog.set_level(logging.DEBUG, logger="zarr_stream")
    stream = zs.ZarrStream(zs.StreamSettings(store=small_disk / "s.zarr", arrays=[array()]))
    rng = np.random.default_rng(0)
    with pytest.raises(zs.BackgroundError):
        for _ in range(100):
            stream.append(rng.integers(0, 2**16, (4, 64, 64), dtype="uint16"))
            stream.flush()
    for call in (stream.flush, stream.close, stream.close):
        with pytest.raises(zs.BackgroundError):
            call()
    warnings = [message for level, message in records(caplog) if level == "WARNING"]
    assert len(warnings) == 1
    assert "failed and writes no more" in warnings[0] and "No space left on device" in warnings[0]


def test_a_store_that_cannot_open_is_logged(tmp_path, caplog):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(zs.StoreExistsError):
        zs.ZarrStream(zs.StreamSettings(store=tmp_path / "mine", arrays=[array()], overwrite=True))
    ((level, message),) = records(caplog)
    assert level == "WARNING" and message.startswith(
        f"the stream to {str(tmp_path / 'mine')!r} could not open"
    )


def test_s3_streams_log_no_credential(bucket, caplog):
    from s3_server import CREDENTIALS
    from zarr_stream.storage import s3_store

    caplog.set_level(logging.DEBUG)  # every logger: obstore's and zarr's too
    s3 = zs.S3Settings(endpoint=bucket.endpoint, allow_http=True)
    frames = random_frames((0, 64, 64), 5, "uint16")
    for store in (bucket.url("a.zarr"), s3_store(bucket.url("b.zarr"), s3)):
        settings = zs.StreamSettings(store=store, s3=s3 if isinstance(store, str) else None, arrays=[array()])
        with zs.ZarrStream(settings) as stream:
            stream.append(frames)
            stream.flush()
            stream.append(frames)
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "stream opened: 's3://" in text and "stream opened: a obstore S3Store" in text
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        assert CREDENTIALS[name] not in text
