"""``zarr-stream bench``: workloads, the writers it drives (ours and the peers'), the ceiling, the report."""

from zarr_stream.bench._run import add_arguments, main, run_bench

__all__ = ["add_arguments", "main", "run_bench"]
