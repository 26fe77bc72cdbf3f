import gzip

import numpy as np
import pytest
import torch

from pyg_graphcls.datasets import (ImageGraphDataset, load_dataset, load_idx_dir, load_mnist_superpixels, read_idx,
                                   scan_image_folder, write_idx)
from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import superpixel_graph


@pytest.mark.parametrize("dtype,name", [(np.uint8, "a.idx"), (np.int32, "b.idx.gz"), (np.float32, "c"),
                                        (np.int16, "d.gz")])
def test_idx_round_trip(tmp_path, dtype, name):
    arr = (np.arange(60).reshape(3, 4, 5) * 3).astype(dtype)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.dtype == dtype and np.array_equal(back, arr)


def test_idx_hand_made_header(tmp_path):
    raw = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    (tmp_path / "x").write_bytes(raw)
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw))
    assert read_idx(tmp_path / "x").tolist() == [7, 8, 9]
    assert read_idx(tmp_path / "x.gz").tolist() == [7, 8, 9]


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x03abc")
    with pytest.raises(GraphclsError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(GraphclsError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "code").write_bytes(bytes([0, 0, 0x42, 1]) + (1).to_bytes(4, "big") + b"a")
    with pytest.raises(GraphclsError, match="type code"):
        read_idx(tmp_path / "code")
    with pytest.raises(GraphclsError, match="not found"):
        read_idx(tmp_path / "missing")


def test_dataset_converts_once_and_again_on_new_params(tmp_path, digits):
    x, y = digits
    a = ImageGraphDataset(tmp_path, x, y, name="t", workers=2, progress=False)
    assert a.converted and len(a) == 40
    b = ImageGraphDataset(tmp_path, x, y, name="t", workers=1, progress=False)
    assert not b.converted and b.cache_path == a.cache_path
    c = ImageGraphDataset(tmp_path, x, y, name="t", graph_kwargs={"n_segments": 30}, progress=False)
    assert c.converted and c.cache_path != a.cache_path
    d = ImageGraphDataset(tmp_path, x[:-1], y[:-1], name="t", progress=False)
    assert d.converted  # different images, different cache
    # the cached graphs are exactly the per-image ones, in order, with labels
    for i in (0, 17, 39):
        ref = superpixel_graph(x[i], y=int(y[i]))
        g = b[i]
        assert torch.equal(g.x, ref.x) and torch.equal(g.edge_index, ref.edge_index) and g.y.item() == y[i]


def test_parallel_and_serial_conversion_agree(tmp_path, digits):
    x, y = digits
    a = ImageGraphDataset(tmp_path / "a", x, y, workers=1, progress=False, graph="patches")
    b = ImageGraphDataset(tmp_path / "b", x, y, workers=2, progress=False, graph="patches")
    for k in a._data.keys():
        assert torch.equal(a._data[k], b._data[k])


def test_cache_refuses_pickled_code(tmp_path, digits):
    x, y = digits
    ds = ImageGraphDataset(tmp_path, x[:4], y[:4], name="t", progress=False)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    import pickle
    with open(ds.cache_path / "index.pt", "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(GraphclsError, match="refusing|cannot read"):
        ImageGraphDataset(tmp_path, x[:4], y[:4], name="t", progress=False)


def test_load_dataset_idx_and_sample(tmp_path, tiny_idx):
    s = load_dataset(f"idx:{tiny_idx}", root=tmp_path, progress=False, graph="grid")
    assert len(s.train) == 32 and len(s.test) == 8 and s.num_features == 1
    assert s.train[0].num_nodes == 784
    sample = load_dataset("sample", root=tmp_path, progress=False, limit=50, graph="patches",
                          graph_kwargs={"patch_size": 7})
    assert len(sample.train) == 50 and len(sample.test) == 1000 and sample.class_names[1] == "Trouser"
    with pytest.raises(GraphclsError, match="unknown dataset"):
        load_dataset("nope", root=tmp_path)
    with pytest.raises(GraphclsError, match="no train-images"):
        load_dataset(f"idx:{tmp_path}", root=tmp_path)


def test_image_folder(tmp_path, digits):
    from PIL import Image
    x, y = digits
    root = tmp_path / "photos"
    for i in range(12):
        d = root / f"class{int(y[i * 3]) }"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.stack([x[i * 3]] * 3, -1)).save(d / f"{i}.png")
    (root / "class0" / "notes.txt").write_text("not an image")
    (root / "class0" / "broken.png").write_bytes(b"\x89PNG garbage")
    paths, labels, classes = scan_image_folder(root)
    assert len(paths) == 13 and all(p.endswith(".png") for p in paths)
    with pytest.raises(GraphclsError, match="broken.png"):
        load_dataset(f"folder:{root}", root=tmp_path / "cache", progress=False)
    s = load_dataset(f"folder:{root}", root=tmp_path / "cache", progress=False, strict=False)
    fails = s.info["train_failures"] + s.info["test_failures"]
    assert len(fails) == 1 and "broken.png" in fails[0][1]
    assert len(s.train) + len(s.test) == 12 and s.num_features == 5  # RGB mean + centroid


def test_folder_of_8_bit_files_converts_as_uint8(tmp_path):
    """Decoded 8-bit files go to the batched superpixels as uint8, like an in-memory uint8 block: the same
    graphs bit for bit, grey PNGs ([H, W]) given one channel. (Their float copy gave the gradient column
    other low bits: the compiled sums read uint8 as value / 255 in float64.) 16-bit files still go through
    as_image (value / 65535)."""
    from PIL import Image

    from pyg_graphcls.datasets.graph_dataset import convert_images
    from pyg_graphcls.graphs.superpixels import superpixel_graphs
    rng = np.random.default_rng(0)
    base = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 8, 3)), 6, 1), 6, 2)     # 6 blocky 48x48 pictures
    rgb = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    kw = {"n_segments": 9, "features": ["mean", "gradient"], "edge_attr": []}
    y = np.arange(6) % 2
    for name, imgs in (("rgb", rgb), ("grey", rgb[..., 0].copy())):
        paths = []
        for i, im in enumerate(imgs):
            paths.append(str(tmp_path / f"{name}{i}.png"))
            Image.fromarray(im).save(paths[-1])
        data, slices, fails = convert_images(paths, y, "superpixels", kw, workers=1, progress=False)
        want, want_slices = superpixel_graphs(imgs if imgs.ndim == 4 else imgs[..., None], y, **kw)
        assert not fails
        for k in ("x", "pos", "edge_index"):
            assert torch.equal(torch.as_tensor(data[k]), want[k]), (name, k)
    grey16 = (rgb[..., 0].astype(np.uint16) * 257)
    paths = []
    for i, im in enumerate(grey16):
        paths.append(str(tmp_path / f"g16_{i}.png"))
        Image.fromarray(im).save(paths[-1])
    data, _, fails = convert_images(paths, y, "superpixels", kw, workers=1, progress=False)
    want, _ = superpixel_graphs(grey16.astype(np.float32) / 65535, y, **kw)
    assert not fails and torch.allclose(torch.as_tensor(data["x"]), want["x"], atol=1e-6)


