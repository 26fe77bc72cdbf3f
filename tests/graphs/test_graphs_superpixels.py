"""graphs.superpixels: one pipeline for scikit-image SLIC, Ward merging and the batched SLIC."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch_geometric.data import Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import (PatchGraph, PixelGridGraph, SuperpixelGraph, as_image, patch_graph, pixel_grid_graph,
                                 region_adjacency, superpixel_graph)
from pyg_graphcls.graphs.storage import storage_to_list
from pyg_graphcls.graphs.superpixels import graph_from_segments, segments_to_storage, slic_segments, superpixel_graphs

FEATS = ("mean", "std", "centroid", "area", "bbox")
EDGE_ATTR = ("distance", "gaussian", "cartesian")


def brute_knn(pos, k):
    """(source, target) pairs: per target in order, its k nearest sources by float32 squared distance, then index."""
    p = np.asarray(pos, dtype=np.float32)
    out = []
    for i in range(len(p)):
        cand = sorted((float(((p[j] - p[i]) ** 2).sum()), j) for j in range(len(p)) if j != i)
        out += [(j, i) for _, j in cand[:k]]
    return out


def assert_matches_reference(g, img, seg, k, y=None):
    """A graph of ``FEATS`` / ``EDGE_ATTR`` against numpy, one region (mask) at a time."""
    img = np.asarray(img, np.float64)
    h, w, c = img.shape
    n = int(seg.max()) + 1
    assert g.num_nodes == n and g.x.shape == (n, 2 * c + 7)
    rows, cols = np.indices((h, w))
    for s in range(n):
        m = seg == s
        v = img[m]
        cx, cy = cols[m].mean(), rows[m].mean()
        want = np.concatenate([v.mean(0), v.std(0), [cx / (w - 1), cy / (h - 1), m.sum() / (h * w)],
                               np.array([cols[m].min(), rows[m].min(), cols[m].max(), rows[m].max()])
                               / np.array([w - 1, h - 1, w - 1, h - 1])])
        assert np.allclose(g.x[s].numpy(), want, atol=1e-5), s
        assert np.allclose(g.pos[s].numpy(), [cx, cy], atol=1e-4)
    edges = brute_knn(g.pos, k)
    assert list(map(tuple, g.edge_index.t().tolist())) == edges and len(edges) > 0
    src, dst = np.array(edges).T
    p = g.pos.double().numpy()
    d = np.linalg.norm(p[src] - p[dst], axis=1)
    sigma = np.array([d[dst == t].mean() for t in dst])
    gauss = np.where(sigma > 0, np.exp(-(d / np.maximum(sigma, 1e-12)) ** 2), 1.0)
    want = np.column_stack([d / max(h, w), gauss, (p[src] - p[dst]) / max(h, w)])
    assert np.allclose(g.edge_attr.numpy(), want, atol=1e-5)
    assert g.image_size.tolist() == [[h, w]]
    if y is not None:
        assert g.y.tolist() == [y]


def photos(n=3, size=40):
    import skimage.data as d
    from skimage.transform import resize
    out = [resize(getattr(d, name)()[..., :3], (size, size)) for name in ("astronaut", "coffee", "chelsea")]
    return (np.stack(out[:n]) * 255).round().astype(np.uint8)


def assert_knn(x, ei, k):
    """Tie-robust kNN check: each node's incoming sources are at its k smallest distances."""
    d = torch.cdist(x.double(), x.double())
    d.fill_diagonal_(float("inf"))
    n = x.size(0)
    for i in range(n):
        src = ei[0][ei[1] == i]
        assert len(src) == min(k, n - 1) and len(set(src.tolist())) == len(src)
        assert torch.allclose(d[i, src].sort().values, d[i].sort().values[:len(src)])


def as_set(ei):
    return set(map(tuple, ei.t().tolist()))


@pytest.mark.parametrize("use_cpp", [False, None])
def test_batched_graphs_against_numpy(digits, use_cpp):
    """The batched storage (many label maps at once, local edge indices) and the one-image path, graph by
    graph, against numpy: features per region mask, brute-force kNN, edge features."""
    imgs, labels = digits[0][:8], digits[1][:8]
    segs = np.stack([slic_segments(as_image(im), 75) for im in imgs])  # scikit-image's labels
    data, slices = segments_to_storage(imgs, torch.from_numpy(segs), y=labels, features=FEATS,
                                       edge_attr=EDGE_ATTR, k=8, use_cpp=use_cpp)
    assert data["image_size"].tolist() == [[28, 28]] * 8
    for i, g in enumerate(storage_to_list(data, slices)):
        assert_matches_reference(g, as_image(imgs[i]), segs[i], 8, y=int(labels[i]))
    one = graph_from_segments(as_image(imgs[2]), segs[2], features=FEATS, edge_attr=EDGE_ATTR, k=8)
    assert_matches_reference(one, as_image(imgs[2]), segs[2], 8)


