"""Multiscale pyramids: the levels' geometry, the downsampling kernels, and the feeding of
each level from the one above as frames arrive."""

from zarr_stream.multiscale._feeder import LevelFeeder, LevelGeometry
from zarr_stream.multiscale._kernels import Reducer, half
from zarr_stream.multiscale._plan import ImagePlan, downsampled_names, level_count

__all__ = ["ImagePlan", "LevelFeeder", "LevelGeometry", "Reducer", "downsampled_names", "half", "level_count"]
