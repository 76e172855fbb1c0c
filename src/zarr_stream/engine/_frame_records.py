"""Per-frame metadata: a JSON record per frame, streamed beside its array like frames are.

The records of the array (or image) at key ``K`` are a group ``K.frame_metadata`` of two
plain Zarr arrays, written by the same engine as frames, so they are flushed, durable,
visible to readers and safe under a kill exactly as frames are, and each frame costs a row
and its bytes, never a rewrite of what is already stored:

- ``json``: uint8, shape ``(bytes, 1)``: every record's compact UTF-8 JSON, one after the
  other (zstd-compressed chunks of 1 MiB);
- ``spans``: int64, shape ``(frames, 2)``: frame ``i``'s record is ``json[start:end, 0]``
  for ``start, end = spans[i]`` (zstd-compressed chunks of 65536 frames). ``start == end``:
  the frame has no record (it was appended without metadata, or skipped), read as ``{}``.

Readable with zarr-python alone::

    group = zarr.open_group("out.zarr", path="raw.frame_metadata", mode="r")
    text, spans = group["json"][:, 0].tobytes(), group["spans"][:]
    records = [json.loads(text[s:e]) if e > s else {} for s, e in spans]

(see ``zarr_stream.read_frame_metadata``). The group is made at the first ``append``
with metadata: the frames before it get empty spans.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import zarr

from zarr_stream.config import Tuning
from zarr_stream.engine._pipeline import ArrayStream
from zarr_stream.errors import FrameError
from zarr_stream.metadata import GroupDocument, document_key, read_document
from zarr_stream.settings import FRAME_METADATA_SUFFIX, ArraySettings, Compression, Dimension
from zarr_stream.storage import Backend

__all__ = ["FrameRecords", "encode_records", "record_arrays", "records_key"]

JSON_CHUNK_BYTES = 1 << 20
SPANS_CHUNK_FRAMES = 1 << 16  # 1 MiB of spans


def records_key(key: str) -> str:
    """The key of the group that holds the records of the array or image at ``key``."""
    return key + FRAME_METADATA_SUFFIX


def record_arrays(key: str) -> tuple[ArraySettings, ArraySettings]:
    """The settings of the ``json`` and ``spans`` arrays for the array or image at ``key``."""
    group = records_key(key)
    text = ArraySettings(
        key=f"{group}/json",
        dtype="uint8",
        compression=Compression(compressor="zstd", level=3),
        dimensions=[Dimension("byte", kind="other", chunk=JSON_CHUNK_BYTES), Dimension("one", size=1)],
    )
    spans = ArraySettings(
        key=f"{group}/spans",
        dtype="int64",
        # plain zstd, as the bytes: whole chunks from slabs, never frame-sized tiles (16 bytes)
        compression=Compression(compressor="zstd", level=3),
        dimensions=[Dimension("frame", kind="other", chunk=SPANS_CHUNK_FRAMES), Dimension("span", size=2)],
    )
    return text, spans


def _plain_number(value: object) -> object:
    if isinstance(value, np.generic):  # numpy scalars (a stage position, a timestamp) are numbers too
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode_records(metadata: object, frames: int, key: str) -> list[bytes]:
    """One compact JSON record per frame of a block of ``frames``: ``metadata`` is a mapping
    (a block of one frame) or a sequence of ``frames`` mappings. Raises ``FrameError``."""
    where = f" (array {key!r})"
    if isinstance(metadata, Mapping):
        if frames != 1:
            raise FrameError(
                f"metadata for a block of {frames} frames must be a sequence of {frames} mappings, "
                f"one per frame{where}. Got one mapping."
            )
        records: Sequence[object] = [metadata]
    elif isinstance(metadata, Sequence) and not isinstance(metadata, (str, bytes)):
        records = metadata
        if len(records) != frames:
            raise FrameError(
                f"metadata must hold one mapping per frame{where}: {frames} for this block. "
                f"Got {len(records)}."
            )
    else:
        raise FrameError(f"metadata must be a mapping or a sequence of mappings{where}. Got {metadata!r}.")
    encoded = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or not all(isinstance(k, str) for k in record):
            raise FrameError(
                f"each frame's metadata must be a mapping with string keys{where}. "
                f"Got {record!r} for frame {i}."
            )
        try:
            text = json.dumps(dict(record), allow_nan=False, separators=(",", ":"), default=_plain_number)
        except (TypeError, ValueError, RecursionError) as error:
            raise FrameError(
                f"each frame's metadata must be JSON (no NaN or infinity){where}. Got {record!r} "
                f"for frame {i}: {error}."
            ) from error
        encoded.append(text.encode("utf-8") if record else b"")
    return encoded


class FrameRecords:
    """The records of one array or image: its ``json`` and ``spans`` arrays, streamed."""

    def __init__(self, key: str, backend: Backend, pool: Executor, tuning: Tuning) -> None:
        """The record arrays of the array or image at ``key``; nothing is written until :meth:`open`."""
        text, spans = record_arrays(key)
        self._backend = backend
        self.group = GroupDocument(records_key(key), backend)
        # Their zarr.json grow at flushes only, not as shard rows fill: a span must never be
        # visible before the bytes it points at, which a flush publishes first.
        self.text = ArrayStream(text, backend, pool, tuning, grow_with_rows=False)
        try:
            self.spans = ArrayStream(spans, backend, pool, tuning, grow_with_rows=False)
        except BaseException:
            self.text.close(publish=False)
            raise
        self._end = 0  # bytes of json written so far
        self._streams = (self.text, self.spans)
        self._kept = 0  # frames whose stored spans a resume keeps

    def resume(self, reader: Any, frames: int) -> None:
        """Before :meth:`open` (and before anything of the stream is written): take up the
        stored records of the first ``frames`` frames (those the array keeps), their documents
        and shards adopted, their settings checked. A records group a kill left half-made (some
        documents missing) is taken up as far as it goes."""
        self._backend.adopt(document_key(self.group.key))
        spans_doc = read_document(reader, self.spans.key)
        text_doc = read_document(reader, self.text.key)
        kept = end = 0
        if spans_doc is not None and text_doc is not None:
            stored_bytes = int(text_doc["shape"][0])
            spans = np.asarray(zarr.open_array(reader, path=self.spans.key, mode="r")[:, 1])
            # the spans whose bytes are stored (all of them, since spans grow at flushes only)
            kept = min(int(np.searchsorted(spans, stored_bytes, side="right")), frames)
            end = int(spans[kept - 1]) if kept else 0
        for stream, document, keep in ((self.text, text_doc, end), (self.spans, spans_doc, kept)):
            if document is not None:
                stream.resume(reader, document, keep_frames=keep)
            else:  # a kill before its zarr.json: what it wrote is written over
                stream.adopt_shards()
        self._end, self._kept = end, kept

    def open(self, frames: int) -> None:
        """Write the documents (durable at the next flush or close) and take up the frames so
        far: the stored records kept by :meth:`resume`, and empty ones up to ``frames``."""
        kept, self._kept = self._kept, 0
        self.group.write(durable=False)
        for stream in self._streams:
            stream.write_documents(durable=False)
        self.text.reload()
        self.spans.reload()
        self.add_empty(frames - kept)

    @property
    def failure(self) -> BaseException | None:
        return next((s.failure for s in self._streams if s.failure is not None), None)

    def check(self) -> None:
        for stream in self._streams:
            stream.check()

    def add(self, records: Sequence[bytes]) -> None:
        """Take one record per frame (empty bytes: no record)."""
        sizes = np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))
        ends = self._end + np.cumsum(sizes)
        spans = np.empty((len(records), 2), np.int64)
        spans[:, 1] = ends
        spans[:, 0] = ends - sizes
        body = b"".join(records)
        if body:
            self.text.take(np.frombuffer(body, np.uint8).reshape(-1, 1))
        self.spans.take(spans)
        self._end = int(ends[-1]) if len(records) else self._end

    def add_empty(self, frames: int) -> None:
        """``frames`` frames without a record, in blocks (a skip may be long)."""
        block = SPANS_CHUNK_FRAMES
        for start in range(0, frames, block):
            count = min(block, frames - start)
            self.spans.take(np.full((count, 2), self._end, np.int64))

    def flush(self) -> None:
        """Publish the records so far: the bytes first, so no span ever points past them."""
        for stream in self._streams:
            stream.flush()

    def close(self, publish: bool = True) -> None:
        errors: list[BaseException] = []
        for stream in self._streams:
            try:
                stream.close(publish=publish and not errors)
            except BaseException as error:
                errors.append(error)
        if errors:
            raise errors[0]
