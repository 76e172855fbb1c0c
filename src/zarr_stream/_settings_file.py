"""Settings as plain data (JSON or YAML files) and back: what ``StreamSettings.to_dict``,
``from_dict``, ``to_file`` and ``from_file`` do.

Every field of every settings class is written, defaults too, so a file says everything the
stream does and a round trip is exact: ``from_dict(to_dict(s)) == s`` and
``to_dict(from_dict(d)) == d`` for a ``d`` that ``to_dict`` wrote. Reading checks keys
against the classes' fields (an unknown or missing key is a ``SettingsError`` naming it
and where it is), and then the classes check the values as they always do.

This is written by hand rather than with a (de)serialisation library (pydantic, cattrs): the
settings classes are plain frozen dataclasses that validate themselves, the mapping is a
dozen lines over their fields, and the runtime dependencies stay those zarr already has.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zarr_stream.errors import SettingsError
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

__all__ = ["SETTINGS_VERSION", "read_file", "settings_from_dict", "settings_to_dict", "write_file"]

#: The version of the settings layout this zarr-stream reads and writes.
SETTINGS_VERSION = 1

#: The settings class inside each field that holds settings (one, or a list of them: see _LISTS).
_NESTED: dict[tuple[type, str], type] = {
    (StreamSettings, "arrays"): ArraySettings,
    (StreamSettings, "plates"): Plate,
    (StreamSettings, "s3"): S3Settings,
    (ArraySettings, "dimensions"): Dimension,
    (ArraySettings, "compression"): Compression,
    (ArraySettings, "multiscale"): Multiscale,
    (ArraySettings, "channels"): Channel,
    (Plate, "acquisitions"): Acquisition,
    (Plate, "wells"): Well,
    (Well, "fields"): FieldOfView,
    (FieldOfView, "array"): ArraySettings,
}

_LISTS = {"arrays", "plates", "dimensions", "channels", "acquisitions", "wells", "fields"}

_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def settings_to_dict(settings: StreamSettings) -> dict[str, Any]:
    """``settings`` as JSON-compatible data, with ``version`` first."""
    store = os.fspath(settings.store) if isinstance(settings.store, os.PathLike) else settings.store
    if not isinstance(store, str):
        raise SettingsError(
            "only a path or an s3:// URL can be written to a settings file, not a store object. "
            f"Got store={settings.store!r}."
        )
    plain = _plain(settings)
    plain["store"] = store
    return {"version": SETTINGS_VERSION, **plain}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def settings_from_dict(data: object) -> StreamSettings:
    """The settings that ``data`` (as ``settings_to_dict`` writes it) describes."""
    if not isinstance(data, Mapping):
        raise SettingsError(f"settings must be a mapping of their fields. Got {data!r}.")
    version = data.get("version", SETTINGS_VERSION)
    if isinstance(version, bool) or version != SETTINGS_VERSION:
        raise SettingsError(
            f"settings version must be {SETTINGS_VERSION} (the layout this zarr-stream reads). "
            f"Got {version!r}."
        )
    fields = {key: value for key, value in data.items() if key != "version"}
    settings: StreamSettings = _build(StreamSettings, fields, "settings")
    return settings


def _build(cls: type, data: object, where: str) -> Any:
    """An instance of the settings class ``cls`` from the mapping ``data`` found at ``where``."""
    if not isinstance(data, Mapping):
        raise SettingsError(f"{where} must be a mapping of {cls.__name__} fields. Got {data!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in data if key not in fields]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SettingsError(
            f"unknown key {', '.join(map(repr, unknown))} in {where}{hint}; "
            f"{cls.__name__} has the keys {', '.join(fields)}."
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SettingsError(f"{where} ({cls.__name__}) must have the key {', '.join(map(repr, missing))}.")
    values = {}
    for key, value in data.items():
        nested = _NESTED.get((cls, key))
        if nested is None or value is None:
            values[key] = value
        elif key in _LISTS:
            if not isinstance(value, list):
                raise SettingsError(
                    f"{where}.{key} must be a list of {nested.__name__} mappings. Got {value!r}."
                )
            values[key] = [_build(nested, item, f"{where}.{key}[{i}]") for i, item in enumerate(value)]
        else:
            values[key] = _build(nested, value, f"{where}.{key}")
    try:
        return cls(**values)
    except SettingsError as error:
        raise SettingsError(f"in {where}: {error}") from error


def write_file(settings: StreamSettings, path: str | os.PathLike[str]) -> None:
    """Write ``settings`` to ``path``, JSON or YAML by its suffix, replacing it whole."""
    target = Path(path)
    text = _dump(settings_to_dict(settings), _format(target))
    staged = target.with_name(f".{target.name}.partial")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, target)  # a reader never finds half a settings file


def read_file(path: str | os.PathLike[str]) -> StreamSettings:
    """The settings in the JSON or YAML file at ``path``."""
    source = Path(path)
    kind = _format(source)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"the settings file {str(source)!r} cannot be read: {error}") from error
    data = _load(text, kind, source)
    try:
        return settings_from_dict(data)
    except SettingsError as error:
        raise SettingsError(f"{source}: {error}") from error


def _format(path: Path) -> str:
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SettingsError(
            f"a settings file ends in {', '.join(_SUFFIXES)} (JSON or YAML). Got {str(path)!r}."
        )
    return kind


def _load(text: str, kind: str, source: Path) -> object:
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError as error:
            raise SettingsError(f"the settings file {str(source)!r} is not valid JSON: {error}") from error
    import yaml  # only YAML files need pyyaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SettingsError(f"the settings file {str(source)!r} is not valid YAML: {error}") from error


def _dump(data: dict[str, Any], kind: str) -> str:
    if kind == "json":
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    import yaml

    dumped: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return dumped
