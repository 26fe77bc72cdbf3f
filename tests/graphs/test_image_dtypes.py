"""One rule for every image dtype: the same picture gives the same node features in any dtype."""
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import patch_graph, pixel_grid_graph, superpixel_graph
from pyg_graphcls.graphs.batched_slic import as_image_batch
from pyg_graphcls.graphs.image import as_image, integer_divisor

BUILDERS = {"superpixels": lambda im: superpixel_graph(im, n_segments=25), "grid": pixel_grid_graph,
            "patches": lambda im: patch_graph(im, 4)}


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.int8, np.uint32, np.uint64, "torch.int64"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_same_picture_same_features_in_any_integer_dtype(digits, dtype, builder):
    im = digits[0][5]  # uint8
    if dtype == np.int8:
        im = im // 2  # int8 holds 0..127
    other = torch.from_numpy(im.astype(np.int64)) if dtype == "torch.int64" else im.astype(dtype)
    ref, got = BUILDERS[builder](im), BUILDERS[builder](other)
    assert torch.equal(ref.x, got.x) and torch.equal(ref.edge_index, got.edge_index)


def test_sixteen_bit_values_in_wider_types_match_uint16():
    im = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    assert np.array_equal(as_image(im), as_image(im.astype(np.int32)))
    assert np.array_equal(as_image(im), as_image(im.astype(np.int64)))


def test_bool_image_is_uint8_black_and_white(digits):
    b = digits[0][3] > 100
    assert torch.equal(superpixel_graph(b, n_segments=25).x,
                       superpixel_graph(b.astype(np.uint8) * 255, n_segments=25).x)
    assert np.array_equal(as_image(b), as_image(b.astype(np.uint8) * 255))


def test_batched_path_follows_the_same_rule(digits):
    x = digits[0][:3]
    assert torch.equal(as_image_batch(x), as_image_batch(x.astype(np.int64)))
    assert torch.equal(as_image_batch(x > 100), as_image_batch((x > 100).astype(np.uint8) * 255))


def test_bit_depth_declared_or_a_clear_error():
    im = np.arange(16, dtype=np.int64).reshape(4, 4) * 70000
    with pytest.raises(GraphclsError, match="integer values up to 1050000 .*more than 16 bits; pass bit_depth"):
        as_image(im)
    out = as_image(im, bit_depth=24)
    assert np.allclose(out[..., 0], im / (2 ** 24 - 1))
    with pytest.raises(GraphclsError, match="more than bit_depth=4 allows"):
        as_image(np.full((2, 2), 16, np.uint8), bit_depth=4)
    with pytest.raises(GraphclsError, match="bit_depth must be an integer in 1..32"):
        as_image(np.zeros((2, 2), np.int32), bit_depth=0)
    assert integer_divisor(300, np.int32) == 65535.0 and integer_divisor(200, np.int64) == 255.0
    assert integer_divisor(3, np.uint16) == 65535.0 and integer_divisor(70000, np.uint32, bit_depth=17) == 2 ** 17 - 1
