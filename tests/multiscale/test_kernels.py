"""The downsampling kernels against a plain-Python reference, and their speed (pytest-benchmark)."""

from __future__ import annotations

import itertools

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zarr_stream.multiscale import Reducer

DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]
METHODS = ["mean", "min", "max", "decimate"]


def python_reference(block: np.ndarray, method: str) -> np.ndarray:
    """One level down from ``block`` ((planes, y, x)), pixel by pixel in Python numbers."""
    _, height, width = block.shape
    out = np.empty((-(-height // 2), -(-width // 2)), block.dtype)
    for i, j in itertools.product(range(out.shape[0]), range(out.shape[1])):
        cell = block[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        values = [v.item() for v in cell.ravel()]
        if method == "decimate":
            out[i, j] = block[0, 2 * i, 2 * j]
        elif method == "min":
            out[i, j] = min(values)
        elif method == "max":
            out[i, j] = max(values)
        elif block.dtype.kind == "f":
            out[i, j] = sum(values) / len(values)
        else:
            out[i, j] = sum(values) // len(values)  # floor, also for negative sums
    return out


@st.composite
def blocks(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    planes = draw(st.integers(1, 2))
    shape = (planes, draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    if dtype.kind == "f":
        elements = st.floats(-1e6, 1e6, width=dtype.itemsize * 8)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))  # the extremes: sums that overflow the dtype
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=300, deadline=None)
@given(block=blocks(), method=st.sampled_from(METHODS), split=st.booleans())
def test_kernels_equal_the_python_reference(block, method, split):
    planes = [block[0]] if method == "decimate" else list(block)
    reducer = Reducer(method, block.dtype, block.shape[1:])
    if split and len(planes) == 2:  # the second plane arrives later, into the accumulator
        acc = reducer.accumulate(planes[1:], reducer.accumulate(planes[:1], None))
    else:
        acc = reducer.accumulate(planes, None)
    out = np.empty(reducer.half_shape, block.dtype)
    reducer.finish(acc, len(planes), out)
    expected = python_reference(block[: len(planes)], method)
    if block.dtype.kind == "f":
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(out, expected)


def test_a_plane_of_fill_value_counts_in_min_max_and_mean():
    plane = np.full((2, 2), 9, np.uint16)
    for method, want in (("mean", 4), ("min", 0), ("max", 9)):  # mean: (4 * 9 + 4 * 0) // 8
        reducer = Reducer(method, np.dtype("uint16"), (2, 2))
        acc = reducer.accumulate([plane], None)
        reducer.add_fill(acc)
        out = np.empty((1, 1), np.uint16)
        reducer.finish(acc, 2, out)
        assert out.item() == want, method


def test_only_z_is_halved_when_frames_are_not():
    planes = np.arange(2 * 3 * 3, dtype=np.int16).reshape(2, 3, 3) - 5
    reducer = Reducer("mean", np.dtype("int16"), (3, 3), halve_frame=False)
    out = np.empty((3, 3), np.int16)
    reducer.finish(reducer.accumulate(list(planes), None), 2, out)
    np.testing.assert_array_equal(out, (planes[0].astype(int) + planes[1]) // 2)


@pytest.mark.parametrize("method", METHODS)
def test_benchmark_kernel_on_a_2048_frame(benchmark, method):
    frame = np.random.default_rng(0).integers(0, 4096, (2048, 2048), dtype=np.uint16)
    reducer = Reducer(method, np.dtype("uint16"), frame.shape)
    out = np.empty(reducer.half_shape, np.uint16)

    def run():
        reducer.finish(reducer.accumulate([frame], None), 1, out)

    benchmark(run)
    assert out.shape == (1024, 1024)
