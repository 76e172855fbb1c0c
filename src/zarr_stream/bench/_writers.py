"""Writers the benchmark drives: zarr-stream itself and its peers, behind one small interface.

Each writer takes frames one at a time (``append``) and finishes in ``close``. Peers
are optional: acquire-zarr, tensorstore (whole slabs, two writes in flight),
zarr-python (resize, then a shard-aligned setitem per slab), and zarrs (the same
zarr-python writer with the Rust codec pipeline of the ``zarrs`` package, which users
switch on with one config setting).

acquire-zarr and tensorstore fsync what they write (acquire-zarr as it closes each shard
file; tensorstore after each write, its ``file_io_sync`` default), as zarr-stream does by
default; zarr-python's LocalStore does not.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import zarr_stream as zs
from zarr_stream.bench._workloads import Workload

__all__ = ["WRITERS", "Writer"]


class Writer(Protocol):
    def append(self, frame: np.ndarray) -> None: ...
    def close(self) -> None: ...


class ZarrStreamWriter:
    def __init__(self, workload: Workload, path: Path | Any, s3: zs.S3Settings | None = None) -> None:
        names = ("t", "y", "x")
        sizes = (0, workload.size, workload.size)
        dims = [
            zs.Dimension(n, kind="time" if n == "t" else "space", size=s, chunk=c, shard=k)
            for n, s, c, k in zip(names, sizes, workload.chunks, workload.shard_counts, strict=True)
        ]
        compression = (
            None
            if workload.codec is None
            else zs.Compression(codec=workload.codec, level=workload.level, shuffle=workload.shuffle)
        )
        settings = zs.StreamSettings(
            store=path,
            overwrite=True,
            s3=s3,
            arrays=[
                zs.ArraySettings(
                    key="raw",
                    dtype="uint16",
                    dimensions=dims,
                    compression=compression,
                    multiscale=zs.Multiscale(method=workload.multiscale) if workload.multiscale else None,
                )
            ],
        )
        self.max_memory_bytes = settings.max_memory_bytes()  # the bound it states, beside its RSS
        self._stream = zs.ZarrStream(settings)

    def append(self, frame: np.ndarray) -> None:
        self._stream.append(frame)

    def close(self) -> None:
        self._stream.close()


class ZarrStreamNoFsyncWriter(ZarrStreamWriter):
    """zarr-stream with ``fsync`` off: atomic but not power-loss durable, as zarr-python writes."""

    def __init__(self, workload: Workload, path: Path) -> None:
        zs.config.set({"fsync": False})  # this process runs one writer only
        super().__init__(workload, path)


class AcquireZarrWriter:
    def __init__(self, workload: Workload, path: Path, s3: Any = None) -> None:
        import acquire_zarr as az

        if s3 is None:
            shutil.rmtree(path, ignore_errors=True)
        compression = None
        if workload.codec is not None:
            codec = {"zstd": az.CompressionCodec.BLOSC_ZSTD, "lz4": az.CompressionCodec.BLOSC_LZ4}[
                workload.codec
            ]
            shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[workload.shuffle]
            compression = az.CompressionSettings(
                compressor=az.Compressor.BLOSC1, codec=codec, level=workload.level, shuffle=shuffle
            )
        sizes = (0, workload.size, workload.size)
        kinds = (az.DimensionType.TIME, az.DimensionType.SPACE, az.DimensionType.SPACE)
        dims = [
            az.Dimension(name=n, kind=k, array_size_px=s, chunk_size_px=c, shard_size_chunks=sc)
            for n, k, s, c, sc in zip(
                ("t", "y", "x"), kinds, sizes, workload.chunks, workload.shard_counts, strict=True
            )
        ]
        array = az.ArraySettings(output_key="raw", dimensions=dims, data_type=az.DataType.UINT16)
        if workload.multiscale is not None:  # its default levels, as ours
            array.downsampling_method = getattr(az.DownsamplingMethod, workload.multiscale.upper())
        if compression is not None:
            array.compression = compression
        settings = az.StreamSettings()
        settings.store_path = str(path)
        if s3 is not None:  # an acquire_zarr.S3Settings: path is the prefix in its bucket
            settings.s3 = s3
        settings.arrays = [array]
        self._stream = az.ZarrStream(settings)

    def append(self, frame: np.ndarray) -> None:
        self._stream.append(frame)

    def close(self) -> None:
        self._stream.close()


def _zarr_codec_json(workload: Workload) -> list[dict[str, Any]]:
    inner: list[dict[str, Any]] = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if workload.codec is not None:
        inner.append({
            "name": "blosc",
            "configuration": {
                "cname": workload.codec, "clevel": workload.level, "shuffle": workload.shuffle,
                "typesize": 2, "blocksize": 0,
            },
        })  # fmt: skip
    return [{
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": list(workload.chunks),
            "codecs": inner,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": "end",
        },
    }]  # fmt: skip


class _SlabWriter:
    """Buffers frames into slabs (one chunk deep) and hands each full slab to ``write_slab``."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self._slab = np.empty((workload.chunks[0], workload.size, workload.size), np.uint16)
        self._filled = 0
        self.written = 0  # frames handed over

    def append(self, frame: np.ndarray) -> None:
        self._slab[self._filled] = frame
        self._filled += 1
        if self._filled == len(self._slab):
            self._hand_over()

    def _hand_over(self) -> None:
        if self._filled:
            self.write_slab(self.written, self._slab[: self._filled])
            self.written += self._filled
            self._slab = np.empty_like(self._slab)
            self._filled = 0

    def write_slab(self, start: int, slab: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._hand_over()


class TensorstoreWriter(_SlabWriter):
    def __init__(self, workload: Workload, path: Path) -> None:
        import tensorstore as ts

        super().__init__(workload)
        spec = {
            "driver": "zarr3",
            "kvstore": {"driver": "file", "path": str(path / "raw")},
            "metadata": {
                "shape": [0, workload.size, workload.size],
                "data_type": "uint16",
                "chunk_grid": {
                    "name": "regular",
                    "configuration": {"chunk_shape": list(workload.shard_shape)},
                },
                "codecs": _zarr_codec_json(workload),
                "fill_value": 0,
                "dimension_names": ["t", "y", "x"],
            },
        }
        shutil.rmtree(path, ignore_errors=True)
        self._store = ts.open(spec, create=True, delete_existing=True).result()
        self._writes: deque[Any] = deque()

    def write_slab(self, start: int, slab: np.ndarray) -> None:
        while len(self._writes) >= 2:  # two writes in flight
            self._writes.popleft().result()
        end = start + len(slab)
        self._store = self._store.resize(exclusive_max=[end, None, None], expand_only=True).result()
        self._writes.append(self._store[start:end].write(slab).commit)

    def close(self) -> None:
        super().close()
        while self._writes:
            self._writes.popleft().result()


class ZarrPythonWriter(_SlabWriter):
    codec_pipeline: str | None = None  # zarr-python's own

    def __init__(self, workload: Workload, path: Path | Any) -> None:
        import zarr
        from zarr.codecs import BloscCodec

        super().__init__(workload)
        compressors = (
            None
            if workload.codec is None
            else BloscCodec(cname=workload.codec, clevel=workload.level, shuffle=workload.shuffle)
        )
        pipeline = {"codec_pipeline.path": self.codec_pipeline} if self.codec_pipeline else {}
        with zarr.config.set(pipeline):  # an array keeps the pipeline it was created with
            store = str(path) if isinstance(path, Path) else path
            self._array = zarr.create_array(
                store, name="raw", shape=(0, workload.size, workload.size), dtype="uint16",
                chunks=workload.chunks, shards=workload.shard_shape, compressors=compressors,
                fill_value=0, dimension_names=["t", "y", "x"], overwrite=True, zarr_format=3,
            )  # fmt: skip

    def write_slab(self, start: int, slab: np.ndarray) -> None:
        end = start + len(slab)
        self._array.resize((end, self.workload.size, self.workload.size))
        self._array[start:end] = slab


class ZarrsWriter(ZarrPythonWriter):
    """zarr-python with zarrs' Rust codec pipeline: codecs and shard I/O in parallel, in Rust."""

    codec_pipeline = "zarrs.ZarrsCodecPipeline"


WRITERS: dict[str, Callable[..., Writer]] = {
    "zarr-stream": ZarrStreamWriter,
    "zarr-stream-nofsync": ZarrStreamNoFsyncWriter,
    "acquire-zarr": AcquireZarrWriter,
    "tensorstore": TensorstoreWriter,
    "zarr-python": ZarrPythonWriter,
    "zarrs": ZarrsWriter,
}
