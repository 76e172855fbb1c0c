"""``python -m zarr_stream.bench``: the bench, and each of its measurement processes (``--child``)."""

from zarr_stream.bench._run import main

raise SystemExit(main())
