"""The batched superpixel path against the per-image path, and the quality measures."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import superpixel_graph
from pyg_graphcls.graphs.batched_slic import batched_slic, rgb_to_lab
from pyg_graphcls.graphs.storage import storage_to_list
from pyg_graphcls.graphs.superpixels import segments_to_storage, superpixel_graphs
from pyg_graphcls.graphs.image import as_image
from pyg_graphcls.graphs.quality import (boundary_map, boundary_recall, segment_count,
                                         undersegmentation_error)
from pyg_graphcls.graphs.superpixels import graph_from_segments, slic_segments

FEATS = ("mean", "std", "centroid", "area", "bbox")
EDGE_ATTR = ("distance", "gaussian", "cartesian")


def photos(n=3, size=40):
    import skimage.data as d
    from skimage.transform import resize
    out = [resize(getattr(d, name)()[..., :3], (size, size)) for name in ("astronaut", "coffee", "chelsea")]
    return (np.stack(out[:n]) * 255).round().astype(np.uint8)


@pytest.mark.parametrize("use_cpp", [False, None])
def test_features_and_edges_equal_per_image_path(digits, use_cpp):
    imgs, labels = digits[0][:8], digits[1][:8]
    segs = np.stack([slic_segments(as_image(im), 75) for im in imgs])  # scikit-image's labels
    data, slices = segments_to_storage(imgs, torch.from_numpy(segs), y=labels, features=FEATS,
                                       edge_attr=EDGE_ATTR, k=8, use_cpp=use_cpp)
    for i, g in enumerate(storage_to_list(data, slices)):
        ref = graph_from_segments(as_image(imgs[i]), segs[i], features=FEATS, edge_attr=EDGE_ATTR, k=8,
                                  y=int(labels[i]))
        for key in ("x", "pos", "edge_index", "edge_attr", "y"):
            assert torch.equal(g[key], ref[key]), key


def test_features_equal_for_colour_images():
    imgs = photos()
    segs = np.stack([slic_segments(as_image(im), 30) for im in imgs])
    data, slices = segments_to_storage(imgs, torch.from_numpy(segs), features=FEATS, k=5)
    for i, g in enumerate(storage_to_list(data, slices)):
        ref = graph_from_segments(as_image(imgs[i]), segs[i], features=FEATS, k=5)
        assert torch.equal(g.x, ref.x) and torch.equal(g.edge_index, ref.edge_index)


def test_batched_slic_counts_and_quality(digits):
    imgs = digits[0][:12]
    lab, cnt = batched_slic(imgs, 75)
    assert lab.shape == (12, 28, 28) and lab.dtype == torch.long
    assert all(int(lab[i].max()) + 1 == int(cnt[i]) == segment_count(lab[i]) for i in range(12))
    assert abs(float(cnt.float().median()) - 75) <= 0.15 * 75
    grid = batched_slic(imgs, 75, max_iter=0)[0]  # one assignment from the grid: close to a plain grid
    ue_fast, ue_grid = [], []
    for i, im in enumerate(imgs):
        ref = slic_segments(as_image(im), 75)
        assert boundary_recall(lab[i], ref, 1) > 0.95
        ue_fast.append(undersegmentation_error(lab[i], ref))
        ue_grid.append(undersegmentation_error(grid[i], ref))
    assert np.mean(ue_fast) < np.mean(ue_grid)


def test_compiled_and_tensor_paths_agree(digits):
    a, ca = batched_slic(digits[0][:8], 75, use_cpp=False)
    b, cb = batched_slic(digits[0][:8], 75)  # compiled loop when it builds, else the same tensor path
    assert (a == b).float().mean() > 0.98


def test_compiled_and_tensor_paths_agree_on_colour():
    imgs = photos(size=64)
    a, _ = batched_slic(imgs, 40, use_cpp=False)   # Lab in torch, tensor rounds
    b, _ = batched_slic(imgs, 40)                  # Lab and rounds compiled (when it builds)
    c, _ = batched_slic(imgs.astype(np.float32) / 255.0, 40)  # float input: the power, not the table
    assert (a == b).float().mean() > 0.98 and (b == c).float().mean() > 0.98


def test_compiled_pixel_features_match_torch_lab():
    from pyg_graphcls.graphs import _compiled
    mod = _compiled.load()
    if mod is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    imgs = torch.from_numpy(photos(size=16))
    feat = mod.pixel_features(imgs, 10.0, 4.0, True)                     # [B, 5, P]
    lab = rgb_to_lab(imgs.float() / 255.0)                               # [B, H, W, 3]
    assert torch.allclose(feat[:, :3].transpose(1, 2).reshape(lab.shape), lab / 10.0, atol=1e-4)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    assert torch.equal(feat[0, 3], yy.reshape(-1) / 4.0) and torch.equal(feat[0, 4], xx.reshape(-1) / 4.0)


@pytest.mark.parametrize("use_cpp", [False, None])
def test_float_images_and_bad_labels(use_cpp):
    imgs = photos().astype(np.float32) / 255.0
    segs = np.stack([slic_segments(im.astype(np.float64), 30) for im in imgs])
    data, slices = segments_to_storage(imgs, torch.from_numpy(segs), features=FEATS, k=5, use_cpp=use_cpp)
    for i, g in enumerate(storage_to_list(data, slices)):
        ref = graph_from_segments(as_image(imgs[i]), segs[i], features=FEATS, k=5)
        assert torch.equal(g.x, ref.x)
    bad = torch.from_numpy(segs).clone()
    bad[0, 0, 0] = -1
    with pytest.raises(GraphclsError, match="labels"):
        segments_to_storage(imgs, bad, use_cpp=use_cpp)
    with pytest.raises(GraphclsError, match="labels"):
        segments_to_storage(imgs, torch.from_numpy(segs), counts=torch.tensor([1, 1, 1]), use_cpp=use_cpp)


def test_colour_segmentation_follows_boundaries():
    imgs = photos(size=64)
    lab, cnt = batched_slic(imgs, 40)
    for i, im in enumerate(imgs):
        ref = slic_segments(as_image(im), 40)
        grid = np.arange(64)[:, None] // 10 * 7 + np.arange(64)[None, :] // 10
        assert boundary_recall(lab[i], ref, 2) > boundary_recall(grid, ref, 2)
    assert abs(float(cnt.float().median()) - 40) <= 0.2 * 40


def test_rgb_to_lab_matches_skimage():
    from skimage.color import rgb2lab
    x = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    assert np.allclose(rgb_to_lab(torch.from_numpy(x)).numpy(), rgb2lab(x[None])[0], atol=2e-3)


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
    with pytest.raises(GraphclsError):
        superpixel_graph(imgs[0], method="fast", edges="rag")
    with pytest.raises(GraphclsError):
        superpixel_graphs(np.zeros((0, 28, 28), np.uint8))


def test_dataset_fast_method(tmp_path, digits):
    from pyg_graphcls.datasets import ImageGraphDataset
    imgs, labels = digits
    ds = ImageGraphDataset(tmp_path, imgs, labels, graph_kwargs={"method": "fast"}, workers=1, progress=False)
    ref = superpixel_graphs(imgs, labels, collate=False)
    assert len(ds) == len(imgs)
    assert torch.equal(ds[5].x, ref[5].x) and torch.equal(ds[5].edge_index, ref[5].edge_index)
    other = ImageGraphDataset(tmp_path, imgs, labels, workers=1, progress=False)
    assert other.cache_path != ds.cache_path  # the method is part of the cache key


def test_quality_on_hand_made_segmentation():
    ref = np.zeros((4, 4), int)
    ref[:, 2:] = 1                       # two halves: a vertical boundary between columns 1 and 2
    seg = np.zeros((4, 4), int)
    seg[:, 3:] = 1                       # boundary one column to the right
    assert boundary_map(ref).sum() == 8
    assert boundary_recall(seg, ref, 0) == 0.5   # column 2 is a boundary of both
    assert boundary_recall(seg, ref, 1) == 1.0
    # segment 0 (12 px) overlaps G0 by 8 and G1 by 4 -> min(8, 4) + min(4, 8) = 8; segment 1 fits in G1
    assert undersegmentation_error(seg, ref) == pytest.approx(8 / 16)
    assert undersegmentation_error(ref, ref) == 0.0 and segment_count(seg) == 2
    with pytest.raises(GraphclsError):
        boundary_recall(seg, ref[:3])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu_tensor_path(digits):
    imgs = torch.from_numpy(digits[0][:8])
    a, _ = batched_slic(imgs, 75, use_cpp=False)
    b, _ = batched_slic(imgs.cuda(), 75)
    assert (a == b.cpu()).float().mean() > 0.98
    data, _ = superpixel_graphs(imgs.cuda())
    assert data["x"].is_cuda


def test_merge_storage_numpy_blocks_and_errors():
    from pyg_graphcls.graphs.storage import merge_storage
    a = ({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "edge_index": np.array([[0], [1]])},
         {"x": np.array([0, 2]), "edge_index": np.array([0, 1])})
    data, slices = merge_storage([a, a])       # numpy blocks, as worker processes return them
    assert torch.equal(data["x"], torch.cat([torch.from_numpy(a[0]["x"])] * 2))
    assert data["edge_index"].shape == (2, 2) and torch.equal(data["edge_index"][:, 1], torch.tensor([0, 1]))
    assert slices["x"].tolist() == [0, 2, 4] and slices["edge_index"].tolist() == [0, 1, 2]
    wide = ({"x": np.zeros((1, 4), np.float32), "edge_index": np.zeros((2, 0), np.int64)},
            {"x": np.array([0, 1]), "edge_index": np.array([0, 0])})
    with pytest.raises(GraphclsError, match="shape differs"):
        merge_storage([a, wide])
    with pytest.raises(GraphclsError, match="same fields"):
        merge_storage([a, ({"x": a[0]["x"]}, {"x": a[1]["x"]})])


def test_shape_features_against_numpy_fit():
    """moments/gradient against np.cov and a ridge least-squares plane fit per segment (independent of the sums)."""
    from pyg_graphcls.graphs.features import GRADIENT_RIDGE
    from pyg_graphcls.graphs.superpixels import segment_features
    rng = np.random.default_rng(0)
    h, w = 7, 9
    img = rng.random((h, w, 2))
    seg = np.zeros((h, w), np.int64)
    seg[:, 4:] = 1
    seg[5:, :3] = 2
    seg[0, 0] = 3  # a single pixel: no spread, slope 0
    x, _ = segment_features(img, seg, ("moments", "gradient"))
    assert x.shape == (4, 3 + 4)
    rows, cols = np.divmod(np.arange(h * w), w)
    for s in range(4):
        m = seg.ravel() == s
        n = m.sum()
        p = np.stack([cols[m], rows[m]]).astype(float)
        cov = np.cov(p, bias=True) if n > 1 else np.zeros((2, 2))
        sx, sy = np.sqrt(np.diag(cov))
        rho = cov[0, 1] / (sx * sy) if sx * sy > 0 else 0.0
        assert np.allclose(x[s, :3], [sx / np.sqrt(n), sy / np.sqrt(n), rho], atol=1e-6)
        for c in range(2):
            v = img.reshape(-1, 2)[m, c]
            b = ((p - p.mean(1, keepdims=True)) * (v - v.mean())).mean(1)
            g = np.linalg.solve(cov + GRADIENT_RIDGE * np.eye(2), b) * np.sqrt(n)
            assert np.allclose(x[s, [3 + c, 5 + c]], g, atol=1e-6)
    assert np.allclose(x[3], 0)
    # hand-worked: values on a plane 0.04 x + 0.02 y over the whole 9 x 7 image; position variances
    # (9² - 1) / 12 and (7² - 1) / 12, no covariance, so each slope is shrunk by var / (var + ridge)
    plane = (0.04 * cols + 0.02 * rows).reshape(h, w, 1)
    xp, _ = segment_features(plane, np.zeros((h, w), np.int64), ("gradient",))
    vx, vy = 80 / 12, 48 / 12
    assert np.allclose(xp[0], [0.04 * vx / (vx + GRADIENT_RIDGE) * np.sqrt(63),
                               0.02 * vy / (vy + GRADIENT_RIDGE) * np.sqrt(63)], rtol=1e-5)


def test_occupancy_against_upsampled_mask():
    """occupancy == the mean of the region's mask in each of the 3x3 equal blocks of its bounding box,
    computed on the box upsampled 3x (where the cells are whole blocks of sub-pixels)."""
    from pyg_graphcls.graphs.features import feature_names
    from pyg_graphcls.graphs.superpixels import segment_features
    rng = np.random.default_rng(3)
    seg = rng.integers(0, 5, (7, 9))
    x, _ = segment_features(np.zeros((7, 9, 1)), seg, ("occupancy",))
    assert feature_names(("occupancy",), 1) == [f"occ_{r}{c}" for r in range(3) for c in range(3)]
    for s in range(5):
        ys, xs = np.nonzero(seg == s)
        box = (seg[ys.min():ys.max() + 1, xs.min():xs.max() + 1] == s).astype(float)
        bh, bw = box.shape
        up = np.kron(box, np.ones((3, 3)))  # [3bh, 3bw]: cell (r, c) is the block [r bh:(r+1) bh, c bw:(c+1) bw]
        want = [up[r * bh:(r + 1) * bh, c * bw:(c + 1) * bw].mean() for r in range(3) for c in range(3)]
        assert np.allclose(x[s], want), s
    # hand-worked: an L of 3 pixels in a 2x2 box; the missing bottom-right pixel covers cell 22 wholly,
    # a quarter of the centre cell and half of cells 12 and 21
    x, _ = segment_features(np.zeros((2, 2, 1)), np.array([[0, 0], [0, 1]]), ("occupancy",))
    assert np.allclose(x[0], [1, 1, 1, 1, 0.75, 0.5, 1, 0.5, 0])
    assert np.allclose(x[1], 1)  # a single pixel fills its own box


def test_augment_occupancy_between_right_angles():
    """The 8 outer occupancy cells lie 45 degrees apart: a 45-degree turn moves each one place on (clockwise
    on screen), 22.5 degrees half-way; the centre cell and other columns stay; a flip swaps left and right."""
    from pyg_graphcls.graphs.augment import GraphAugment
    names = ["mean_0"] + [f"occ_{r}{c}" for r in range(3) for c in range(3)]
    grid = torch.arange(9, dtype=torch.float32).view(3, 3)  # occ_rc = 3 r + c
    flat = grid.flatten()
    x = torch.cat([torch.tensor([0.7]), flat])[None]
    g = Data(x=x.clone(), pos=torch.tensor([[13.5, 13.5]]), edge_index=torch.zeros(2, 0, dtype=torch.long),
             image_size=torch.tensor([[28, 28]]))
    flip = GraphAugment(flip=1.0, features=names, edge_attr=())
    assert torch.equal(flip(g).x[0, 1:].view(3, 3), grid.flip(1))
    turn = GraphAugment(flip=0.0, rotate=90.0, features=names, edge_attr=())
    ring = [0, 1, 2, 5, 8, 7, 6, 3]  # clockwise from the top left
    turn._rand = lambda: 0.75  # angle +45: one place
    out = turn(g).x[0]
    assert all(out[1 + cell] == flat[ring[i - 1]] for i, cell in enumerate(ring))
    turn._rand = lambda: 0.625  # angle +22.5: the mean of the cell and the one before it
    out = turn(g).x[0]
    assert all(out[1 + cell] == (flat[cell] + flat[ring[i - 1]]) / 2 for i, cell in enumerate(ring))
    assert out[0] == x[0, 0] and out[1 + 4] == 4


@pytest.mark.parametrize("use_cpp", [False, None])
def test_shape_features_batched_equal_per_image(digits, use_cpp):
    feats = FEATS + ("moments", "gradient", "occupancy")
    for imgs in (digits[0][:6], photos()):
        segs = np.stack([slic_segments(as_image(im), 30) for im in imgs])
        data, slices = segments_to_storage(imgs, torch.from_numpy(segs), features=feats, use_cpp=use_cpp)
        for i, g in enumerate(storage_to_list(data, slices)):
            ref = graph_from_segments(as_image(imgs[i]), segs[i], features=feats)
            assert g.x.shape == ref.x.shape
            assert torch.allclose(g.x, ref.x, atol=1e-5), i


@pytest.mark.parametrize("turn", ["flip", 90.0, -90.0])
def test_augment_turns_shape_features_like_the_image(digits, turn):
    """Flip/rotate the graph's moments/gradient/occupancy columns == the features of the flipped/rotated image."""
    from pyg_graphcls.graphs.augment import GraphAugment
    from pyg_graphcls.graphs.features import feature_names
    feats = ("centroid", "moments", "gradient", "occupancy")
    img = as_image(digits[0][3])
    seg = slic_segments(img, 40)
    g = graph_from_segments(img, seg, features=feats, edge_attr=())
    if turn == "flip":
        aug = GraphAugment(flip=1.0, features=feature_names(feats, 1), edge_attr=())
        img2, seg2 = img[:, ::-1], seg[:, ::-1]
    else:  # np.rot90(k=1) turns the array counter-clockwise as displayed (y down): -90 degrees in pos
        aug = GraphAugment(flip=0.0, rotate=abs(turn), features=feature_names(feats, 1), edge_attr=())
        aug._rand = lambda: 1.0 if turn > 0 else 0.0  # the angle drawn: exactly +/-turn
        img2, seg2 = np.rot90(img, 1 if turn < 0 else -1), np.rot90(seg, 1 if turn < 0 else -1)
    out = aug(g)
    ref = graph_from_segments(np.ascontiguousarray(img2), np.ascontiguousarray(seg2), features=feats,
                              edge_attr=())
    assert torch.allclose(out.pos, ref.pos, atol=1e-4)  # same segment ids, so rows correspond
    assert torch.allclose(out.x, ref.x, atol=1e-4)
