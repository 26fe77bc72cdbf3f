import numpy as np
import pytest

#: superpixel graphs as the accuracy recipes build them: 75 SLIC regions, 9 columns, kNN-8
SUPERPIXEL_GRAPH = {"n_segments": 75, "features": ["mean", "std", "centroid", "area", "bbox"], "edges": "knn",
                    "k": 8, "edge_attr": ["distance", "cartesian"]}
#: the same with moments, gradient and occupancy (23 columns), regions merged by Ward's criterion
SUPERPIXEL_WARD_GRAPH = {**SUPERPIXEL_GRAPH, "merge": "ward",
                         "features": SUPERPIXEL_GRAPH["features"] + ["moments", "gradient", "occupancy"]}
#: feature group -> [start, stop) of SUPERPIXEL_WARD_GRAPH's columns (one channel), written out by hand
WARD_COLUMNS = {"mean": [0, 1], "std": [1, 2], "centroid": [2, 4], "area": [4, 5], "bbox": [5, 9],
                "moments": [9, 12], "gradient": [12, 14], "occupancy": [14, 23]}


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