def _fake_mnist_superpixels(root, n_train=6, n_test=3):
    g = torch.Generator().manual_seed(0)

    def item(i):
        pos = torch.rand(75, 2, generator=g) * 27
        from pyg_graphcls.graphs import knn_graph
        return {"x": torch.rand(75, 1, generator=g), "edge_index": knn_graph(pos, 8), "pos": pos,
                "y": torch.tensor([i % 10])}

    raw = root / "raw"
    raw.mkdir(parents=True)
    torch.save([[item(i) for i in range(n_train)], [item(i) for i in range(n_test)]], raw / "MNISTSuperpixels.pt")


def test_mnist_superpixels_file_trains_with_our_layout(tmp_path):
    from pyg_graphcls.models import create_model
    from torch_geometric.loader import DataLoader
    _fake_mnist_superpixels(tmp_path / "mnist-superpixels")
    s = load_dataset("mnist-superpixels", root=tmp_path)
    assert len(s.train) == 6 and len(s.test) == 3 and s.num_features == 3
    g = s.train[0]
    ours = superpixel_graph(np.zeros((28, 28), np.uint8) + 100)
    assert g.x.shape[1] == ours.x.shape[1] and g.edge_attr.shape[1] == ours.edge_attr.shape[1]
    assert torch.allclose(g.x[:, 1:], g.pos / 27)
    model = create_model("gcn", in_channels=3, num_classes=10)
    out = model(next(iter(DataLoader(s.train, batch_size=4))))
    assert out.shape == (4, 10)


def test_mnist_superpixels_refuses_pickled_raw(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    raw = tmp_path / "mnist-superpixels" / "raw"
    raw.mkdir(parents=True)
    torch.save([[Evil()], []], raw / "MNISTSuperpixels.pt", pickle_module=pickle)
    with pytest.raises(GraphclsError, match="refusing"):
        load_mnist_superpixels(tmp_path / "mnist-superpixels")


def test_second_process_waits_for_the_conversion_and_reads_its_cache(tmp_path, digits, monkeypatch):
    """Two trainings wanting one cache: the second blocks on the conversion lock, then reads the
    cache the first wrote instead of converting again."""
    import fcntl
    import shutil
    import threading
    import time

    from pyg_graphcls.datasets import conversion
    x, y = digits
    x, y = x[:6], y[:6]
    kw = {"n_segments": 20}
    ref = ImageGraphDataset(tmp_path / "elsewhere", x, y, graph_kwargs=kw, name="d", workers=1, progress=False)
    root = tmp_path / "shared"
    target = root / "d" / ref.cache_path.name
    target.parent.mkdir(parents=True)
    calls = []
    build = conversion.build_fields
    monkeypatch.setattr(conversion, "build_fields", lambda *a, **k: calls.append(1) or build(*a, **k))
    got = {}
    with open(target.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)      # "the first process", converting
        t = threading.Thread(target=lambda: got.setdefault("ds", ImageGraphDataset(
            root, x, y, graph_kwargs=kw, name="d", workers=1, progress=False)))
        t.start()
        time.sleep(0.5)
        assert t.is_alive() and "ds" not in got     # waiting for the lock
        shutil.copytree(ref.cache_path, target)      # the first process's result lands
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    t.join(60)
    ds = got["ds"]
    assert not ds.converted and len(ds) == 6 and not calls
    assert torch.equal(ds[3].x, ref[3].x)


def test_convert_images_through_a_folder_gives_the_in_memory_graphs(tmp_path, digits, monkeypatch):
    from pyg_graphcls.datasets import conversion
    monkeypatch.setattr(conversion, "_CHUNK", 8)  # chunks of 8, 8, 8, 8, 7 (the last one short)
    x, y = digits[0][:39], digits[1][:39]
    kw = dict(graph="grid", workers=1, progress=False)
    assert conversion.convert_images(x, y, partial_dir=tmp_path / "f", shard="1/2", **kw) == (None, None, 3)
    data, slices, failures = conversion.convert_images(x, y, partial_dir=tmp_path / "f", **kw)
    ref, ref_slices, _ = conversion.convert_images(x, y, **kw)
    assert failures == [] and data.keys() == ref.keys()
    for k in ref:
        assert torch.equal(data[k], ref[k]) and torch.equal(slices[k], ref_slices[k]), k