@pytest.mark.parametrize("use_cpp", [False, None])
def test_colour_and_float_images_against_numpy(use_cpp):
    for imgs in (photos(), photos().astype(np.float32) / 255.0):
        segs = np.stack([slic_segments(as_image(im), 30) for im in imgs])
        data, slices = segments_to_storage(imgs, torch.from_numpy(segs), features=FEATS, edge_attr=EDGE_ATTR,
                                           k=5, use_cpp=use_cpp)
        for i, g in enumerate(storage_to_list(data, slices)):
            assert_matches_reference(g, as_image(imgs[i]), segs[i], 5)


@pytest.mark.parametrize("use_cpp", [False, None])
def test_bad_labels(use_cpp):
    imgs = photos().astype(np.float32) / 255.0
    segs = np.stack([slic_segments(im.astype(np.float64), 30) for im in imgs])
    bad = torch.from_numpy(segs).clone()
    bad[0, 0, 0] = -1
    with pytest.raises(GraphclsError, match="labels"):
        segments_to_storage(imgs, bad, use_cpp=use_cpp)
    with pytest.raises(GraphclsError, match="labels"):
        segments_to_storage(imgs, torch.from_numpy(segs), counts=torch.tensor([1, 1, 1]), use_cpp=use_cpp)


def test_non_square_images_carry_their_size():
    yy, xx = np.indices((12, 20))
    img = (127 + 120 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.uint8)
    for g in (superpixel_graph(img, n_segments=10), superpixel_graph(img, n_segments=10, method="fast"),
              pixel_grid_graph(img), patch_graph(img, patch_size=4)):
        assert g.image_size.tolist() == [[12, 20]] and g.image_size.dtype == torch.long
    seg = slic_segments(as_image(img), 10)
    assert seg.max() > 4
    g = graph_from_segments(as_image(img), seg, features=FEATS, edge_attr=EDGE_ATTR, k=4)
    assert_matches_reference(g, as_image(img), seg, 4)
    from torch_geometric.data import Batch
    b = Batch.from_data_list([superpixel_graph(img, n_segments=10), superpixel_graph(img.T.copy(), n_segments=10)])
    assert b.image_size.tolist() == [[12, 20], [20, 12]]


def test_superpixel_graphs_list_workers_and_method(digits):
    imgs, labels = digits[0][:10], digits[1][:10]
    before = torch.get_num_threads()
    data, slices = superpixel_graphs(imgs, labels, chunk=4)
    lst = superpixel_graphs(imgs, labels, collate=False)
    par = superpixel_graphs(imgs, labels, chunk=2, workers=2)    # >= 2 blocks per worker: processes
    thr = superpixel_graphs(imgs, labels, chunk=4, workers=2)    # fewer: one process, 2 torch threads
    for key in data:
        for other in (par, thr):
            assert torch.equal(data[key], other[0][key]) and torch.equal(slices[key], other[1][key])
    assert torch.get_num_threads() == before                     # the thread count is restored
    one = superpixel_graph(imgs[3], y=int(labels[3]), method="fast")
    for key in ("x", "pos", "edge_index", "edge_attr", "y"):
        assert torch.equal(one[key], lst[3][key])
    rag = superpixel_graph(imgs[0], method="fast", edges="rag", return_seg=True)  # every option on the batched path
    assert as_set(rag.edge_index) == as_set(region_adjacency(rag.seg[0].numpy(), 8))
    with pytest.raises(GraphclsError):
        superpixel_graphs(np.zeros((0, 28, 28), np.uint8))


def test_dataset_fast_method(tmp_path, digits):
    from pyg_graphcls.datasets import ImageGraphDataset
    imgs, labels = digits
    ds = ImageGraphDataset(tmp_path, imgs, labels, graph_kwargs={"method": "fast"}, workers=1, progress=False)
    ref = superpixel_graphs(imgs, labels, collate=False)
    assert len(ds) == len(imgs)
    assert torch.equal(ds[5].x, ref[5].x) and torch.equal(ds[5].edge_index, ref[5].edge_index)
    other = ImageGraphDataset(tmp_path, imgs, labels, graph_kwargs={"method": "skimage"}, workers=1, progress=False)
    assert other.cache_path != ds.cache_path  # the method is part of the cache key


