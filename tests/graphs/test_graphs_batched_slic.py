"""graphs.batched_slic: the batched segmenter, its compiled twin, the Lab reference, quality measures."""
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs.batched_slic import batched_slic, rgb_to_lab
from pyg_graphcls.graphs.image import as_image
from pyg_graphcls.graphs.quality import boundary_map, boundary_recall, segment_count, undersegmentation_error
from pyg_graphcls.graphs.superpixels import slic_segments, superpixel_graphs


def photos(n=3, size=40):
    import skimage.data as d
    from skimage.transform import resize
    out = [resize(getattr(d, name)()[..., :3], (size, size)) for name in ("astronaut", "coffee", "chelsea")]
    return (np.stack(out[:n]) * 255).round().astype(np.uint8)


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
    # the SLIC rounds (before the connectivity step, which tests/graphs/test_graphs_connectivity.py checks)
    a, ca = batched_slic(digits[0][:8], 75, use_cpp=False, connectivity=False)
    b, cb = batched_slic(digits[0][:8], 75, connectivity=False)  # compiled loop when it builds, else the tensor path
    assert (a == b).float().mean() > 0.98


def test_compiled_and_tensor_paths_agree_on_colour():
    imgs = photos(size=64)
    a, _ = batched_slic(imgs, 40, use_cpp=False, connectivity=False)   # Lab in torch, tensor rounds
    b, _ = batched_slic(imgs, 40, connectivity=False)                  # Lab and rounds compiled (when it builds)
    c, _ = batched_slic(imgs.astype(np.float32) / 255.0, 40, connectivity=False)  # float: the power, not the table
    assert (a == b).float().mean() > 0.98 and (b == c).float().mean() > 0.98


