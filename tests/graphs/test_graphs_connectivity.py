"""graphs.connectivity: every region one 4-connected piece, exactly n_segments of them where possible."""
import numpy as np
import pytest
import torch
from skimage.measure import label as sk_label

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import _compiled, superpixel_graph
from pyg_graphcls.graphs.batched_slic import batched_slic
from pyg_graphcls.graphs.connectivity import connect_regions
from pyg_graphcls.graphs.merge import ward_merge


def photos(n=3, size=48):
    import skimage.data as d
    from skimage.transform import resize
    out = [resize(getattr(d, name)()[..., :3], (size, size)) for name in ("astronaut", "coffee", "chelsea")]
    return (np.stack(out[:n]) * 255).round().astype(np.uint8)


def pieces(seg) -> int:
    """4-connected pieces of equal label, counted by scikit-image."""
    return int(sk_label(np.asarray(seg) + 1, connectivity=1, background=0).max())


@pytest.mark.parametrize("use_cpp", [False, None])
@pytest.mark.parametrize("n", [20, 75, 150])
def test_every_label_is_one_piece_and_the_count_is_as_asked(digits, use_cpp, n):
    imgs = digits[0][:16]
    raw, _ = batched_slic(imgs, n, connectivity=False, use_cpp=use_cpp)
    lab, cnt = batched_slic(imgs, n, use_cpp=use_cpp)
    assert lab.shape == (16, 28, 28) and cnt.shape == (16,)
    for i in range(16):
        seg = lab[i].numpy()
        assert seg.min() == 0 and seg.max() + 1 == int(cnt[i]) == np.unique(seg).size
        assert pieces(seg) == int(cnt[i])                         # one piece per label
        assert int(cnt[i]) == min(n, pieces(raw[i].numpy()))      # the documented rule for the count
    if n == 75:
        assert (cnt == 75).all() and pieces(raw[0].numpy()) > 75  # SLIC's clusters alone are not connected


def test_colour_photos_are_connected_too():
    imgs = photos()
    lab, cnt = batched_slic(imgs, 60)
    assert (cnt == 60).all()
    assert all(pieces(lab[i].numpy()) == 60 for i in range(len(imgs)))


def test_hand_worked_fragment_goes_first():
    # label 1 has a main piece (the 2x2 block) and a one-pixel fragment at (2, 0); the two main
    # pieces have the same colour (Ward cost 0), the fragment another one (cost 7*1/8 * 1^2)
    labels = torch.tensor([[[0, 0, 1, 1],
                            [0, 0, 1, 1],
                            [1, 0, 0, 0]]])
    img = torch.zeros(1, 3, 4, 1)
    img[0, 2, 0, 0] = 1.0
    for mod in {None, _compiled.load()}:
        out, cnt = connect_regions(labels, img, 3, mod)           # 3 pieces: nothing to merge
        assert out[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 0, 0, 0]] and cnt.tolist() == [3]
        out, cnt = connect_regions(labels, img, 2, mod)           # the fragment is absorbed first
        assert out[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]] and cnt.tolist() == [2]
        out, cnt = connect_regions(labels, img, 1, mod)
        assert out[0].tolist() == [[0] * 4] * 3 and cnt.tolist() == [1]
        out, cnt = connect_regions(labels, img, 10, mod)          # fewer pieces than asked: all kept
        assert cnt.tolist() == [3]
    # plain Ward merging (no fragment rule) would merge the two equal-colour main pieces instead
    assert ward_merge(labels[0].numpy(), img[0].numpy(), 2).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]


def test_hand_worked_fragment_joins_the_closest_colour():
    # one row: label 0 = pixels {0, 1} (main) and {3} (fragment), label 1 = {2}, label 2 = {4}
    labels = torch.tensor([[[0, 0, 1, 0, 2]]])
    img = torch.tensor([0.0, 0.0, 0.2, 0.9, 1.0]).view(1, 1, 5, 1)
    # fragment {3}: to {2} costs 1/2 * 0.7^2, to {4} costs 1/2 * 0.1^2 -> joins {4}
    for mod in {None, _compiled.load()}:
        out, cnt = connect_regions(labels, img, 3, mod)
        assert out[0].tolist() == [[0, 0, 1, 2, 2]] and cnt.tolist() == [3]