@pytest.mark.parametrize("use_cpp", [False, None])
def test_region_features_do_not_depend_on_the_batch(digits, use_cpp):
    """A graph's rows are the same whether its image is converted alone or in a batch of others."""
    feats = FEATS + ("moments", "gradient", "occupancy")
    for imgs in (digits[0][:6], photos()):
        segs = np.stack([slic_segments(as_image(im), 30) for im in imgs])
        data, slices = segments_to_storage(imgs, torch.from_numpy(segs), features=feats, use_cpp=use_cpp)
        for i, g in enumerate(storage_to_list(data, slices)):
            ref = graph_from_segments(as_image(imgs[i]), segs[i], features=feats)
            assert g.x.shape == ref.x.shape
            assert torch.allclose(g.x, ref.x, atol=1e-5), i  # the compiled sums round alike, not always to the bit


def test_superpixel_features_equal_segment_means(digits):
    img = digits[0][3]
    d = superpixel_graph(img, n_segments=75, features=("mean", "std", "centroid", "area", "bbox"),
                         return_seg=True, edge_attr=("distance", "gaussian", "cartesian"))
    seg = d.seg[0].numpy()
    n = d.num_nodes
    assert seg.min() == 0 and seg.max() == n - 1 and len(np.unique(seg)) == n
    f = img.astype(np.float64) / 255
    for s in range(n):
        m = seg == s
        rows, cols = np.nonzero(m)
        assert d.x[s, 0].item() == pytest.approx(f[m].mean(), abs=1e-5)
        assert d.x[s, 1].item() == pytest.approx(f[m].std(), abs=1e-4)
        assert d.pos[s].tolist() == pytest.approx([cols.mean(), rows.mean()], abs=1e-4)
        assert d.x[s, 2:4].tolist() == pytest.approx([cols.mean() / 27, rows.mean() / 27], abs=1e-5)
        assert d.x[s, 4].item() == pytest.approx(m.sum() / 784, abs=1e-6)
        assert d.x[s, 5:9].tolist() == pytest.approx([cols.min() / 27, rows.min() / 27, cols.max() / 27,
                                                       rows.max() / 27], abs=1e-6)
    assert d.edge_attr.shape == (d.num_edges, 4)
    src, dst = d.edge_index
    dist = (d.pos[src] - d.pos[dst]).norm(dim=1) / 28
    assert torch.allclose(d.edge_attr[:, 0], dist, atol=1e-6)
    assert torch.allclose(d.edge_attr[:, 2:], (d.pos[src] - d.pos[dst]) / 28, atol=1e-6)
    assert_knn(d.pos, d.edge_index, 8)  # centroids of background cells tie, so no exact set


def test_superpixels_are_not_a_regular_grid(digits):
    """skimage's compactness=10 gives 81 square cells on [0,1] digits; our default follows the strokes."""
    counts = [superpixel_graph(im, method="skimage").num_nodes for im in digits[0][:20]]
    assert 0.75 * 75 <= np.median(counts) <= 1.15 * 75
    assert len(set(counts)) > 1
    grid_like = [superpixel_graph(im, compactness=10.0, method="skimage").num_nodes for im in digits[0][:5]]
    assert set(grid_like) == {81}


def test_rag_edges_touch(digits):
    d = superpixel_graph(digits[0][0], edges="rag", return_seg=True)
    seg = d.seg[0].numpy()
    assert as_set(d.edge_index) == as_set(region_adjacency(seg, 8))
    assert (d.edge_index[0] != d.edge_index[1]).all()


@pytest.mark.parametrize("shape,dtype", [((28, 28), np.uint8), ((28, 28, 3), np.uint8), ((3, 32, 32), np.float32),
                                         ((64, 48), np.uint16), ((1, 20, 20), np.float64)])
def test_layouts_and_dtypes(shape, dtype):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        img = rng.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    else:
        img = rng.random(shape).astype(dtype)
    a = as_image(img)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    c = 3 if 3 in shape[:1] + shape[-1:] else 1
    assert a.shape[2] == c
    d = superpixel_graph(img, n_segments=20)
    assert d.x.shape[1] == c + 2 and d.num_nodes >= 1


