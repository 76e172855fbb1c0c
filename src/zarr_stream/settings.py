"""Stream settings: frozen dataclasses validated once, at construction.

Every rule is checked in ``__post_init__`` so a bad setting raises
:class:`~zarr_stream.errors.SettingsError` before anything touches the store.

Examples
--------
>>> import zarr_stream as zs
>>> zs.Dimension("y", size=512, chunk=128, shard=2).shard_shape
256
>>> zs.Dimension("y", size=512, chunk=0)
Traceback (most recent call last):
...
zarr_stream.errors.SettingsError: chunk must be > 0 for dimension 'y'. Got 0.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from zarr_stream.errors import SettingsError

__all__ = [
    "ArraySettings",
    "Compression",
    "Dimension",
    "DimensionKind",
    "Multiscale",
    "S3Settings",
    "StreamSettings",
]

DimensionKind = Literal["time", "channel", "space", "other"]
Codec = Literal["zstd", "lz4"]
Shuffle = Literal["noshuffle", "shuffle", "bitshuffle"]
DownsampleMethod = Literal["mean", "decimate", "min", "max"]

SUPPORTED_DTYPES = (
    "uint8", "uint16", "uint32", "uint64",
    "int8", "int16", "int32", "int64",
    "float16", "float32", "float64",
)  # fmt: skip


def _require_int(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SettingsError(f"{what} must be an integer{where}. Got {value!r}.")
    return int(value)


def _require_choice(value: object, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise SettingsError(f"{what} must be one of {', '.join(map(repr, choices))}. Got {value!r}.")


@dataclass(frozen=True, slots=True)
class Dimension:
    """One dimension of an array, slowest to fastest.

    Parameters
    ----------
    name
        Dimension name, written to ``dimension_names``.
    kind
        One of ``"time"``, ``"channel"``, ``"space"``, ``"other"``.
    size
        Number of elements; 0 (first dimension only) means unbounded.
    chunk
        Elements per chunk along this dimension; need not divide ``size``.
    shard
        Chunks per shard along this dimension (acquire-zarr's ``shard_size_chunks``).
    unit, scale
        Physical unit and pixel spacing, for OME-NGFF metadata.
    """

    name: str
    _: KW_ONLY
    kind: DimensionKind = "space"
    size: int = 0
    chunk: int = 1
    shard: int = 1
    unit: str | None = None
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SettingsError(f"dimension name must be a non-empty string. Got {self.name!r}.")
        where = f" for dimension {self.name!r}"
        _require_choice(self.kind, get_args(DimensionKind), f"kind{where}")
        size = _require_int(self.size, "size", where)
        chunk = _require_int(self.chunk, "chunk", where)
        shard = _require_int(self.shard, "shard", where)
        if size < 0:
            raise SettingsError(f"size must be >= 0{where}. Got {size}.")
        if chunk <= 0:
            raise SettingsError(f"chunk must be > 0{where}. Got {chunk}.")
        if shard <= 0:
            raise SettingsError(f"shard must be > 0 (chunks per shard){where}. Got {shard}.")
        if self.unit is not None and not isinstance(self.unit, str):
            raise SettingsError(f"unit must be a string or None{where}. Got {self.unit!r}.")
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)):
            raise SettingsError(f"scale must be a number{where}. Got {self.scale!r}.")
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise SettingsError(f"scale must be finite and > 0{where}. Got {self.scale!r}.")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "chunk", chunk)
        object.__setattr__(self, "shard", shard)

    @property
    def shard_shape(self) -> int:
        """Elements per shard along this dimension (``chunk * shard``)."""
        return self.chunk * self.shard


@dataclass(frozen=True, slots=True, kw_only=True)
class Compression:
    """Blosc compression of each chunk.

    Examples
    --------
    >>> Compression(codec="lz4", level=1, shuffle="bitshuffle").codec
    'lz4'
    """

    codec: Codec = "zstd"
    level: int = 1
    shuffle: Shuffle = "shuffle"

    def __post_init__(self) -> None:
        _require_choice(self.codec, get_args(Codec), "compression codec")
        level = _require_int(self.level, "compression level", "")
        if not 0 <= level <= 9:
            raise SettingsError(f"compression level must be in 0..9. Got {level}.")
        _require_choice(self.shuffle, get_args(Shuffle), "compression shuffle")


@dataclass(frozen=True, slots=True, kw_only=True)
class Multiscale:
    """Multiscale pyramid settings (OME-NGFF levels "0", "1", ...)."""

    method: DownsampleMethod = "mean"
    max_levels: int | None = None

    def __post_init__(self) -> None:
        _require_choice(self.method, get_args(DownsampleMethod), "multiscale method")
        if self.max_levels is not None and _require_int(self.max_levels, "max_levels", "") < 1:
            raise SettingsError(f"max_levels must be >= 1 or None. Got {self.max_levels}.")


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Settings:
    """Connection settings for ``s3://bucket/prefix`` stores."""

    endpoint: str | None = None
    region: str | None = None
    allow_http: bool = False


def validate_key(key: object) -> str:
    """Check an output key: ``""`` (the root) or ``/``-separated plain segments.

    >>> validate_key("a/b")
    'a/b'
    >>> validate_key("a//b")
    Traceback (most recent call last):
    ...
    zarr_stream.errors.SettingsError: key must not have empty, '.' or '..' segments. Got 'a//b'.
    """
    if not isinstance(key, str):
        raise SettingsError(f"key must be a string. Got {key!r}.")
    if key == "":
        return key
    if key.startswith("/"):
        raise SettingsError(f"key must not start with '/'. Got {key!r}.")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise SettingsError(f"key must not have empty, '.' or '..' segments. Got {key!r}.")
    if "\\" in key:
        raise SettingsError(f"key must not contain '\\'. Got {key!r}.")
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class ArraySettings:
    """One output array: its key, dtype, dimensions and codecs.

    The first dimension is the append dimension. A *frame* spans the last two
    dimensions (the last one only, for a 2-D array).
    """

    key: str = ""
    dtype: Any = "uint16"
    dimensions: Sequence[Dimension] = ()
    compression: Compression | None = field(default_factory=Compression)
    multiscale: Multiscale | None = None
    ngff: bool = False
    attributes: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        validate_key(self.key)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError as error:
            raise SettingsError(f"dtype must be a numpy dtype. Got {self.dtype!r}.") from error
        if dtype.name not in SUPPORTED_DTYPES:
            raise SettingsError(f"dtype must be one of {', '.join(SUPPORTED_DTYPES)}. Got {dtype.name!r}.")
        object.__setattr__(self, "dtype", dtype.newbyteorder("<"))
        dims = tuple(self.dimensions)
        if len(dims) < 2:
            raise SettingsError(f"an array needs at least 2 dimensions. Got {len(dims)}.")
        for dim in dims:
            if not isinstance(dim, Dimension):
                raise SettingsError(f"dimensions must be Dimension objects. Got {dim!r}.")
        for dim in dims[1:]:
            if dim.size == 0:
                raise SettingsError(
                    f"size must be > 0 for dimension {dim.name!r}: only the first (append) "
                    f"dimension may be unbounded (size 0). Got 0."
                )
        names = [dim.name for dim in dims]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise SettingsError(f"dimension names must be unique. Got {duplicated[0]!r} twice.")
        object.__setattr__(self, "dimensions", dims)
        if self.compression is not None and not isinstance(self.compression, Compression):
            raise SettingsError(f"compression must be a Compression or None. Got {self.compression!r}.")
        if self.multiscale is not None or self.ngff:
            raise SettingsError(
                f"multiscale and ngff are not supported yet. Got multiscale={self.multiscale!r}, "
                f"ngff={self.ngff!r}."
            )
        if self.attributes is not None and not isinstance(self.attributes, Mapping):
            raise SettingsError(f"attributes must be a mapping or None. Got {self.attributes!r}.")


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSettings:
    """Where to write and which arrays.

    Parameters
    ----------
    store
        A local path (``str`` or ``os.PathLike``), a zarr ``Store`` or an obstore store.
    arrays
        One :class:`ArraySettings` per output array, under distinct keys.
    overwrite
        Remove whatever is at the store path first; otherwise a non-empty path raises.
    s3
        Connection settings for ``s3://`` stores.
    """

    store: Any
    arrays: Sequence[ArraySettings] = ()
    overwrite: bool = False
    s3: S3Settings | None = None

    def __post_init__(self) -> None:
        if isinstance(self.store, (str, os.PathLike)) and not os.fspath(self.store):
            raise SettingsError("store must be a non-empty path. Got ''.")
        arrays = tuple(self.arrays)
        if not arrays:
            raise SettingsError("arrays must name at least one array. Got none.")
        for array in arrays:
            if not isinstance(array, ArraySettings):
                raise SettingsError(f"arrays must be ArraySettings objects. Got {array!r}.")
        keys = [array.key for array in arrays]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise SettingsError(f"array keys must be unique. Got {key!r} twice.")
            for other in keys:
                if other != key and (key == "" or other.startswith(key + "/")):
                    raise SettingsError(
                        f"an array cannot be nested under another array. Got {other!r} under {key!r}."
                    )
        object.__setattr__(self, "arrays", arrays)
