"""``s3://bucket/prefix`` and ``S3Settings`` -> an obstore ``S3Store``.

Credentials are never part of the settings: obstore reads them the standard AWS way
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``
and the shared config files, instance and container metadata), and keeps them out of
its repr. Retries are obstore's own: 5xx answers, dropped connections and timeouts are
retried with exponential backoff, a few times within a bounded time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from obstore.store import S3Store

from zarr_stream.settings import S3Settings, split_s3_url

__all__ = ["RETRIES", "RETRY_TIMEOUT", "s3_store"]

#: Attempts after the first for one request, and the time after which obstore stops retrying it.
RETRIES = 5
RETRY_TIMEOUT = timedelta(seconds=60)


def s3_store(url: str, settings: S3Settings) -> S3Store:
    """The obstore store of ``url`` (``s3://bucket/prefix``)."""
    bucket, prefix = split_s3_url(url)
    config: dict[str, Any] = {}
    if settings.endpoint is not None:
        config["endpoint"] = settings.endpoint
    if settings.region is not None:
        config["region"] = settings.region
    return S3Store(
        bucket,
        prefix=prefix or None,
        config=config,  # type: ignore[arg-type]
        client_options={"allow_http": settings.allow_http, "connect_timeout": "10s", "timeout": "120s"},
        retry_config={"max_retries": RETRIES, "retry_timeout": RETRY_TIMEOUT},
    )
