"""Blosc chunks stitched from tiles' blocks decode, in numcodecs, to the tiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numcodecs import Blosc

import zarr_stream as zs
from zarr_stream.engine._stitch import BlockCompressor, bitshuffle, byteshuffle

DTYPES = ["uint8", "uint16", "int32", "float32", "float64", "complex128"]


def make_tile(kind: str, shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "zero":
        return np.zeros(shape, dtype)
    if kind == "smooth":  # compresses
        return (np.arange(np.prod(shape)) % 7).astype(dtype).reshape(shape)
    return np.frombuffer(rng.bytes(np.prod(shape) * np.dtype(dtype).itemsize), dtype).reshape(
        shape
    )  # does not


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(["zero", "smooth", "noise"]), min_size=1, max_size=6),
    dtype=st.sampled_from(DTYPES),
    codec=st.sampled_from(["zstd", "lz4"]),
    shuffle=st.sampled_from(["noshuffle", "shuffle", "bitshuffle"]),
    level=st.sampled_from([0, 1, 5, 9]),
    tile=st.sampled_from([(1,), (3, 5), (16, 16), (9, 64)]),
)
def test_stitched_chunk_decodes_to_its_tiles(kinds, dtype, codec, shuffle, level, tile):
    rng = np.random.default_rng(len(kinds))
    compression = zs.Compression(codec=codec, level=level, shuffle=shuffle)
    compressor = BlockCompressor(compression, np.dtype(dtype), int(np.prod(tile)) * np.dtype(dtype).itemsize)
    tiles = [make_tile(kind, tile, dtype, rng) for kind in kinds]
    flat = np.stack([t.reshape(-1) for t in tiles])
    one_frame = compressor.compress(flat)  # the tiles of one frame: one Blosc call
    frame_each = [compressor.compress(row[None])[0] for row in flat]  # of as many frames
    for blocks in (one_frame, frame_each):
        assert [b is None for b in blocks] == [not t.view("u1").any() for t in tiles]
        parts = compressor.assemble(blocks)
        if all(b is None for b in blocks):
            assert parts is None
            continue
        decoded = np.frombuffer(Blosc().decode(b"".join(parts)), dtype)
        np.testing.assert_array_equal(decoded.view("u1"), flat.reshape(-1).view("u1"))


@pytest.mark.parametrize("elements", [200, 203])  # a multiple of 8, and not
@pytest.mark.parametrize("dtype", ["u1", "u2", "u4", "u8", "c16"])
@pytest.mark.parametrize("shuffle", ["shuffle", "bitshuffle"])
def test_incompressible_tile_is_stored_shuffled_as_blosc_expects(dtype, elements, shuffle):
    # Blosc decompresses a stored block, then unshuffles it: our numpy shuffles must be its inverse's inverse.
    raw = np.random.default_rng(elements).bytes(np.dtype(dtype).itemsize * elements)
    compressor = BlockCompressor(
        zs.Compression(codec="lz4", level=1, shuffle=shuffle), np.dtype(dtype), len(raw)
    )
    [smooth] = compressor.compress(np.ones((1, elements), dtype))
    [noise] = compressor.compress(np.frombuffer(raw, dtype)[None])
    assert noise is not None and noise[1]  # Blosc gave it back memcpyed: raw
    chunk = b"".join(compressor.assemble([smooth, noise]))
    assert Blosc().decode(chunk)[len(raw) :] == raw


def test_shuffles_match_blosc_on_a_known_case():
    assert byteshuffle(bytes(range(6)), 3) == bytes([0, 3, 1, 4, 2, 5])
    assert bitshuffle(bytes([0xFF] + [0] * 7), 1) == bytes([1] * 8)  # each bit plane holds element 0
    assert bitshuffle(bytes(range(9)), 1) == bytes(range(9))  # not a multiple of 8: left alone (format 2)


def test_frame_is_compressed_tile_by_tile_when_blosc_cuts_other_blocks():
    # A codec whose blocks span two tiles: the per-frame call cannot be split into tiles.
    compression = zs.Compression(codec="zstd", level=1, shuffle="shuffle")
    compressor = BlockCompressor(compression, np.dtype("<u2"), 512)
    compressor._codec = Blosc(cname="zstd", clevel=1, shuffle=Blosc.SHUFFLE, blocksize=1024)
    tiles = (np.arange(4 * 256).reshape(4, 256) % 7 * [[0], [1], [2], [3]]).astype("<u2")
    blocks = compressor.compress(tiles)
    assert [b is None for b in blocks] == [True, False, False, False]
    decoded = np.frombuffer(Blosc().decode(b"".join(compressor.assemble(blocks))), "<u2")
    np.testing.assert_array_equal(decoded, tiles.reshape(-1))