def test_bad_images_raise_clear_errors():
    with pytest.raises(GraphclsError, match="NaN"):
        superpixel_graph(np.full((8, 8), np.nan))
    with pytest.raises(GraphclsError, match="empty"):
        superpixel_graph(np.zeros((0, 5)))
    with pytest.raises(GraphclsError, match="dimensions"):
        pixel_grid_graph(np.zeros((2, 3, 4, 5)))
    with pytest.raises(GraphclsError, match="node features"):
        superpixel_graph(np.zeros((8, 8)), features=("colour",))
    with pytest.raises(GraphclsError, match="patch_size"):
        patch_graph(np.zeros((8, 8)), patch_size=0)
    with pytest.raises(GraphclsError, match="connectivity"):
        pixel_grid_graph(np.zeros((8, 8)), connectivity=6)


def test_transforms_match_functions(digits):
    img = torch.from_numpy(digits[0][5]).unsqueeze(0)  # [1, H, W] uint8
    a = SuperpixelGraph(n_segments=50)(Data(img=img, y=torch.tensor([7])))
    b = superpixel_graph(img, n_segments=50, y=7)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and a.y.tolist() == [7]
    assert torch.equal(PixelGridGraph(connectivity=4)(img).edge_index, pixel_grid_graph(img, 4).edge_index)
    assert PatchGraph(patch_size=7)(img).num_nodes == 16
    assert "n_segments=50" in repr(SuperpixelGraph(n_segments=50))


def test_fields_are_the_graphs_without_data(digits):
    """build_fields (what a conversion stores, no PyG) holds the graph of build_graph, in the order of its
    Data's attributes (the order of a cache's fields); each *_fields function takes its builder's arguments."""
    import inspect

    from pyg_graphcls.graphs import build_fields, build_graph
    from pyg_graphcls.graphs import grid, patches, superpixels
    img = digits[0][5]
    for kind, kw in (("superpixels", dict(n_segments=30, return_seg=True, return_img=True, edge_attr=EDGE_ATTR)),
                     ("superpixels", dict(method="skimage", edges="rag", node_pos="interior")),
                     ("grid", dict(position=True, edge_attr=("distance",))),
                     ("patches", dict(patch_size=7, edges="knn", return_img=True))):
        fields, data = build_fields(kind, img, y=3, **kw), build_graph(kind, img, y=3, **kw)
        assert isinstance(fields, dict) and list(fields) == list(data.to_dict()), kind
        assert list(fields)[:3] == ["x", "edge_index", "pos"]
        assert all(torch.equal(v, data[k]) for k, v in fields.items()), kind
    for graph_fn, fields_fn in ((superpixels.superpixel_graph, superpixels.superpixel_fields),
                                (superpixels.graph_from_segments, superpixels.fields_from_segments),
                                (grid.pixel_grid_graph, grid.pixel_grid_fields),
                                (patches.patch_graph, patches.patch_fields)):
        assert list(inspect.signature(graph_fn).parameters.values()) == \
            list(inspect.signature(fields_fn).parameters.values()), graph_fn.__name__


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), c=st.sampled_from([1, 3]), n=st.integers(1, 60),
       k=st.integers(0, 9), seed=st.integers(0, 10_000), const=st.booleans())
def test_any_valid_image_gives_a_valid_graph(h, w, c, n, k, seed, const):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, c), 0.5, np.float32) if const else rng.random((h, w, c)).astype(np.float32)
    d = superpixel_graph(img, n_segments=n, k=k)
    N = d.num_nodes
    assert 1 <= N <= h * w
    assert d.edge_index.numel() == 0 or (0 <= int(d.edge_index.min()) and int(d.edge_index.max()) < N)
    assert (d.edge_index[0] != d.edge_index[1]).all()
    assert torch.isfinite(d.x).all() and torch.isfinite(d.pos).all()
    if d.edge_attr is not None:
        assert torch.isfinite(d.edge_attr).all()
    if k >= 1 and N >= 2:
        assert torch.bincount(d.edge_index[1], minlength=N).min() >= 1


@pytest.mark.parametrize("use_cpp", [False, None])
def test_uint8_block_and_float_images_give_the_same_graphs(digits, use_cpp):
    """The dataset path hands a uint8 block to superpixel_graphs as it is; per image, superpixel_graph
    converts with as_image first: the same graphs."""
    imgs, labels = digits[0][:6], digits[1][:6]
    block = superpixel_graphs(imgs, labels, collate=False, use_cpp=use_cpp)
    floats = superpixel_graphs(np.stack([as_image(im) for im in imgs]), labels, collate=False, use_cpp=use_cpp)
    for a, b in zip(block, floats):
        for key in ("x", "pos", "edge_index", "edge_attr", "y"):
            assert torch.equal(a[key], b[key]), key
