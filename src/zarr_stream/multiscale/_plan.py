"""The levels of an image: how many, their shapes, chunks and shards. Pure arithmetic.

Downsampled dimensions, read in stored order: the frame's (y and x, the last two), and the
one just before them when it is a space dimension (z), which may be the append dimension.
Which of them a level halves (odd sizes round up), and how many levels there are, follow
acquire-zarr's rules (``halved_at_next_level``, ``level_count``), so a user moving
from it gets the same pyramid. An unbounded append z is halved at every level (consecutive
frames paired), which acquire-zarr does not do. Chunks are level 0's; shard counts are
clipped to the level's chunks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from zarr_stream.multiscale._feeder import LevelGeometry
from zarr_stream.multiscale._kernels import half
from zarr_stream.settings import ArraySettings, Dimension

__all__ = ["ImagePlan", "downsampled_names", "halved_at_next_level", "level_count"]


def downsampled_names(stored: tuple[Dimension, ...]) -> tuple[str, ...]:
    """The dimensions a pyramid may halve, in stored order (see the module docstring)."""
    frame_ndim = 2 if len(stored) >= 3 else 1
    names = [dim.name for dim in stored[-frame_ndim:]]
    before = stored[-frame_ndim - 1]
    if before.kind == "space":
        names.insert(0, before.name)
    return tuple(names)


def _log2_ceil(n: int) -> int:
    """Halvings that bring ``n`` chunks down to one (acquire-zarr's ``bit_width(n - 1)``)."""
    return (n - 1).bit_length() if n > 1 else 0


def halved_at_next_level(stored: tuple[Dimension, ...]) -> tuple[str, ...]:
    """The dimensions (of a level, in stored order) that the next level halves, as acquire-zarr.

    y and x are halved together while the smaller is longer than the larger chunk; z while it
    is longer than its chunk, and always when it is the unbounded append dimension.

    >>> from zarr_stream import Dimension
    >>> halved_at_next_level((Dimension("z", size=40, chunk=32), Dimension("y", size=512, chunk=256),
    ...                       Dimension("x", size=512, chunk=256)))
    ('z', 'y', 'x')
    """
    y, x = stored[-2], stored[-1]
    sizes = [dim.size or math.inf for dim in (y, x)]  # 0: an unbounded append dimension (2-D)
    halved: list[str] = []
    if min(sizes) > max(y.chunk or 1, x.chunk or 1):
        halved += [y.name, x.name]
    if len(stored) >= 3 and stored[-3].kind == "space":
        z = stored[-3]
        if z.size == 0 or z.size > (z.chunk or 1):
            halved.insert(0, z.name)
    return tuple(halved)


def level_count(stored: tuple[Dimension, ...], max_levels: int | None) -> int:
    """Levels written, level 0 included, as acquire-zarr counts them, and never two alike.

    acquire-zarr adds ``ceil(log2(chunks))`` levels, of the fewer chunks of y and x, or of z
    if that is more (bounded dimensions only); ``max_levels`` caps it (acquire-zarr's N is
    our N + 1). Where its rule would repeat a level unchanged, the pyramid stops instead.

    >>> from zarr_stream import Dimension
    >>> dims = (Dimension("t", kind="time", chunk=1), Dimension("y", size=2048, chunk=256),
    ...         Dimension("x", size=2048, chunk=256))
    >>> level_count(dims, None), level_count(dims, 2)
    (4, 2)
    """

    def chunks(dim: Dimension) -> int:
        return -(-dim.size // (dim.chunk or 1))

    bounded = [dim for dim in stored[-2:] if dim.size]
    extra = min((_log2_ceil(chunks(dim)) for dim in bounded), default=0)
    if len(stored) >= 3 and stored[-3].kind == "space" and stored[-3].size:
        extra = max(extra, _log2_ceil(chunks(stored[-3])))
    if max_levels is not None:
        extra = min(extra, max_levels - 1)
    count, dims = 1, stored
    while count <= extra:
        halved = halved_at_next_level(dims)
        if not halved:
            break
        dims = tuple(_halved(dim) if dim.name in halved else dim for dim in dims)
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """Every level of the image of ``settings``: its array settings and geometry."""

    levels: tuple[ArraySettings, ...]
    geometries: tuple[LevelGeometry, ...]  # per level but the last, in acquisition order
    factors: tuple[tuple[int, ...], ...]  # per level, in stored order: how much coarser than level 0

    @staticmethod
    def of(settings: ArraySettings) -> ImagePlan:
        acquired = tuple(dataclasses.replace(dim, unit=None, scale=1.0) for dim in settings.dimensions)
        order = [dim.name for dim in settings.stored_dimensions]
        multiscale = settings.multiscale
        count = 1 if multiscale is None else level_count(settings.stored_dimensions, multiscale.max_levels)
        frame_ndim = 2 if len(acquired) >= 3 else 1
        names = [dim.name for dim in acquired]
        levels, geometries = [], []
        factors = [(1,) * len(acquired)]
        dims = acquired
        for level in range(count):
            key = f"{settings.key}/{level}" if settings.key else str(level)
            levels.append(
                dataclasses.replace(
                    settings,
                    key=key,
                    dimensions=dims,
                    multiscale=None,
                    ngff=False,
                    attributes=None,
                    channels=(),
                )
            )
            if level == count - 1:
                break
            halved = halved_at_next_level(tuple(dims[names.index(name)] for name in order))
            pairing = [name for name in halved if name not in names[-frame_ndim:]]
            sizes = tuple(dim.size for dim in dims)
            geometries.append(
                LevelGeometry(
                    sizes[0],
                    sizes[1:-frame_ndim],
                    sizes[-frame_ndim:],
                    names.index(pairing[0]) if pairing else None,
                    halve_frame=names[-1] in halved,
                )
            )
            factors.append(
                tuple(f * (2 if name in halved else 1) for f, name in zip(factors[-1], order, strict=True))
            )
            dims = tuple(_halved(dim) if dim.name in halved else dim for dim in dims)
        return ImagePlan(tuple(levels), tuple(geometries), tuple(factors))


def _halved(dim: Dimension) -> Dimension:
    """``dim`` one level down: half the size, the same chunk, shards clipped to the chunks.

    A chunk longer than the level is one partial chunk, as acquire-zarr keeps it (valid Zarr).
    """
    if dim.size == 0:  # an unbounded append dimension: as long as frames come
        return dim
    size = half(dim.size)
    chunk = dim.chunk or size
    return dataclasses.replace(dim, size=size, shard=min(dim.shard, -(-size // chunk)))
