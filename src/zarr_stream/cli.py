"""Command line: ``zarr-stream demo`` and ``zarr-stream info STORE``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import zarr_stream as zs
from zarr_stream import bench
from zarr_stream.settings import STAGING_NAME
from zarr_stream.storage import leftovers
from zarr_stream.testing import camera_frames

MiB = 2**20


def _stored_bytes(path: Path) -> int:
    """Bytes of the files under ``path``, leaving out what streams staged (see :func:`leftovers`)."""
    total = 0
    for directory, subdirectories, files in os.walk(path):
        if STAGING_NAME in subdirectories:
            subdirectories.remove(STAGING_NAME)
        total += sum(os.path.getsize(os.path.join(directory, name)) for name in files)
    return total


def _codecs(array: zarr.Array[Any]) -> str:
    doc: dict[str, Any] = json.loads(json.dumps(array.metadata.to_dict(), default=str))
    names: list[str] = []
    for codec in doc.get("codecs", []):
        if codec["name"] == "sharding_indexed":
            inner = codec["configuration"]["codecs"]
            names.extend(
                f"{c['name']}({', '.join(f'{k}={v}' for k, v in c.get('configuration', {}).items())})"
                for c in inner
            )
        else:
            names.append(codec["name"])
    return " -> ".join(names)


def describe_array(array: zarr.Array[Any], stored: int | None) -> str:
    raw = array.nbytes
    parts = [
        f"shape={array.shape}",
        f"dtype={array.dtype}",
        f"chunks={array.chunks}",
        f"shards={array.shards}",
        f"codecs={_codecs(array)}",
    ]
    if stored is not None:
        ratio = f", ratio {raw / stored:.2f}x" if stored else ""
        parts.append(f"stored={stored / MiB:.1f} MiB{ratio}")
    return "  ".join(parts)


def ome_label(ome: dict[str, Any]) -> str:
    """What an OME-NGFF group is: an image (levels, axes and units), a plate or a well.

    >>> ome_label({"version": "0.5", "well": {"images": [{"path": "0"}, {"path": "1"}]}})
    'OME well, fields 0, 1'
    """
    if "multiscales" in ome:
        multiscale = ome["multiscales"][0]
        axes = " ".join(
            ":".join(str(a[k]) for k in ("name", "type", "unit") if a.get(k)) for a in multiscale["axes"]
        )
        method = f", {multiscale['type']}" if "type" in multiscale else ""
        return f"OME image, {len(multiscale['datasets'])} levels{method}, axes {axes}"
    if "plate" in ome:
        plate = ome["plate"]
        name = f" {plate['name']!r}" if "name" in plate else ""
        rows = ",".join(r["name"] for r in plate["rows"])
        columns = ",".join(c["name"] for c in plate["columns"])
        acquisitions = len(plate.get("acquisitions", []))
        return (
            f"OME plate{name}, rows {rows}, columns {columns}, {len(plate['wells'])} wells, "
            f"{acquisitions} acquisitions, up to {plate.get('field_count', '?')} fields per well"
        )
    if "well" in ome:
        return "OME well, fields " + ", ".join(image["path"] for image in ome["well"]["images"])
    return "group, ome " + ", ".join(sorted(ome))


def level_scales(ome: dict[str, Any]) -> dict[str, str]:
    """Each level's scale (and translation), to print beside its array."""
    notes = {}
    for dataset in ome.get("multiscales", [{}])[0].get("datasets", []):
        parts = [
            f"{t['type']}={[round(v, 6) for v in t.get(t['type'], [])]}"
            for t in dataset.get("coordinateTransformations", [])
        ]
        notes[dataset["path"]] = "  " + "  ".join(parts)
    return notes


