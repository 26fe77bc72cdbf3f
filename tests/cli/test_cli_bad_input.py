"""Bad input: every case of issue 7 gives a clear GraphclsError naming the file or
argument, or is handled in a documented way (docs/RELIABILITY.md)."""
import gzip
import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from pyg_graphcls.cli import main
from pyg_graphcls.datasets import ImageGraphDataset, load_dataset, load_idx_dir, read_idx, scan_image_folder, write_idx
from pyg_graphcls.datasets.annotations import safe_join
from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import patch_graph, pixel_grid_graph, superpixel_graph


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "home"))


BUILDERS = [lambda im: superpixel_graph(im, n_segments=20), pixel_grid_graph, lambda im: patch_graph(im, 4)]


# ------------------------------------------------------------------ arrays
@pytest.mark.parametrize("image,msg", [
    (np.zeros((0, 0)), "empty"),
    (np.zeros((5, 0, 3)), "empty"),
    (np.full((6, 6), np.nan, np.float32), "NaN or Inf"),
    (np.array([[0.0, np.inf], [0.5, 1.0]]), "NaN or Inf"),
    (np.array([[-1, 2], [3, 4]], np.int32), "negative integer"),
    (np.zeros((4, 4), complex), "unsupported dtype"),
    (np.zeros((2, 3, 4, 5)), "dimensions"),
    (np.zeros((7, 7, 9)), "shape"),
])
@pytest.mark.parametrize("build", BUILDERS)
def test_bad_arrays_raise(image, msg, build):
    with pytest.raises(GraphclsError, match=msg):
        build(image)


@pytest.mark.parametrize("image", [
    np.zeros((1, 1), np.uint8),                                   # 1x1: one node, no edges
    np.full((9, 9), 0.5, np.float32),                             # constant
    (np.arange(81).reshape(9, 9) * 800).astype(np.uint16),        # 16-bit
    np.arange(81, dtype=np.float64).reshape(9, 9) * 7 - 100,      # float outside [0, 1]: min-max rescaled
    np.random.default_rng(0).random((3, 3)),                      # fewer pixels than segments asked
])
@pytest.mark.parametrize("build", BUILDERS)
def test_edge_case_arrays_give_valid_graphs(image, build):
    d = build(image)
    assert d.num_nodes >= 1 and torch.isfinite(d.x).all()
    assert float(d.x[:, 0].min()) >= 0 and float(d.x[:, 0].max()) <= 1
    assert superpixel_graph(image, n_segments=500).num_nodes <= image.size


def test_dataset_rejects_bad_labels(tmp_path, digits):
    x, y = digits
    with pytest.raises(GraphclsError, match="labels must be >= 0"):
        ImageGraphDataset(tmp_path, x[:4], np.array([0, 1, -1, 2]), progress=False)
    with pytest.raises(GraphclsError, match="non-integer"):
        ImageGraphDataset(tmp_path, x[:2], np.array([0.5, 1.0]), progress=False)
    with pytest.raises(GraphclsError, match="2 class names"):
        ImageGraphDataset(tmp_path, x[:3], np.array([0, 1, 2]), class_names=["a", "b"], progress=False)
    with pytest.raises(GraphclsError, match="4 images but 3 labels"):
        ImageGraphDataset(tmp_path, x[:4], y[:3], progress=False)


def test_mixed_sizes_and_channels_in_an_array_list(tmp_path, digits):
    x, y = digits
    rgb = np.stack([x[1]] * 3, -1)
    images = [x[0], rgb, x[2][:20, :17], np.zeros((5, 5, 4), np.uint8)]  # gray, colour, smaller, RGBA
    ds = ImageGraphDataset(tmp_path, images, y[:4], progress=False, strict=False, workers=1)
    assert len(ds) == 3 and ds.num_node_features == 5  # gray images repeated to RGB: 3 means + centroid
    assert ds.failures == [(3, "image 3 has 4 channels but the data set's images have 3")]
    # a gray image repeated to colour gives the same graph structure as the gray one
    g = superpixel_graph(x[0])
    assert torch.equal(ds[0].edge_index, superpixel_graph(np.stack([x[0]] * 3, -1)).edge_index)
    assert ds[0].x.shape[0] == superpixel_graph(np.stack([x[0]] * 3, -1)).num_nodes and g.x.shape[1] == 3


