"""``python -m zarr_stream``: the ``zarr-stream`` command."""

from zarr_stream.cli import main

raise SystemExit(main())
