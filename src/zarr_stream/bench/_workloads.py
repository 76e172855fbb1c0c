"""The bench's workloads and their source frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zarr_stream.settings import Codec, DownsampleMethod, Shuffle
from zarr_stream.testing import camera_frames

__all__ = [
    "ALL_WORKLOADS",
    "PYRAMID_ENGINES",
    "S3_WORKLOADS",
    "SOURCE_FRAMES",
    "WORKLOADS",
    "Workload",
    "source_frames",
]


@dataclass(frozen=True, slots=True)
class Workload:
    """A stream of ``frames`` frames of ``size`` x ``size`` uint16 into one 3-D t/y/x array."""

    name: str
    chunks: tuple[int, int, int]
    shard_counts: tuple[int, int, int]
    codec: Codec | None  # None: raw bytes
    level: int = 1
    shuffle: Shuffle = "shuffle"
    data: str = "camera"  # "camera" or "random"
    frames: int = 256
    size: int = 2048
    multiscale: DownsampleMethod | None = None  # a pyramid, its default levels, by this method

    @property
    def frame_bytes(self) -> int:
        return self.size * self.size * 2

    @property
    def shard_shape(self) -> tuple[int, ...]:
        return tuple(c * n for c, n in zip(self.chunks, self.shard_counts, strict=True))


WORKLOADS = {
    "raw": Workload("raw", chunks=(64, 64, 64), shard_counts=(1, 16, 16), codec=None, data="random"),
    "zstd": Workload("zstd", chunks=(64, 256, 256), shard_counts=(1, 4, 4), codec="zstd"),
    "lz4": Workload("lz4", chunks=(8, 512, 512), shard_counts=(1, 2, 2), codec="lz4"),
    # the zstd workload with a mean pyramid (levels 2048, 1024, 512, 256): zstd is its level 0 alone
    "pyramid": Workload(
        "pyramid", chunks=(64, 256, 256), shard_counts=(1, 4, 4), codec="zstd", multiscale="mean"
    ),
}
#: The engines that write pyramids while streaming.
PYRAMID_ENGINES = ("zarr-stream", "acquire-zarr")
#: Streamed to an S3 server (``--s3``). acquire-zarr 0.10 uploads shards over 5 MiB in parts,
#: and against moto those fail ("I/O error" at close, or a crash) from 16 MiB shards on, so
#: the first workload keeps shards at 8 MiB raw (4 frames); the second has 64 MiB shards.
S3_WORKLOADS = {
    "s3-zstd": Workload("s3-zstd", chunks=(4, 256, 256), shard_counts=(1, 4, 4), codec="zstd"),
    "s3-zstd-big": Workload("s3-zstd-big", chunks=(32, 256, 256), shard_counts=(1, 4, 4), codec="zstd"),
}
ALL_WORKLOADS = {**WORKLOADS, **S3_WORKLOADS}
SOURCE_FRAMES = 8  # distinct frames, cycled


def source_frames(workload: Workload) -> list[np.ndarray]:
    if workload.data == "random":
        rng = np.random.default_rng(0)
        return [rng.integers(0, 2**16, (workload.size,) * 2, dtype=np.uint16) for _ in range(SOURCE_FRAMES)]
    return camera_frames(SOURCE_FRAMES, workload.size, workload.size)