# ------------------------------------------------------------------ image folders
def _folder(tmp_path, digits):
    from PIL import Image
    x, y = digits
    root = tmp_path / "photos"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
    for i in range(6):
        Image.fromarray(x[i]).save(root / "cat" / f"gray{i}.png")
        Image.fromarray(np.stack([x[10 + i]] * 3, -1)).save(root / "dog" / f"rgb{i}.png")
    Image.fromarray((x[20].astype(np.uint16) * 257)).save(root / "cat" / "sixteen.png")     # 16-bit
    Image.fromarray(np.full((12, 12), 77, np.uint8)).save(root / "cat" / "constant.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(root / "dog" / "one.png")             # 1x1
    Image.fromarray((x[21].astype(np.float32) * 3.5 - 40)).save(root / "dog" / "float.tiff")  # float > 1
    good = (root / "cat" / "gray0.png").read_bytes()
    bad = {"cat/truncated.png": good[: len(good) // 2], "cat/empty.png": b"", "dog/text.jpg": b"hello, not a jpeg",
           "dog/nan.tiff": None}
    for name, raw in bad.items():
        if raw is not None:
            (root / name).write_bytes(raw)
    Image.fromarray(np.full((8, 8), np.nan, np.float32)).save(root / "dog" / "nan.tiff")
    return root, [n.split("/")[1] for n in bad]


def test_folder_skips_and_lists_bad_files(tmp_path, digits, capsys):
    root, bad = _folder(tmp_path, digits)
    s = load_dataset(f"folder:{root}", root=tmp_path / "c", progress=False, strict=False, workers=1)
    fails = s.info["train_failures"] + s.info["test_failures"]
    reasons = " | ".join(r for _, r in fails)
    assert len(fails) == len(bad) and all(b in reasons for b in bad), reasons
    assert "NaN or Inf" in reasons and "cannot read image" in reasons
    assert len(s.train) + len(s.test) == 16 and s.num_features == 5  # 16 good files; gray+RGB mix → RGB
    with pytest.raises(GraphclsError, match=r"cannot be converted: .*(truncated|empty|text|nan)"):
        load_dataset(f"folder:{root}", root=tmp_path / "c2", progress=False, strict=True, workers=1)
    # the CLI: folders skip and list by default, --strict fails naming the file
    capsys.readouterr()
    assert main(["convert", "--dataset", f"folder:{root}", "--out", str(tmp_path / "c3"), "--workers", "1",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped image") == len(bad) and "text.jpg" in out
    assert main(["convert", "--dataset", f"folder:{root}", "--out", str(tmp_path / "c4"), "--workers", "1",
                 "--quiet", "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphcls: error:") and str(root) in err


def test_folder_cannot_escape_root(tmp_path, digits):
    from PIL import Image
    root, _ = _folder(tmp_path, digits)
    outside = tmp_path / "secret"
    outside.mkdir()
    Image.fromarray(digits[0][0]).save(outside / "private.png")
    os.symlink(outside / "private.png", root / "cat" / "link.png")
    os.symlink(outside, root / "linkdir")  # a class folder pointing outside
    paths, _, classes = scan_image_folder(root)
    assert not any("private" in p or "link" in p for p in paths)
    assert all(os.path.realpath(p).startswith(str(root.resolve())) for p in paths)
    for name in ("../secret/private.png", "/etc/passwd", "a/../../x.png", "cat/\x00.png"):
        with pytest.raises(GraphclsError, match="escapes|absolute|bad file name"):
            safe_join(root, name)
    assert safe_join(root, "cat/gray0.png") == (root / "cat" / "gray0.png").resolve()


# ------------------------------------------------------------------ IDX
def test_idx_bad_files(tmp_path, tiny_idx):
    (tmp_path / "magic").write_bytes(b"\x08\x03\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + b"".join(
        (n).to_bytes(4, "big") for n in (2, 28, 28)) + bytes(1000)))
    (tmp_path / "trailing").write_bytes(bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + b"abcd")
    (tmp_path / "badgz.gz").write_bytes(b"\x1f\x8b\x08garbage")
    (tmp_path / "short_header").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    for name, msg in [("magic", "bad magic"), ("trunc.gz", "truncated"), ("trailing", "trailing data"),
                      ("badgz.gz", "cannot read IDX"), ("short_header", "truncated IDX header")]:
        with pytest.raises(GraphclsError, match=msg) as e:
            read_idx(tmp_path / name)
        assert name in str(e.value)
    # header fine but images and labels disagree in count
    write_idx(tiny_idx / "train-labels-idx1-ubyte.gz", np.zeros(31, np.uint8))
    with pytest.raises(GraphclsError, match="do not match"):
        load_idx_dir(tiny_idx)


# ------------------------------------------------------------------ label data
def test_label_data_zero_rows_and_absent_labels():
    from pyg_graphcls.graphs.labels import cooccurrence_graph
    from pyg_graphcls.train.multilabel import mean_average_precision
    y = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]])  # label 2 never occurs
    g = cooccurrence_graph(y)
    assert torch.isfinite(g.adj_norm).all() and g.adj_norm[2].tolist() == [0, 0, 1, 0]
    g0 = cooccurrence_graph(np.zeros((3, 4)))  # no label at all: identity, no NaN
    assert torch.equal(g0.adj_norm, torch.eye(4))
    scores = torch.randn(4, 4)
    m = mean_average_precision(scores, torch.as_tensor(y, dtype=torch.float))
    assert np.isfinite(m)  # the absent class is left out of the mean
    with pytest.raises(GraphclsError, match="multi-hot"):
        cooccurrence_graph(np.array([[0, 2]]))