def info(store: str, write: Callable[[str], None] = print) -> None:
    """Print a tree of the groups and arrays in a local store."""
    root_path = Path(store)
    node = zarr.open(store, mode="r")

    def visit(node: zarr.Group | zarr.Array[Any], name: str, depth: int, note: str = "") -> None:
        pad = "  " * depth
        stored = _stored_bytes(root_path / node.path) if root_path.exists() else None
        if isinstance(node, zarr.Array):
            write(f"{pad}{name} [array]  {describe_array(node, stored)}{note}")
            return
        ome = node.attrs.get("ome")
        write(f"{pad}{name} [{ome_label(ome) if isinstance(ome, dict) else 'group'}]")
        scales = level_scales(ome) if isinstance(ome, dict) else {}
        for child_name, child in sorted(node.members(), key=lambda kv: kv[0]):
            visit(child, child_name, depth + 1, scales.get(child_name, ""))

    visit(node, root_path.name or store, 0)
    for folder in leftovers(root_path) if root_path.is_dir() else []:
        files = [p for p in folder.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        write(
            f"leftover: {folder.relative_to(root_path).as_posix()} ({len(files)} staged files, "
            f"{size / MiB:.1f} MiB) left by a stream that did not close; no reader sees it, and the "
            "next overwrite=True of this store removes it"
        )


def _reader_store(out: str, s3: zs.S3Settings | None) -> Any:
    """What zarr-python opens to read ``out`` back: the path, or zarr's ObjectStore of the bucket."""
    if s3 is None:
        return out
    from zarr.storage import ObjectStore

    from zarr_stream.storage import s3_store

    return ObjectStore(s3_store(out, s3), read_only=True)


def _stored_bytes_of(out: str, reader: Any) -> int:
    if isinstance(reader, str):
        return _stored_bytes(Path(out))
    import obstore

    return sum(item["size"] for batch in obstore.list(reader.store) for item in batch)


def demo(
    out: str, frames: int, size: int, chunk_t: int, endpoint: str | None = None, region: str | None = None
) -> None:
    """Stream synthetic camera frames to ``out`` (a path or ``s3://bucket/prefix``) and summarise it."""
    s3 = None
    if out.startswith("s3://"):
        s3 = zs.S3Settings(
            endpoint=endpoint, region=region, allow_http=(endpoint or "").startswith("http://")
        )
    elif endpoint is not None or region is not None:
        raise zs.SettingsError(f"--endpoint and --region apply to s3:// outputs only. Got --out {out!r}.")
    sources = camera_frames(8, size, size)
    chunk = min(256, size)
    shard = min(4, -(-size // chunk))  # up to 4x4 chunks per shard, no more than the frame needs
    settings = zs.StreamSettings(
        store=out,
        overwrite=True,
        s3=s3,
        arrays=[
            zs.ArraySettings(
                key="raw",
                dtype="uint16",
                dimensions=[
                    zs.Dimension("t", kind="time", size=0, chunk=chunk_t, shard=1),
                    zs.Dimension("y", size=size, chunk=chunk, shard=shard),
                    zs.Dimension("x", size=size, chunk=chunk, shard=shard),
                ],
                compression=zs.Compression(codec="zstd", level=1, shuffle="shuffle"),
                attributes={"source": "zarr-stream demo: synthetic camera frames"},
            )
        ],
    )
    frame_mib = size * size * 2 / MiB
    start = time.perf_counter()
    with zs.ZarrStream(settings) as stream:
        for i in range(frames):
            stream.append(sources[i % len(sources)])
            if (i + 1) % max(1, frames // 20) == 0 or i + 1 == frames:
                elapsed = time.perf_counter() - start
                sys.stdout.write(
                    f"\rstreaming {i + 1}/{frames} frames  {(i + 1) * frame_mib:.0f} MiB  "
                    f"{(i + 1) * frame_mib / elapsed:.0f} MiB/s"
                )
                sys.stdout.flush()
    seconds = time.perf_counter() - start
    print()
    reader = _reader_store(out, s3)
    array = zarr.open_array(reader, path="raw", mode="r")
    stored = _stored_bytes_of(out, reader)
    summary = {
        "store": out if s3 is not None else str(Path(out).absolute()),
        "shape": list(array.shape),
        "chunks": list(array.chunks),
        "shards": list(array.shards or ()),
        "codec": _codecs(array),
        "raw_mib": round(array.nbytes / MiB, 1),
        "stored_mib": round(stored / MiB, 1),
        "compression_ratio": round(array.nbytes / stored, 2),
        "seconds": round(seconds, 2),
        "mib_per_s": round(array.nbytes / MiB / seconds, 1),
    }
    check = np.asarray(array[frames - 1])
    if not (check == sources[(frames - 1) % len(sources)]).all():
        raise SystemExit("demo: the last frame read back differs from what was appended")
    for key, value in summary.items():
        print(f"{key:>18}: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zarr-stream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="stream synthetic camera frames to a store and summarise it")
    p_demo.add_argument(
        "--out",
        default="demo.zarr",
        help="output store: a path or s3://bucket/prefix (a Zarr store there is replaced; "
        "anything else is refused)",
    )
    p_demo.add_argument("--endpoint", help="S3 endpoint URL, for s3:// outputs (default: AWS)")
    p_demo.add_argument("--region", help="S3 region, for s3:// outputs (default: from the AWS config)")
    p_demo.add_argument("--frames", type=int, default=128, help="frames to stream (default 128)")
    p_demo.add_argument("--size", type=int, default=2048, help="frame height and width (default 2048)")
    p_demo.add_argument("--chunk-t", type=int, default=32, help="frames per chunk (default 32)")
    p_bench = sub.add_parser(
        "bench", help="measure throughput, append latency and peak RSS; --compare runs the peers too"
    )
    bench.add_arguments(p_bench)
    p_info = sub.add_parser("info", help="print the groups and arrays of a store")
    p_info.add_argument("store")
    p_info.add_argument("--json", action="store_true", help="print the root zarr.json instead")
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except (zs.ZarrStreamError, OSError) as error:  # a user's mistake, or the machine's: one line
        parser.error(str(error))


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "demo":
        if args.frames < 1 or args.size < 1 or args.chunk_t < 1:
            parser.error(
                "--frames, --size and --chunk-t must be >= 1. "
                f"Got {args.frames}, {args.size}, {args.chunk_t}."
            )
        demo(args.out, args.frames, args.size, args.chunk_t, args.endpoint, args.region)
    elif args.command == "bench":
        return bench.run_bench(args)
    elif args.json:
        print(json.dumps(zarr.open(args.store, mode="r").metadata.to_dict(), indent=2, default=str))
    else:
        info(args.store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
