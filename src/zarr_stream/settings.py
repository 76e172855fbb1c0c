"""Stream settings: frozen dataclasses validated once, at construction.

Every rule is checked in ``__post_init__`` so a bad setting raises
``SettingsError`` before anything touches the store.

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

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from zarr_stream.errors import SettingsError

__all__ = [
    "Acquisition",
    "ArraySettings",
    "Channel",
    "Compression",
    "Dimension",
    "DimensionKind",
    "FieldOfView",
    "Multiscale",
    "Plate",
    "S3Settings",
    "StreamSettings",
    "Well",
    "split_s3_url",
]

DimensionKind = Literal["time", "channel", "space", "other"]
Codec = Literal["zstd", "lz4"]
Compressor = Literal["blosc", "zstd"]
Shuffle = Literal["noshuffle", "shuffle", "bitshuffle"]
DownsampleMethod = Literal["mean", "decimate", "min", "max"]

#: The units OME-NGFF 0.5 names for space axes (the UDUNITS-2 names it lists).
SPACE_UNITS = (
    "angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot",
    "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer", "mile",
    "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter", "yard",
    "yoctometer", "yottameter", "zeptometer", "zettameter",
)  # fmt: skip
#: The units OME-NGFF 0.5 names for time axes.
TIME_UNITS = (
    "attosecond", "centisecond", "day", "decisecond", "exasecond", "femtosecond", "gigasecond",
    "hectosecond", "hour", "kilosecond", "megasecond", "microsecond", "millisecond", "minute",
    "nanosecond", "petasecond", "picosecond", "second", "terasecond", "yoctosecond",
    "yottasecond", "zeptosecond", "zettasecond",
)  # fmt: skip
#: Where each kind of axis goes in OME-NGFF order: time, then channel or custom, then space.
NGFF_RANK = {"time": 0, "channel": 1, "other": 1, "space": 2}
#: The attribute key OME-NGFF metadata lives under: zarr-stream writes it, users may not.
OME_KEY = "ome"

SUPPORTED_DTYPES = (
    "uint8", "uint16", "uint32", "uint64",
    "int8", "int16", "int32", "int64",
    "float16", "float32", "float64",
)  # fmt: skip


#: Largest size, chunk or shard count: zarr stores shapes as 64-bit integers.
MAX_EXTENT = 2**63 - 1
#: Largest chunk Blosc compresses, in bytes (its BLOSC_MAX_BUFFERSIZE).
MAX_BLOSC_BYTES = 2**31 - 1 - 16
#: The least a default chunk holds along the append dimension, in bytes (see Dimension.chunk).
DEFAULT_CHUNK_BYTES = 1 << 20
#: The name of the folder that holds a stream's staged files on local disk (see storage).
STAGING_NAME = ".zarr-stream"
#: The per-frame metadata of the array or image at ``K`` is the group ``K + FRAME_METADATA_SUFFIX``.
FRAME_METADATA_SUFFIX = ".frame_metadata"
_KEY_SEGMENT_BYTES = 255  # the longest file name on common filesystems


def _require_int(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SettingsError(f"{what} must be an integer{where}. Got {value!r}.")
    number = int(value)
    if abs(number) > MAX_EXTENT:
        raise SettingsError(f"{what} must be at most 2**63 - 1{where}. Got {number}.")
    return number


def _require_bool(value: object, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SettingsError(f"{what} must be True or False. Got {value!r}.")
    return bool(value)


def json_attributes(attributes: object, what: str) -> dict[str, Any]:
    """A plain copy of ``attributes`` if they are a mapping with string keys and strict JSON values.

    NaN and infinities are not JSON (``json.dumps`` writes them anyway, and tensorstore then
    refuses the document), so they are refused here.

    >>> json_attributes({"a": (1, 2)}, "attributes")
    {'a': [1, 2]}
    >>> json_attributes({"a": float("nan")}, "attributes")
    Traceback (most recent call last):
    ...
    zarr_stream.errors.SettingsError: attributes must be JSON (no NaN or infinity). Got {'a': nan}.
    """
    if not isinstance(attributes, Mapping):
        raise SettingsError(f"{what} must be a mapping. Got {attributes!r}.")
    if not all(isinstance(key, str) for key in attributes):
        raise SettingsError(f"{what} must have string keys. Got {attributes!r}.")
    try:
        copy: dict[str, Any] = json.loads(json.dumps(dict(attributes), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise SettingsError(f"{what} must be JSON (no NaN or infinity). Got {attributes!r}.") from error
    return copy


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
        Elements per chunk along this dimension; need not divide ``size``. None (the
        default) lets the array choose: the whole extent of a frame's dimensions, 1 for
        the dimensions between the first and the frame's, and along the first (append)
        dimension the depth that makes a chunk hold at least 1 MiB.
    shard
        Chunks per shard along this dimension (acquire-zarr's ``shard_size_chunks``).
    unit
        Physical unit of an OME-NGFF image's axis (``ngff=True``): a unit of the OME-NGFF
        vocabulary (``"micrometer"``, ``"second"``, ...) for space and time dimensions, none
        for channel and other dimensions.
    scale
        Pixel spacing along this dimension, in ``unit``, for an OME-NGFF image (level 0's
        ``scale``); a finite number > 0.
    """

    name: str
    _: KW_ONLY
    kind: DimensionKind = "space"
    size: int = 0
    chunk: int | None = None
    shard: int = 1
    unit: str | None = None
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SettingsError(f"dimension name must be a non-empty string. Got {self.name!r}.")
        where = f" for dimension {self.name!r}"
        _require_choice(self.kind, get_args(DimensionKind), f"kind{where}")
        size = _require_int(self.size, "size", where)
        chunk = None if self.chunk is None else _require_int(self.chunk, "chunk", where)
        shard = _require_int(self.shard, "shard", where)
        if size < 0:
            raise SettingsError(f"size must be >= 0{where}. Got {size}.")
        if chunk is not None and chunk <= 0:
            raise SettingsError(f"chunk must be > 0{where}. Got {chunk}.")
        if shard <= 0:
            raise SettingsError(f"shard must be > 0 (chunks per shard){where}. Got {shard}.")
        if chunk is not None and chunk * shard > MAX_EXTENT:
            raise SettingsError(f"chunk x shard must be at most 2**63 - 1{where}. Got {chunk} x {shard}.")
        if self.unit is not None:
            _check_unit(self.unit, self.kind, where)
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float, np.integer, np.floating)):
            raise SettingsError(f"scale must be a number{where}. Got {self.scale!r}.")
        try:
            scale = float(self.scale)
        except OverflowError:
            scale = math.inf
        if not math.isfinite(scale) or scale <= 0:
            raise SettingsError(f"scale must be finite and > 0{where}. Got {self.scale!r}.")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "chunk", chunk)
        object.__setattr__(self, "shard", shard)
        object.__setattr__(self, "scale", scale)

    @property
    def shard_shape(self) -> int:
        """Elements per shard along this dimension (``chunk * shard``), once the chunk is known."""
        if self.chunk is None:
            raise SettingsError(f"chunk of dimension {self.name!r} is chosen by its array. Got None.")
        return self.chunk * self.shard


