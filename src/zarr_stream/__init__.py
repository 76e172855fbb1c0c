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
from zarr_stream.settings import (
    ArraySettings,
    Compression,
    Dimension,
    Multiscale,
    S3Settings,
    StreamSettings,
)
from zarr_stream.stream import ZarrStream

__version__ = "0.1.0"

__all__ = [
    "ArraySettings",
    "BackgroundError",
    "CapacityError",
    "Compression",
    "Dimension",
    "FrameDtypeError",
    "FrameError",
    "Multiscale",
    "ObjectExistsError",
    "S3Settings",
    "SettingsError",
    "StoreAccessError",
    "StoreExistsError",
    "StreamClosedError",
    "StreamSettings",
    "UnknownKeyError",
    "ZarrStream",
    "ZarrStreamError",
    "__version__",
    "config",
]
