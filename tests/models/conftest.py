import numpy as np
import pytest
from models_testdata import SUPERPIXEL_GRAPH, SUPERPIXEL_WARD_GRAPH


@pytest.fixture(scope="module")
def real_images():
    from pyg_graphcls.datasets import load_idx_dir, sample_dir
    tri, trl, _, _ = load_idx_dir(sample_dir())
    idx = np.concatenate([np.flatnonzero(trl == k)[:4] for k in range(10)])[:32]
    return tri[idx], trl[idx]


@pytest.fixture(scope="module")
def sp_graphs(real_images):
    from pyg_graphcls.graphs import superpixel_graph
    x, y = real_images
    return [superpixel_graph(img, y=int(lab), **SUPERPIXEL_GRAPH) for img, lab in zip(x, y)]


@pytest.fixture(scope="module")
def grid_graphs(real_images):
    from pyg_graphcls.graphs import pixel_grid_graph
    x, y = real_images
    return [pixel_grid_graph(img, y=int(lab), connectivity=8, position=True) for img, lab in zip(x[:8], y[:8])]


@pytest.fixture(scope="module")
def ward_graphs(real_images):
    from pyg_graphcls.graphs import superpixel_graph
    x, y = real_images
    return [superpixel_graph(img, y=int(lab), **SUPERPIXEL_WARD_GRAPH) for img, lab in zip(x, y)]
