"""zarr-stream: stream append-only frames into sharded, compressed Zarr v3 arrays."""

from zarr_stream.config import config
from zarr_stream.errors import (
    BackgroundError,
    CapacityError,
    FrameDtypeError,
    FrameError,
    ObjectExistsError,
    SettingsError,
    StoreAccessError,
    StoreExistsError,
    StreamClosedError,
    UnknownKeyError,
    ZarrStreamError,
)
from zarr_stream.metadata import read_frame_metadata
from zarr_stream.settings import (
    Acquisition,
    ArraySettings,
    Channel,
    Compression,
    Dimension,
    FieldOfView,
    Multiscale,
    Plate,
    S3Settings,
    StreamSettings,
    Well,
)
from zarr_stream.stream import AsyncZarrStream, ZarrStream

__version__ = "0.1.0"

__all__ = [
    "Acquisition",
    "ArraySettings",
    "AsyncZarrStream",
    "BackgroundError",
    "CapacityError",
    "Channel",
    "Compression",
    "Dimension",
    "FieldOfView",
    "FrameDtypeError",
    "FrameError",
    "Multiscale",
    "ObjectExistsError",
    "Plate",
    "S3Settings",
    "SettingsError",
    "StoreAccessError",
    "StoreExistsError",
    "StreamClosedError",
    "StreamSettings",
    "UnknownKeyError",
    "Well",
    "ZarrStream",
    "ZarrStreamError",
    "__version__",
    "config",
    "read_frame_metadata",
]
