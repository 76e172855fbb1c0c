"""Command line: ``zarr-stream demo`` and ``zarr-stream info STORE``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import zarr

import zarr_stream as zs
from zarr_stream import bench
from zarr_stream._demo import demo_settings, run_demo, with_store
from zarr_stream._describe import describe_array, stored_bytes
from zarr_stream.storage import leftovers

MiB = 2**20


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
        stored = stored_bytes(root_path / node.path) if root_path.exists() else None
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zarr-stream", description=__doc__)
    parser.add_argument("--version", action="version", version=f"zarr-stream {zs.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser(
        "demo",
        help="stream synthetic camera frames to a store and summarise it",
        description="Stream synthetic camera frames into the demo's array, or into every array of "
        "a settings file (--config), then read them back and summarise the store.",
    )
    p_demo.add_argument(
        "--out",
        help="output store: a path or s3://bucket/prefix (default: demo.zarr, or the settings "
        "file's store; a Zarr store there is replaced only if the settings say overwrite)",
    )
    p_demo.add_argument("--config", help="a settings file (.json, .yaml) to stream into, not the demo's")
    p_demo.add_argument("--save-config", help="write the settings used to this .json or .yaml file first")
    p_demo.add_argument("--endpoint", help="S3 endpoint URL, for s3:// outputs (default: AWS)")
    p_demo.add_argument("--region", help="S3 region, for s3:// outputs (default: from the AWS config)")
    p_demo.add_argument("--frames", type=int, default=128, help="frames to stream per array (default 128)")
    p_demo.add_argument("--size", type=int, help="frame height and width (default 2048; not with --config)")
    p_demo.add_argument("--chunk-t", type=int, help="frames per chunk (default 32; not with --config)")
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
    except KeyboardInterrupt:
        print("zarr-stream: interrupted", file=sys.stderr)
        return 130


def _demo(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.config is not None:
        options = ("size", "chunk_t", "endpoint", "region")
        given = [name for name in options if getattr(args, name) is not None]
        if given:
            parser.error(
                "--config sets the arrays and the S3 connection: leave out "
                + ", ".join("--" + name.replace("_", "-") for name in given)
                + "."
            )
        settings = zs.StreamSettings.from_file(args.config)
        if args.out is not None:
            settings = with_store(settings, args.out)
    else:
        size = 2048 if args.size is None else args.size
        chunk_t = 32 if args.chunk_t is None else args.chunk_t
        if size < 1 or chunk_t < 1:
            parser.error(f"--size and --chunk-t must be >= 1. Got {size}, {chunk_t}.")
        settings = demo_settings(args.out or "demo.zarr", size, chunk_t, args.endpoint, args.region)
    if args.frames < 1:
        parser.error(f"--frames must be >= 1. Got {args.frames}.")
    if args.save_config is not None:
        settings.to_file(args.save_config)
        print(f"settings written to {args.save_config}")
    run_demo(settings, args.frames)


def _info(store: str, as_json: bool) -> None:
    if "://" not in store and not (Path(store) / "zarr.json").is_file():
        what = "no such path" if not Path(store).exists() else "no zarr.json at its root"
        raise zs.SettingsError(f"info reads a local Zarr v3 store: {what}. Got {store!r}.")
    if as_json:
        print(json.dumps(zarr.open(store, mode="r").metadata.to_dict(), indent=2, default=str))
    else:
        info(store)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "demo":
        _demo(parser, args)
    elif args.command == "bench":
        return bench.run_bench(args)
    else:
        _info(args.store, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
