from __future__ import annotations

import pytest

import zarr_stream as zs


@pytest.fixture(autouse=True)
def _small_pool():
    """Two encoder threads and two slabs in flight, as on the reference machine.

    Test frames are small, so ``min_block_bytes`` and ``in_place_slab_bytes`` are 0:
    compressed arrays take the tile encoding and, on local disk, write their chunks in
    place, as big frames do by default; ``max_block_bytes`` 0 keeps one frame's tile per
    Blosc block, so slabs come in many runs. The ``engine`` fixture runs a test four ways.
    """
    settings = {
        "encode_threads": 2,
        "slabs_in_flight": 2,
        "min_block_bytes": 0,
        "in_place_slab_bytes": 0,
        "max_block_bytes": 0,
    }
    with zs.config.set(settings):
        yield


# Blocks of up to 1 KiB: runs of a few frames for most test layouts (tiles of 64-512 bytes).
RUNS = {"max_block_bytes": 1024}
ENGINES = {
    "tiles": {"min_block_bytes": 0, "in_place_slab_bytes": 0},  # written in place, a block per tile
    "runs": {"min_block_bytes": 0, "in_place_slab_bytes": 0, **RUNS},  # in place, a block per run
    "held": {"min_block_bytes": 0, "in_place_slab_bytes": 2**62, **RUNS},  # held compressed until full
    "slabs": {"min_block_bytes": 2**62},  # raw slabs, compressed chunk by chunk
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    """Compressed arrays tile by tile (in place, a block per tile or per run; or held), or from raw slabs."""
    with zs.config.set(ENGINES[request.param]):
        yield request.param


@pytest.fixture
def small_disk(tmp_path):
    """A real 512 KiB filesystem (tmpfs), to fill up; skipped where it cannot be mounted (not root)."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server for the whole session (its dummy credentials in the environment)."""
    import os

    from s3_server import CREDENTIALS, moto_server

    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        with moto_server() as endpoint:
            yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def bucket(s3_endpoint, request):
    """A new, empty bucket on the session's S3 server."""
    import uuid

    from s3_server import Bucket

    created = Bucket(s3_endpoint, f"test-{uuid.uuid4().hex[:20]}")
    created.client.create_bucket(Bucket=created.name)
    return created