def test_class_count_disagrees_with_checkpoint(tmp_path, tiny_idx, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"idx:{tiny_idx}", "--epochs", "1", "--hidden", "8", "--n-segments", "20",
                 "--out", str(run), "--quiet", "--workers", "1"]) == 0
    three = tmp_path / "three"
    for f in os.listdir(tiny_idx):
        arr = read_idx(tiny_idx / f)
        write_idx(three / f, (arr % 3).astype(np.uint8) if arr.ndim == 1 else arr)
    capsys.readouterr()
    assert main(["evaluate", str(run / "checkpoint.pt"), "--dataset", f"idx:{three}", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "the checkpoint has 10 classes but" in err and str(three) in err


def test_crafted_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    p = tmp_path / "evil.pt"
    torch.save({"format": "pyg_graphcls", "model_state": Evil()}, p, pickle_module=pickle)
    from pyg_graphcls.train import load_checkpoint
    with pytest.raises(GraphclsError, match="refusing to load"):
        load_checkpoint(p)
    assert main(["evaluate", str(p)]) == 2
    assert "refusing to load" in capsys.readouterr().err
    (tmp_path / "half.pt").write_bytes(p.read_bytes()[:40])
    assert main(["evaluate", str(tmp_path / "half.pt")]) == 2
    assert "truncated or not a torch file" in capsys.readouterr().err
    assert not marker.exists()


# ------------------------------------------------------------------ properties of the builders
def _check_graph(d, k_edges: bool):
    n = d.num_nodes
    ei = d.edge_index
    assert ei.dtype == torch.long and ei.dim() == 2 and ei.size(0) == 2
    assert ei.numel() == 0 or (int(ei.min()) >= 0 and int(ei.max()) < n)
    assert (ei[0] != ei[1]).all()
    assert torch.isfinite(d.x).all() and torch.isfinite(d.pos).all()
    if getattr(d, "edge_attr", None) is not None:
        assert torch.isfinite(d.edge_attr).all() and d.edge_attr.size(0) == ei.size(1)
    if k_edges and n >= 2:
        assert torch.bincount(ei[1], minlength=n).min() >= 1


_images = st.tuples(st.integers(1, 20), st.integers(1, 20), st.sampled_from([1, 3]), st.integers(0, 10_000),
                    st.sampled_from(["rand", "const", "uint8", "uint16", "wide"]))


def _make(h, w, c, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "const":
        return np.full((h, w, c), 0.25, np.float32)
    if kind == "uint8":
        return rng.integers(0, 256, (h, w, c)).astype(np.uint8)
    if kind == "uint16":
        return rng.integers(0, 65536, (h, w, c)).astype(np.uint16)
    if kind == "wide":
        return (rng.standard_normal((h, w, c)) * 1e3).astype(np.float32)
    return rng.random((h, w, c)).astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(img=_images, conn=st.sampled_from([4, 8]), position=st.booleans(),
       edge_attr=st.sampled_from([(), ("distance",), ("gaussian", "cartesian")]))
def test_pixel_grid_any_image_valid_graph(img, conn, position, edge_attr):
    h, w, c, seed, kind = img
    d = pixel_grid_graph(_make(h, w, c, seed, kind), conn, position=position, edge_attr=edge_attr)
    assert d.num_nodes == h * w
    _check_graph(d, k_edges=True)  # grid: every pixel has a neighbour when there are >= 2


@settings(max_examples=25, deadline=None)
@given(img=_images, p=st.integers(1, 8), edges=st.sampled_from(["grid", "knn"]), k=st.integers(1, 9),
       edge_attr=st.sampled_from([(), ("distance", "gaussian")]))
def test_patch_graph_any_image_valid_graph(img, p, edges, k, edge_attr):
    h, w, c, seed, kind = img
    d = patch_graph(_make(h, w, c, seed, kind), p, edges=edges, k=k, edge_attr=edge_attr)
    assert d.num_nodes == -(-h // p) * -(-w // p)
    _check_graph(d, k_edges=True)


@settings(max_examples=15, deadline=None)
@given(img=_images, n=st.integers(1, 500), edges=st.sampled_from(["knn", "rag"]), k=st.integers(1, 9),
       undirected=st.booleans())
def test_superpixel_edge_modes_any_image_valid_graph(img, n, edges, k, undirected):
    # tests/test_graphs.py covers kNN over float images; this adds rag/undirected, dtypes and n > pixels
    h, w, c, seed, kind = img
    d = superpixel_graph(_make(h, w, c, seed, kind), n_segments=n, edges=edges, k=k, undirected=undirected,
                         edge_attr=("distance", "gaussian"))
    assert 1 <= d.num_nodes <= h * w
    _check_graph(d, k_edges=(edges == "knn"))


def test_knn_self_loops_only_when_asked():
    from pyg_graphcls.graphs import knn_graph
    x = torch.rand(10, 2)
    assert (knn_graph(x, 3)[0] != knn_graph(x, 3)[1]).all()
    ei = knn_graph(x, 3, loop=True)
    assert (ei[0] == ei[1]).sum() == 10