@pytest.mark.parametrize("n", [30, 75])
def test_compiled_and_host_paths_give_the_same_labels(digits, n):
    mod = _compiled.load()
    if mod is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    for imgs in (torch.from_numpy(digits[0]).unsqueeze(-1), torch.from_numpy(photos())):
        raw, _ = batched_slic(imgs, n, connectivity=False)
        a, ca = connect_regions(raw, imgs, n, mod)                       # uint8 read in C++
        b, cb = connect_regions(raw, imgs.float() / 255.0, n, None)      # float32 in numpy/heapq
        assert torch.equal(a, b) and torch.equal(ca, cb)


@pytest.mark.parametrize("shape", [(1, 40), (40, 1), (9, 13), (32, 32)])
def test_compiled_and_host_paths_agree_on_random_labels(shape):
    """Label maps with many pieces (labels nested in each other, one-pixel fragments, single rows and
    columns): the compiled pieces, merges and numbering against the numpy/heapq host path, for several
    region counts, including more than there are pieces."""
    mod = _compiled.load()
    if mod is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    rng = np.random.default_rng(sum(shape))
    h, w = shape
    blocks = rng.integers(0, 5, (3, (h + 3) // 4, (w + 3) // 4)).repeat(4, 1).repeat(4, 2)[:, :h, :w]
    noise = rng.random((3, h, w)) < 0.15
    labels = torch.from_numpy(np.where(noise, rng.integers(0, 5, (3, h, w)), blocks))
    img = torch.from_numpy(rng.integers(0, 256, (3, h, w, 3)).astype(np.uint8))
    n_pieces = [pieces(m) for m in labels.numpy()]
    for n in (1, 3, 10, max(n_pieces) + 1):
        a, ca = connect_regions(labels, img, n, mod)
        b, cb = connect_regions(labels, img.float() / 255.0, n, None)
        assert torch.equal(a, b) and torch.equal(ca, cb)
        assert ca.tolist() == [min(n, k) for k in n_pieces]
        # written in place (batched_slic's use): the same labels
        inplace = labels.reshape(3, h * w).clone()
        c, cc = connect_regions(inplace, img, n, mod, out=inplace)
        assert c.data_ptr() == inplace.data_ptr() and torch.equal(c, a) and torch.equal(cc, ca)


def test_compiled_and_host_paths_agree_on_any_label_values():
    # noisy maps (many one-pixel pieces, long merge chains), labels far apart and negative (the
    # compiled loop then finds each label's main piece by sorting instead of one slot per label)
    mod = _compiled.load()
    if mod is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    rng = np.random.default_rng(3)
    small = torch.from_numpy(rng.integers(0, 6, (4, 19, 23)))
    img = torch.from_numpy(rng.random((4, 19, 23, 2), dtype=np.float32))
    for labels in (small, small * 10**12 - 7 * 10**11):
        for n in (1, 20, 60, 19 * 23):
            a, ca = connect_regions(labels, img, n, mod)
            b, cb = connect_regions(labels, img, n, None)
            assert torch.equal(a, b) and torch.equal(ca, cb)
            assert all(pieces(a[i].numpy()) == int(ca[i]) for i in range(4))


def test_superpixel_graph_default_is_connected_and_exact(digits):
    for im in digits[0][:4]:
        g = superpixel_graph(im, return_seg=True)
        seg = g.seg[0].numpy()
        assert g.num_nodes == 75 == pieces(seg) == seg.max() + 1
        # the mean column is each region's mean (an independent numpy computation)
        np.testing.assert_allclose(g.x[:, 0].numpy(), [im[seg == r].mean() / 255.0 for r in range(75)], atol=1e-6)


def test_bad_arguments():
    with pytest.raises(GraphclsError, match="n_regions"):
        connect_regions(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, 1), 0)
    with pytest.raises(GraphclsError, match="labels"):
        connect_regions(torch.zeros(1, 3, 2, dtype=torch.long), torch.zeros(1, 2, 2, 1), 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_are_connected_on_their_device(digits):
    imgs = torch.from_numpy(digits[0][:8])
    lab, cnt = batched_slic(imgs.cuda(), 75)
    assert lab.is_cuda and cnt.is_cuda
    raw, _ = batched_slic(imgs.cuda(), 75, connectivity=False)
    ref, rcnt = connect_regions(raw.cpu(), imgs.unsqueeze(-1).float() / 255.0, 75, None)
    assert torch.equal(lab.cpu(), ref) and torch.equal(cnt.cpu(), rcnt)
    assert all(pieces(lab[i].cpu().numpy()) == int(cnt[i]) for i in range(8))