def _check_unit(unit: object, kind: str, where: str) -> None:
    if not isinstance(unit, str):
        raise SettingsError(f"unit must be a string or None{where}. Got {unit!r}.")
    units = {"space": SPACE_UNITS, "time": TIME_UNITS}.get(kind)
    if units is None:
        raise SettingsError(f"a {kind} dimension has no unit in OME-NGFF{where}. Got {unit!r}.")
    if unit not in units:
        close = [u for u in units if u.startswith(unit[:4])] or list(units[:3])
        raise SettingsError(
            f"unit must be an OME-NGFF {kind} unit ({', '.join(close)}, ...){where}. Got {unit!r}."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Compression:
    """How each chunk is compressed: Blosc (the default), or plain Zstandard.

    Parameters
    ----------
    compressor
        ``"blosc"``: zarr's ``blosc`` codec, ``codec`` inside it, levels 0..9, with a shuffle.
        ``"zstd"``: zarr's ``zstd`` codec on its own (acquire-zarr's ``Compressor.ZSTD``),
        levels 1..22, no shuffle (Zarr v3 has none outside Blosc).
    codec
        The compressor inside Blosc: ``"zstd"`` or ``"lz4"`` (plain zstd takes only ``"zstd"``).
    shuffle
        Blosc's byte or bit shuffle; None (the default) is ``"shuffle"`` for Blosc and
        ``"noshuffle"`` for plain zstd.

    Examples
    --------
    >>> Compression(codec="lz4", level=1, shuffle="bitshuffle").codec
    'lz4'
    >>> Compression(compressor="zstd", level=19).shuffle
    'noshuffle'
    """

    compressor: Compressor = "blosc"
    codec: Codec = "zstd"
    level: int = 1
    shuffle: Shuffle | None = None

    def __post_init__(self) -> None:
        _require_choice(self.compressor, get_args(Compressor), "compression compressor")
        _require_choice(self.codec, get_args(Codec), "compression codec")
        level = _require_int(self.level, "compression level", "")
        plain = self.compressor == "zstd"
        low, high = (1, 22) if plain else (0, 9)
        if not low <= level <= high:
            raise SettingsError(
                f"compression level must be in {low}..{high} for {self.compressor}. Got {level}."
            )
        object.__setattr__(self, "level", level)
        if self.shuffle is not None:
            _require_choice(self.shuffle, get_args(Shuffle), "compression shuffle")
        if plain and self.codec != "zstd":
            raise SettingsError(f"compressor 'zstd' compresses with zstd only. Got codec={self.codec!r}.")
        if plain and self.shuffle not in (None, "noshuffle"):
            raise SettingsError(
                "plain zstd has no shuffle (only Blosc shuffles in Zarr v3): use compressor='blosc' "
                f"to shuffle. Got shuffle={self.shuffle!r}."
            )
        object.__setattr__(self, "shuffle", self.shuffle or ("noshuffle" if plain else "shuffle"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Multiscale:
    """Multiscale pyramid settings (OME-NGFF levels "0", "1", ...).

    Parameters
    ----------
    method
        How 2x2 (or 2x2x2) pixels make one of the next level: ``"mean"`` (exact, rounded
        down), ``"decimate"`` (the first), ``"min"`` or ``"max"``.
    max_levels
        The most levels written, level 0 included (1: none below it); None: as many as
        halving allows (acquire-zarr's rule, see ``docs/ome-ngff.md``).
    """

    method: DownsampleMethod = "mean"
    max_levels: int | None = None

    def __post_init__(self) -> None:
        _require_choice(self.method, get_args(DownsampleMethod), "multiscale method")
        if self.max_levels is not None and _require_int(self.max_levels, "max_levels", "") < 1:
            raise SettingsError(f"max_levels must be >= 1 or None. Got {self.max_levels}.")


_HEX_COLOR = re.compile(r"[0-9A-Fa-f]{6}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """How a viewer shows one channel of an OME-NGFF image (the ``omero`` block).

    Parameters
    ----------
    label
        The channel's name.
    color
        ``RRGGBB`` hex.
    window
        The (start, end) of the display range; None: the dtype's range for integers, 0 to 1
        for floats.
    """

    label: str
    color: str = "FFFFFF"
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str):
            raise SettingsError(f"channel label must be a string. Got {self.label!r}.")
        if not isinstance(self.color, str) or not _HEX_COLOR.fullmatch(self.color):
            raise SettingsError(f"channel color must be 6 hex digits (RRGGBB). Got {self.color!r}.")
        object.__setattr__(self, "color", self.color.upper())
        if self.window is not None:
            window = tuple(self.window)
            if len(window) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in window):
                raise SettingsError(
                    f"channel window must be two finite numbers (start, end). Got {self.window!r}."
                )
            object.__setattr__(self, "window", (float(window[0]), float(window[1])))


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Settings:
    """Connection settings for ``s3://bucket/prefix`` stores.

    Credentials are never settings: obstore reads them from the standard AWS environment
    variables and config files.

    Parameters
    ----------
    endpoint
        The S3 endpoint URL; None: AWS.
    region
        The bucket's region; None: from the AWS config.
    allow_http
        Allow an ``http://`` endpoint (a local test server).
    """

    endpoint: str | None = None
    region: str | None = None
    allow_http: bool = False

    def __post_init__(self) -> None:
        for name in ("endpoint", "region"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise SettingsError(f"s3 {name} must be a string or None. Got {value!r}.")
        object.__setattr__(self, "allow_http", _require_bool(self.allow_http, "s3 allow_http"))


_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}")


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without slashes at its ends).

    >>> split_s3_url("s3://my-bucket/runs/2026/")
    ('my-bucket', 'runs/2026')
    """
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise SettingsError(
            "an s3 store must be s3://bucket/prefix, the bucket 3 to 63 lowercase letters, digits, "
            f"'.', '-' or '_'. Got {url!r}."
        )
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise SettingsError(f"an s3 prefix must be plain '/'-separated names. Got {url!r}.")
    return bucket, prefix


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
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise SettingsError(f"key must not have empty, '.' or '..' segments. Got {key!r}.")
    if "\\" in key:
        raise SettingsError(f"key must not contain '\\'. Got {key!r}.")
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise SettingsError(f"key must not contain control characters (NUL, newline, ...). Got {key!r}.")
    for part in parts:
        if part == "zarr.json" or part.startswith("__") or set(part) == {"."} or part == STAGING_NAME:
            raise SettingsError(
                f"key segments must not be 'zarr.json', {STAGING_NAME!r}, all periods or start with "
                f"'__' (names Zarr or zarr-stream reserve). Got {part!r} in {key!r}."
            )

        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise SettingsError(
                f"key must be valid Unicode text (no lone surrogates). Got {key!r}."
            ) from None
        if size > _KEY_SEGMENT_BYTES:
            raise SettingsError(
                f"key segments must be at most {_KEY_SEGMENT_BYTES} bytes (a file name). "
                f"Got {size} bytes in {key!r}."
            )
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class ArraySettings:
    """One output array: its key, dtype, dimensions and codecs.

    The first dimension is the append dimension. A *frame* spans the last two
    dimensions (the last one only, for a 2-D array).

    Parameters
    ----------
    dimensions
        In acquisition order, slowest to fastest: the order frames arrive in.
    multiscale
        A resolution pyramid, streamed with level 0; implies ``ngff``.
    ngff
        Write an OME-Zarr 0.5 image group at ``key``, its levels at ``key/0``, ``key/1``, ...
    channels
        Labels and colours of the channel dimension's channels, one each, for viewers (an
        OME-NGFF image's ``omero`` block).
    storage_order
        The order the dimensions are stored in: None (as acquired), ``"ome"`` (OME-NGFF's
        time, channel or other, space), or a list of the names; the append dimension stays
        first and the frame's last. Frames are put in place as they are written.
    attributes
        Merged into the ``zarr.json`` attributes of the array, or of the image group.
    """

    key: str = ""
    dtype: Any = "uint16"
    dimensions: Sequence[Dimension] = ()
    compression: Compression | None = field(default_factory=Compression)
    multiscale: Multiscale | None = None
    ngff: bool = False
    storage_order: Literal["ome"] | Sequence[str] | None = None
    channels: Sequence[Channel] = ()
    attributes: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        validate_key(self.key)
        if self.dtype is None:
            raise SettingsError(f"dtype must be one of {', '.join(SUPPORTED_DTYPES)}. Got None.")
        try:
            dtype = np.dtype(self.dtype)
        except (TypeError, ValueError, SyntaxError) as error:  # numpy parses "," and the like as Python
            raise SettingsError(f"dtype must be a numpy dtype. Got {self.dtype!r}.") from error
        if dtype.name not in SUPPORTED_DTYPES:
            raise SettingsError(f"dtype must be one of {', '.join(SUPPORTED_DTYPES)}. Got {dtype.name!r}.")
        dtype = dtype.newbyteorder("<")
        object.__setattr__(self, "dtype", dtype)
        if isinstance(self.dimensions, (str, bytes)) or not isinstance(self.dimensions, Sequence):
            raise SettingsError(
                f"dimensions must be a sequence of Dimension objects. Got {self.dimensions!r}."
            )
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
        dims = default_chunks(dims, dtype.itemsize)
        object.__setattr__(self, "dimensions", dims)
        if self.compression is not None and not isinstance(self.compression, Compression):
            raise SettingsError(f"compression must be a Compression or None. Got {self.compression!r}.")
        chunk_bytes = math.prod(dim.chunk or 1 for dim in dims) * dtype.itemsize
        if self.compression is not None and chunk_bytes > MAX_BLOSC_BYTES:
            raise SettingsError(
                f"a compressed chunk must hold at most {MAX_BLOSC_BYTES} bytes (Blosc's limit). "
                f"Got {' x '.join(str(dim.chunk) for dim in dims)} x {dtype.itemsize} = {chunk_bytes}."
            )
        if self.multiscale is not None and not isinstance(self.multiscale, Multiscale):
            raise SettingsError(f"multiscale must be a Multiscale or None. Got {self.multiscale!r}.")
        ngff = _require_bool(self.ngff, "ngff") or self.multiscale is not None
        object.__setattr__(self, "ngff", ngff)
        object.__setattr__(self, "storage_order", _storage_order(self.storage_order, dims))
        if ngff:
            check_ngff_axes(self.stored_dimensions)
        else:
            for dim in dims:
                if dim.unit is not None or dim.scale != 1.0:
                    raise SettingsError(
                        f"unit and scale are written in OME-NGFF metadata only: set ngff=True to keep "
                        f"them. Got unit={dim.unit!r}, scale={dim.scale!r} for dimension {dim.name!r}."
                    )
        channels = _tuple_of(self.channels, Channel, "channels")
        object.__setattr__(self, "channels", channels)
        if channels:
            sizes = [dim.size for dim in dims if dim.kind == "channel"]
            if not ngff or sizes != [len(channels)]:
                raise SettingsError(
                    "channels describe the channel dimension of an OME-NGFF image (ngff=True), one "
                    f"each. Got {len(channels)} channels for channel dimensions of sizes {sizes}, "
                    f"ngff={ngff}."
                )
        if self.attributes is not None:
            attributes = json_attributes(self.attributes, "attributes")
            check_not_reserved(attributes)
            object.__setattr__(self, "attributes", attributes)

    @property
    def stored_dimensions(self) -> tuple[Dimension, ...]:
        """The dimensions in the order they are stored (``storage_order``), the append one first."""
        dims = tuple(self.dimensions)
        if self.storage_order is None:
            return dims
        by_name = {dim.name: dim for dim in dims}
        return tuple(by_name[name] for name in self.storage_order)

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """Elements per chunk along each dimension, in stored order (chosen for those left as None)."""
        return tuple(dim.chunk or 0 for dim in self.stored_dimensions)  # every chunk is chosen by now

    @property
    def shard_counts(self) -> tuple[int, ...]:
        """Chunks per shard along each dimension, in stored order."""
        return tuple(dim.shard for dim in self.stored_dimensions)


def _storage_order(order: object, dims: tuple[Dimension, ...]) -> tuple[str, ...] | None:
    """The stored order of ``dims`` as names, or None when it is the acquisition order."""
    names = tuple(dim.name for dim in dims)
    if order is None:
        return None
    if order == "ome":
        stored = tuple(dim.name for dim in sorted(dims, key=lambda dim: NGFF_RANK[dim.kind]))
    elif isinstance(order, (str, bytes)) or not isinstance(order, Sequence):
        raise SettingsError(f"storage_order must be None, 'ome' or a list of dimension names. Got {order!r}.")
    else:
        stored = tuple(order)
        if sorted(map(str, stored)) != sorted(names) or len(set(stored)) != len(stored):
            raise SettingsError(
                f"storage_order must name each dimension {list(names)} once. Got {list(order)!r}."
            )
    frame_ndim = 2 if len(dims) >= 3 else 1
    if stored[0] != names[0] or stored[-frame_ndim:] != names[-frame_ndim:]:
        raise SettingsError(
            f"storage_order must keep the append dimension {names[0]!r} first and the frame's "
            f"{list(names[-frame_ndim:])} last. Got {list(stored)}."
        )
    return None if stored == names else stored


def check_ngff_axes(dims: Sequence[Dimension]) -> None:
    """Raise unless ``dims`` (in stored order) make OME-NGFF 0.5 axes.

    >>> check_ngff_axes([Dimension("c", kind="channel"), Dimension("y", size=2), Dimension("x", size=2)])
    >>> check_ngff_axes([Dimension("t", kind="time"), Dimension("x", size=2)])
    Traceback (most recent call last):
    ...
    zarr_stream.errors.SettingsError: an OME-NGFF image must have 2 or 3 space dimensions. Got ['x'].
    """
    names = [dim.name for dim in dims]
    if len(dims) > 5:
        raise SettingsError(f"an OME-NGFF image has at most 5 dimensions. Got {len(dims)}: {names}.")
    space = [dim.name for dim in dims if dim.kind == "space"]
    if len(space) not in (2, 3):
        raise SettingsError(f"an OME-NGFF image must have 2 or 3 space dimensions. Got {space}.")
    for kinds, what in ((("time",), "time"), (("channel", "other"), "channel or other")):
        found = [dim.name for dim in dims if dim.kind in kinds]
        if len(found) > 1:
            raise SettingsError(f"an OME-NGFF image has at most one {what} dimension. Got {found}.")
    ranks = [NGFF_RANK[dim.kind] for dim in dims]
    if ranks != sorted(ranks):
        raise SettingsError(
            "an OME-NGFF image stores time first, then channel or other, then space; "
            f"storage_order='ome' stores them so. Got {[f'{d.name} ({d.kind})' for d in dims]}."
        )


def check_not_reserved(attributes: Mapping[str, Any]) -> None:
    """Raise if ``attributes`` set the key OME-NGFF metadata lives under, or zarr-stream's own."""
    if "zarr_stream" in attributes:
        raise SettingsError(
            "the attribute key 'zarr_stream' is reserved: zarr-stream writes there how many frames "
            f"an array holds. Got attributes with 'zarr_stream': {attributes['zarr_stream']!r}."
        )
    if OME_KEY in attributes:
        raise SettingsError(
            f"the attribute key {OME_KEY!r} is reserved: zarr-stream writes the OME-NGFF metadata. "
            f"Got attributes with {OME_KEY!r}: {attributes[OME_KEY]!r}."
        )


def default_chunks(dims: Sequence[Dimension], itemsize: int) -> tuple[Dimension, ...]:
    """``dims`` with every chunk left as None chosen (see ``Dimension.chunk``).

    >>> dims = default_chunks([Dimension("t"), Dimension("y", size=128), Dimension("x", size=128)], 2)
    >>> [d.chunk for d in dims]  # 32 frames of 32 KiB make 1 MiB
    [32, 128, 128]
    >>> [d.chunk for d in default_chunks([Dimension("t", size=5), Dimension("x", size=10**6)], 4)]
    [1, 1000000]
    """
    frame_ndim = 2 if len(dims) >= 3 else 1
    chosen = list(dims)
    for i in range(1, len(dims)):
        if dims[i].chunk is None:
            chunk = dims[i].size if i >= len(dims) - frame_ndim else 1
            chosen[i] = dataclasses.replace(dims[i], chunk=chunk)
    first = dims[0]
    if first.chunk is None:
        depth_bytes = math.prod(dim.chunk or 1 for dim in chosen[1:]) * itemsize
        depth = max(1, -(-DEFAULT_CHUNK_BYTES // depth_bytes))
        chosen[0] = dataclasses.replace(first, chunk=min(depth, first.size) if first.size else depth)
    return tuple(chosen)


_NAME = re.compile(r"[A-Za-z0-9]+")


def _plate_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SettingsError(
            f"{what} must be alphanumeric (OME-NGFF: letters and digits only). Got {value!r}."
        )
    return value


def _optional_text(value: object, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"{what} must be a string or None. Got {value!r}.")


def _tuple_of(value: object, kind: type, what: str) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SettingsError(f"{what} must be a sequence of {kind.__name__} objects. Got {value!r}.")
    items = tuple(value)
    for item in items:
        if not isinstance(item, kind):
            raise SettingsError(f"{what} must be {kind.__name__} objects. Got {item!r}.")
    return items


@dataclass(frozen=True, slots=True, kw_only=True)
class Acquisition:
    """One acquisition (a run over the plate) of an HCS plate.

    Parameters
    ----------
    id
        A unique integer >= 0, which fields name.
    name, description
        Optional text.
    """

    id: int
    name: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        number = _require_int(self.id, "acquisition id", "")
        if number < 0:
            raise SettingsError(f"acquisition id must be >= 0. Got {number}.")
        object.__setattr__(self, "id", number)
        _optional_text(self.name, "acquisition name")
        _optional_text(self.description, "acquisition description")


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldOfView:
    """One field of a well: an image, streamed under ``plate/<row>/<column>/<path>``.

    Parameters
    ----------
    path
        The field's name in its well (alphanumeric).
    array
        The field's image; it keeps the default key ``""``: its place in the plate gives its key.
    acquisition
        The id of its plate's acquisition (needed when the plate has several).
    """

    path: str
    array: ArraySettings
    acquisition: int | None = None

    def __post_init__(self) -> None:
        _plate_name(self.path, "field path")
        if not isinstance(self.array, ArraySettings):
            raise SettingsError(f"field array must be an ArraySettings. Got {self.array!r}.")
        if self.array.key != "":
            raise SettingsError(
                f"a field's array keeps the default key '' (the plate gives it one). Got {self.array.key!r}."
            )
        if self.acquisition is not None:
            object.__setattr__(self, "acquisition", _require_int(self.acquisition, "field acquisition", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class Well:
    """One well of a plate, at ``row`` and ``column``, with its fields of view.

    Parameters
    ----------
    row, column
        Names of the plate's rows and columns.
    fields
        Its fields of view, at least one, with unique paths.
    """

    row: str
    column: str
    fields: Sequence[FieldOfView] = ()

    def __post_init__(self) -> None:
        _plate_name(self.row, "well row")
        _plate_name(self.column, "well column")
        fields = _tuple_of(self.fields, FieldOfView, "well fields")
        if not fields:
            raise SettingsError(f"a well must have at least one field. Got none in well {self.path!r}.")
        paths = [f.path for f in fields]
        for i, path in enumerate(paths):
            if path in paths[:i]:
                raise SettingsError(
                    f"field paths must be unique in a well. Got {path!r} twice in well {self.path!r}."
                )
        object.__setattr__(self, "fields", fields)

    @property
    def path(self) -> str:
        """The well's path in its plate: ``row/column``."""
        return f"{self.row}/{self.column}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Plate:
    """An OME-NGFF 0.5 high-content screening plate: rows, columns, acquisitions and wells.

    Parameters
    ----------
    key
        The plate group's key; its wells are ``key/<row>/<column>``.
    name
        Optional text.
    rows, columns
        Alphanumeric names, unique, at least one each.
    acquisitions
        The runs over the plate; fields name them by id.
    wells
        The wells that have fields.
    """

    key: str = "plate"
    name: str | None = None
    rows: Sequence[str] = ()
    columns: Sequence[str] = ()
    acquisitions: Sequence[Acquisition] = ()
    wells: Sequence[Well] = ()

    def __post_init__(self) -> None:
        validate_key(self.key)
        _optional_text(self.name, "plate name")
        for what in ("rows", "columns"):
            value = getattr(self, what)
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
                raise SettingsError(f"plate {what} must be a non-empty list of names. Got {value!r}.")
            names = tuple(_plate_name(name, f"plate {what[:-1]} name") for name in value)
            for i, name in enumerate(names):
                if name in names[:i]:
                    raise SettingsError(f"plate {what} must be unique. Got {name!r} twice.")
            object.__setattr__(self, what, names)
        acquisitions = _tuple_of(self.acquisitions, Acquisition, "plate acquisitions")
        ids = [a.id for a in acquisitions]
        for i, number in enumerate(ids):
            if number in ids[:i]:
                raise SettingsError(f"acquisition ids must be unique. Got {number} twice.")
        object.__setattr__(self, "acquisitions", acquisitions)
        wells = _tuple_of(self.wells, Well, "plate wells")
        paths = [w.path for w in wells]
        for i, well in enumerate(wells):
            if well.row not in self.rows:
                raise SettingsError(
                    f"well {well.path!r} is in row {well.row!r}, not one of {list(self.rows)}."
                )
            if well.column not in self.columns:
                raise SettingsError(
                    f"well {well.path!r} is in column {well.column!r}, not one of {list(self.columns)}."
                )
            if well.path in paths[:i]:
                raise SettingsError(f"wells must be unique. Got {well.path!r} twice.")
            for fov in well.fields:
                if fov.acquisition is None and len(ids) > 1:
                    raise SettingsError(
                        f"a field must name its acquisition when the plate has several {ids}. "
                        f"Got none for field {fov.path!r} of well {well.path!r}."
                    )
                if fov.acquisition is not None and fov.acquisition not in ids:
                    raise SettingsError(
                        f"a field's acquisition must be one of the plate's {ids}. "
                        f"Got {fov.acquisition} for field {fov.path!r} of well {well.path!r}."
                    )
        object.__setattr__(self, "wells", wells)

    def field_key(self, well: Well, fov: FieldOfView) -> str:
        """The key a field's image is streamed under."""
        return "/".join(part for part in (self.key, well.path, fov.path) if part)

    def well_key(self, well: Well) -> str:
        return f"{self.key}/{well.path}" if self.key else well.path

    def field_arrays(self) -> tuple[ArraySettings, ...]:
        """Every field's image settings, under its key, as an OME-NGFF image."""
        return tuple(
            dataclasses.replace(fov.array, key=self.field_key(well, fov), ngff=True)
            for well in self.wells
            for fov in well.fields
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSettings:
    """Where to write and which arrays.

    Parameters
    ----------
    store
        A local path (``str`` or ``os.PathLike``), a zarr ``Store`` or an obstore store.
    arrays
        One ``ArraySettings`` per output array, under distinct keys.
    overwrite
        A bool. True replaces a Zarr hierarchy at the store path (a folder whose root holds
        ``zarr.json``, or Zarr 2's ``.zgroup``/``.zarray``), or an empty folder. Anything else
        raises ``StoreExistsError`` and is left untouched, with or
        without ``overwrite``: a stream never deletes what is not provably a Zarr store.
    resume
        A bool. True continues the arrays already at the store (written by zarr-stream with the
        same array settings) after their last flushed frame, also after a crash; arrays not
        there yet are created. The store may also be empty or missing.
    s3
        Connection settings for ``s3://`` stores.
    plates
        HCS plates (``Plate``); their fields are streamed like arrays, under
        ``plate/<row>/<column>/<field>``.
    """

    store: Any
    arrays: Sequence[ArraySettings] = ()
    plates: Sequence[Plate] = ()
    overwrite: bool = False
    resume: bool = False
    s3: S3Settings | None = None

    def __post_init__(self) -> None:
        store = self.store
        if isinstance(store, os.PathLike):
            store = os.fspath(store)
        if isinstance(store, bytes):
            store = os.fsdecode(store)
        if isinstance(store, str):
            if not store:
                raise SettingsError("store must be a non-empty path. Got ''.")
            if "\0" in store:
                raise SettingsError(f"store path must not contain a NUL byte. Got {store!r}.")
            if "://" in store and store.split("://", 1)[0] not in ("file", "s3"):
                raise SettingsError(f"store URLs must be file:// or s3://bucket/prefix. Got {store!r}.")
            if store.startswith("s3://"):
                split_s3_url(store)
        elif not _is_store_object(store):
            raise SettingsError(
                f"store must be a path, a zarr Store or an obstore store. Got {self.store!r}."
            )
        object.__setattr__(self, "overwrite", _require_bool(self.overwrite, "overwrite"))
        object.__setattr__(self, "resume", _require_bool(self.resume, "resume"))
        if self.overwrite and self.resume:
            raise SettingsError(
                "resume continues the arrays at the store and overwrite replaces them: set one. "
                "Got overwrite=True, resume=True."
            )
        if self.s3 is not None:
            if not isinstance(self.s3, S3Settings):
                raise SettingsError(f"s3 must be an S3Settings or None. Got {self.s3!r}.")
            if not (isinstance(store, str) and store.startswith("s3://")):
                raise SettingsError(f"s3 settings apply to s3:// stores only. Got store={self.store!r}.")
        if isinstance(self.arrays, (str, bytes)) or not isinstance(self.arrays, Sequence):
            raise SettingsError(f"arrays must be a sequence of ArraySettings. Got {self.arrays!r}.")
        arrays = tuple(self.arrays)
        for array in arrays:
            if not isinstance(array, ArraySettings):
                raise SettingsError(f"arrays must be ArraySettings objects. Got {array!r}.")
        plates = _tuple_of(self.plates, Plate, "plates")
        object.__setattr__(self, "plates", plates)
        if not arrays and not any(plate.wells for plate in plates):
            raise SettingsError("arrays must name at least one array (or plates a field). Got none.")
        streamed = arrays + tuple(array for plate in plates for array in plate.field_arrays())
        plate_keys = [plate.key for plate in plates]
        for i, key in enumerate(plate_keys):
            if key in plate_keys[:i]:
                raise SettingsError(f"plate keys must be unique. Got {key!r} twice.")
            for array in arrays:
                if (
                    array.key == key
                    or array.key.startswith(key + "/")
                    or key.startswith(array.key + "/")
                    or not key
                ):
                    raise SettingsError(
                        "an array cannot be at or under a plate, nor a plate under an array. "
                        f"Got array {array.key!r} and plate {key!r}."
                    )
        keys = [array.key for array in streamed]
        for key in [*keys, *plate_keys]:
            reserved = [part for part in key.split("/") if part.endswith(FRAME_METADATA_SUFFIX)]
            if reserved:
                raise SettingsError(
                    f"key segments must not end in {FRAME_METADATA_SUFFIX!r}: per-frame metadata is "
                    f"written there. Got {reserved[0]!r} in {key!r}."
                )
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise SettingsError(f"array keys must be unique. Got {key!r} twice.")
            for other in keys:
                if other != key and (key == "" or other.startswith(key + "/")):
                    raise SettingsError(
                        f"an array cannot be nested under another array. Got {other!r} under {key!r}."
                    )
        object.__setattr__(self, "arrays", arrays)

    def to_dict(self) -> dict[str, Any]:
        """These settings as JSON-compatible data: every field, defaults too, and ``version``.

        ``StreamSettings.from_dict(settings.to_dict()) == settings``; a store given as an
        object (not a path or URL) raises ``SettingsError``.

        >>> d = StreamSettings(store="out.zarr", arrays=[ArraySettings(
        ...     dimensions=[Dimension("t", chunk=4), Dimension("x", size=8)])]).to_dict()
        >>> array = d["arrays"].pop()
        >>> d["version"], d["store"], array["dtype"], sorted(array["dimensions"].pop())
        (1, 'out.zarr', 'uint16', ['chunk', 'kind', 'name', 'scale', 'shard', 'size', 'unit'])
        """
        from zarr_stream._settings_file import settings_to_dict

        return settings_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamSettings:
        """The settings that ``data`` describes, in the layout ``to_dict`` writes; keys left
        out take their defaults. An unknown key, a missing required one or a bad value raises
        ``SettingsError`` naming it and where it is."""
        from zarr_stream._settings_file import settings_from_dict

        return settings_from_dict(data)

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write these settings to ``path``: JSON for ``.json``, YAML for ``.yaml`` or ``.yml``."""
        from zarr_stream._settings_file import write_file

        write_file(self, path)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> StreamSettings:
        """The settings in the JSON or YAML file at ``path`` (see ``from_dict``)."""
        from zarr_stream._settings_file import read_file

        return read_file(path)

    def max_memory_bytes(self) -> int:
        """The most memory, in bytes, the stream holds besides the caller's frames: the bound
        it keeps to (``append`` waits rather than grows), counted for data that does not
        compress, with the engine's config as it stands now (see ``docs/concepts.md``).

        >>> settings = StreamSettings(store="out.zarr", arrays=[ArraySettings(compression=None, dimensions=[
        ...     Dimension("t", chunk=16), Dimension("y", size=2048), Dimension("x", size=2048)])])
        >>> settings.max_memory_bytes() // 2**20  # two raw slabs of 16 frames of 8 MiB, and 64 MiB
        320
        """
        from zarr_stream.config import tuning
        from zarr_stream.engine._memory import stream_bytes
        from zarr_stream.storage._zarr_store import UPLOAD_BYTES

        store = os.fspath(self.store) if isinstance(self.store, os.PathLike) else self.store
        local = isinstance(store, (str, bytes)) and not str(store).startswith("s3://")
        return stream_bytes(self, tuning(), in_memory_shards=not local, upload_bytes=UPLOAD_BYTES)

    @property
    def streamed_arrays(self) -> tuple[ArraySettings, ...]:
        """Every array or image the stream writes: ``arrays``, then each plate's fields."""
        return tuple(self.arrays) + tuple(array for plate in self.plates for array in plate.field_arrays())


def _is_store_object(store: object) -> bool:
    """A zarr ``Store`` or an obstore store (checked by module: obstore has no common base class)."""
    from zarr.abc.store import Store

    return isinstance(store, Store) or type(store).__module__.split(".")[0] == "obstore"
