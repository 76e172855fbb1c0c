from __future__ import annotations

import zarr_stream as zs
from zarr_stream import errors


def test_all_is_sorted_and_complete():
    assert list(zs.__all__) == sorted(zs.__all__)
    for name in zs.__all__:
        assert hasattr(zs, name), name
    public = {n for n in dir(zs) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(zs.__all__)


def test_error_hierarchy_matches_builtins():
    assert issubclass(zs.SettingsError, ValueError)
    assert issubclass(zs.FrameError, ValueError)
    assert issubclass(zs.FrameDtypeError, TypeError)
    assert issubclass(zs.StreamClosedError, RuntimeError)
    assert issubclass(zs.BackgroundError, RuntimeError)
    assert issubclass(zs.StoreExistsError, FileExistsError)
    assert issubclass(zs.ObjectExistsError, FileExistsError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), zs.ZarrStreamError)
        assert name in errors.__doc__