def test_half_planes_are_block_means():
    """The coarse rounds' features: each half-resolution pixel the mean of the full-resolution pixels of its
    2x2 block, an odd last row or column a block of 2 (or 1) pixels."""
    from pyg_graphcls.graphs.batched_slic import _half_planes
    rng = np.random.default_rng(0)
    h, w, d = 7, 6, 3
    feat = rng.random((2, h * w, d)).astype(np.float32)
    got = _half_planes(torch.from_numpy(feat), h, w).numpy().reshape(2, 4, 3, d)
    f = feat.reshape(2, h, w, d)
    for i in range(4):
        for j in range(3):
            want = f[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(2, -1, d).mean(1)
            assert np.allclose(got[:, i, j], want, atol=1e-6)


@pytest.mark.parametrize("use_cpp", [None, False])
def test_coarse_rounds(use_cpp):
    """Coarse to fine, on both paths: with no rounds it is the full-resolution assignment from the grid
    (the same centres, so the same labels); with rounds it differs from the full-resolution labels on few
    pixels; it is the default from a grid step of 16 pixels (64x64 with 10 segments: 20; with 30: 11)."""
    imgs = photos(size=64)
    kw = dict(connectivity=False, use_cpp=use_cpp)
    a = batched_slic(imgs, 10, max_iter=0, coarse=True, **kw)[0]
    b = batched_slic(imgs, 10, max_iter=0, coarse=False, **kw)[0]
    assert torch.equal(a, b)
    c, cc = batched_slic(imgs, 10, coarse=True, **kw)
    f, _ = batched_slic(imgs, 10, coarse=False, **kw)
    assert not torch.equal(c, a)                        # the rounds moved the centres
    assert 0.85 < (c == f).float().mean() < 1.0         # near the full-resolution clusters, not the same
    assert torch.equal(batched_slic(imgs, 10, **kw)[0], c)
    assert torch.equal(batched_slic(imgs, 30, **kw)[0], batched_slic(imgs, 30, coarse=False, **kw)[0])
    assert (cc <= 9).all() and (cc >= 5).all()


@pytest.mark.parametrize("size,n,channels", [((64, 64), 10, 3), ((63, 45), 6, 3), ((64, 64), 10, 1), ((50, 64), 8, 2)])
def test_coarse_compiled_and_tensor_paths_agree(size, n, channels):
    """The compiled coarse-to-fine rounds (``slic_labels_coarse``) against the tensor path's (the one CUDA runs):
    RGB (Lab), grey and 2-channel images, even and odd sizes."""
    from pyg_graphcls.graphs import _compiled
    if _compiled.load() is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    imgs = photos(size=max(size))[:, :size[0], :size[1]]
    imgs = imgs if channels == 3 else np.ascontiguousarray(imgs[..., :channels])
    a, _ = batched_slic(imgs, n, use_cpp=False, connectivity=False, coarse=True)
    b, _ = batched_slic(imgs, n, connectivity=False, coarse=True)
    assert (a == b).float().mean() > 0.99


@pytest.mark.parametrize("use_cpp", [None, False])
def test_coarse_segmentation_keeps_boundaries(use_cpp):
    """On images with a known answer (four quadrants, each its own photo crop) the coarse-to-fine regions
    find the quadrant boundaries about as well as the full-resolution rounds do (means over 4 images),
    and far better than a grid."""
    import skimage.data as d
    from skimage.transform import resize
    srcs = [resize(getattr(d, name)()[..., :3], (48, 48)) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    imgs = []
    for r in range(4):
        q = [srcs[(r + i) % 4] for i in range(4)]
        imgs.append(np.concatenate([np.concatenate(q[:2], 1), np.concatenate(q[2:], 1)], 0))
    imgs = (np.stack(imgs) * 255).round().astype(np.uint8)
    gt = np.zeros((96, 96), int)
    gt[:48, 48:], gt[48:, :48], gt[48:, 48:] = 1, 2, 3
    grid = np.arange(96)[:, None] // 19 * 6 + np.arange(96)[None, :] // 19

    def scores(seg):
        return (np.mean([boundary_recall(s, gt, 2) for s in seg]), np.mean([undersegmentation_error(s, gt) for s in seg]))

    br_c, ue_c = scores(batched_slic(imgs, 16, coarse=True, use_cpp=use_cpp)[0])
    br_f, ue_f = scores(batched_slic(imgs, 16, coarse=False, use_cpp=use_cpp)[0])
    br_g, ue_g = scores([grid])
    assert br_c >= br_f - 0.03 and ue_c <= ue_f + 0.02
    assert br_c > br_g + 0.5 and ue_c < ue_g / 2


def test_labels_do_not_depend_on_the_rest_of_the_batch(digits):
    # the compiled loop clusters small images several at a time (one per vector lane): an image's
    # labels must be the ones it gets alone, wherever it sits in a batch of any length
    imgs = digits[0][:13]
    whole, _ = batched_slic(imgs, 75, connectivity=False)
    order = np.random.default_rng(0).permutation(13)
    shuffled, _ = batched_slic(imgs[order], 75, connectivity=False)
    assert torch.equal(shuffled, whole[torch.from_numpy(order)])
    for i in (0, 7, 8, 12):
        assert torch.equal(batched_slic(imgs[i:i + 1], 75, connectivity=False)[0][0], whole[i])
    colour = photos(size=32)  # grid step < 8 with 5 features per pixel (Lab, y, x)
    both, _ = batched_slic(colour, 40, connectivity=False)
    for i in range(3):
        assert torch.equal(batched_slic(colour[i:i + 1], 40, connectivity=False)[0][0], both[i])
    tensor_path, _ = batched_slic(colour, 40, use_cpp=False, connectivity=False)
    assert (tensor_path == both).float().mean() > 0.98


@pytest.mark.parametrize("h,w", [(16, 16), (5, 7)])
def test_compiled_pixel_features_match_torch_lab(h, w):
    """The compiled Lab planes (8 pixels at a time, then the pixels left over: 5x7 = 4 x 8 + 3) against
    rgb_to_lab, from uint8 (the table) and float input (the power)."""
    from pyg_graphcls.graphs import _compiled
    mod = _compiled.load()
    if mod is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    imgs = torch.from_numpy(np.ascontiguousarray(photos(size=16)[:, :h, :w]))
    lab = rgb_to_lab(imgs.float() / 255.0)                               # [B, H, W, 3]
    for inp in (imgs, imgs.float() / 255.0):
        feat = mod.pixel_features(inp, 10.0, 4.0, True)                  # [B, 5, P]
        assert torch.allclose(feat[:, :3].transpose(1, 2).reshape(lab.shape), lab / 10.0, atol=1e-4)
    yy, xx = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    assert torch.equal(feat[0, 3], yy.reshape(-1) / 4.0) and torch.equal(feat[0, 4], xx.reshape(-1) / 4.0)


def test_colour_segmentation_follows_boundaries():
    imgs = photos(size=64)
    lab, cnt = batched_slic(imgs, 40)
    for i, im in enumerate(imgs):
        ref = slic_segments(as_image(im), 40)
        grid = np.arange(64)[:, None] // 10 * 7 + np.arange(64)[None, :] // 10
        assert boundary_recall(lab[i], ref, 2) > boundary_recall(grid, ref, 2)
    assert abs(float(cnt.float().median()) - 40) <= 0.2 * 40


def test_rgb_to_lab_matches_skimage():
    """The reference Lab conversion against scikit-image: random colours, both branches of the sRGB
    linearisation (around 0.04045) and of f (dark colours, XYZ below 0.008856), black and white; the
    uint8 table path equals the power path."""
    from skimage.color import rgb2lab
    rng = np.random.default_rng(0)
    levels = np.array([0.0, 0.01, 0.04, 0.0405, 0.041, 0.05, 0.08, 0.5, 1.0])
    grid = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(-1, 3)
    x = np.concatenate([rng.random((50, 3)), grid]).astype(np.float32)
    want = rgb2lab(x[None].astype(np.float64))[0]
    assert np.allclose(rgb_to_lab(torch.from_numpy(x)).numpy(), want, atol=2e-3)
    assert np.allclose(rgb_to_lab(torch.from_numpy(x[:1] * 0)).numpy(), 0, atol=1e-4)          # black
    assert np.allclose(rgb_to_lab(torch.ones(1, 3)).numpy(), [[100, 0, 0]], atol=1e-2)          # white (D65)
    u8 = torch.from_numpy(rng.integers(0, 256, (64, 3)).astype(np.uint8))
    assert torch.allclose(rgb_to_lab(u8.float() / 255.0, u8), rgb_to_lab(u8.float() / 255.0), atol=1e-4)


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


def test_compiled_module_name_is_per_checkout(tmp_path, monkeypatch):
    """Two checkouts of the same sources get two build folders (one shared folder made each rebuild
    the other's), and a build folder without the finished-build marker is not imported directly."""
    import shutil

    from pyg_graphcls.graphs import _compiled

    here = _compiled._name()
    copies = []
    for src in _compiled.SOURCES:
        dst = tmp_path / "csrc" / src.rsplit("/", 1)[-1]
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(src, dst)
        copies.append(str(dst))
    monkeypatch.setattr(_compiled, "SOURCES", tuple(copies))
    assert _compiled._name() != here
    (tmp_path / "csrc" / "knn.cpp").write_text("// changed\n")
    assert _compiled._name() != here
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    folder = tmp_path / "ext" / "m"
    folder.mkdir(parents=True)
    (folder / "m.so").write_bytes(b"")
    assert _compiled._built_path("m") is None           # no marker: cpp_extension.load decides
    (folder / "built.ok").write_text("")
    assert _compiled._built_path("m") == folder / "m.so"
