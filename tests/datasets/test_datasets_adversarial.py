"""Caches, chunks, damaged files, IDX and folder edge cases through the Python API."""
import os
import pickle

import numpy as np
import pytest
import torch

from pyg_graphcls.datasets import ImageGraphDataset, class_warnings, load_dataset, scan_image_folder, write_idx
from pyg_graphcls.datasets import conversion
from pyg_graphcls.errors import GraphclsError, UnsafeFileError
from pyg_graphcls.io import load_tensors, save_tensors

KW = dict(graph="grid", workers=1, progress=False)


def _same(a, b):
    assert a._data.keys() == b._data.keys()
    for k in a._data.keys():
        assert torch.equal(a._data[k], b._data[k]), k
    assert {k: v.tolist() for k, v in a.slices.items()} == {k: v.tolist() for k, v in b.slices.items()}


def test_a_chunk_of_one_graph(tmp_path, digits, monkeypatch):
    x, y = digits
    ref = ImageGraphDataset(tmp_path / "ref", x[:5], y[:5], **KW)
    monkeypatch.setattr(conversion, "_CHUNK", 4)  # chunks of 4 + 1
    ds = ImageGraphDataset(tmp_path / "c", x[:5], y[:5], **KW)
    assert len(ds) == 5
    _same(ds, ref)
    one = ImageGraphDataset(tmp_path / "one", x[:1], y[:1], **KW)
    assert len(one) == 1 and one[0].num_nodes == 28 * 28


def test_zero_byte_chunk_is_converted_again(tmp_path, digits, monkeypatch):
    x, y = digits
    monkeypatch.setattr(conversion, "_CHUNK", 8)
    ref = ImageGraphDataset(tmp_path / "ref", x[:20], y[:20], **KW)
    key = conversion.cache_key(x[:20], y[:20], "grid")
    folder = tmp_path / "t" / "dataset" / f"grid-{key}"
    assert conversion.convert_chunks(x[:20], y[:20], folder, "grid", shard="0/3", workers=1, progress=False) == 2
    (folder / "chunk-000001.pt").write_bytes(b"")            # left by an interrupted conversion
    (folder / "chunk-000002.pt").write_bytes(os.urandom(64))  # garbage under a final name
    ds = ImageGraphDataset(tmp_path / "t", x[:20], y[:20], **KW)
    assert ds.converted and ds.cache_path == folder and (folder / "index.pt").is_file()
    _same(ds, ref)


@pytest.mark.parametrize("name", ["index.pt", "chunk-000000.pt"])
def test_zero_byte_or_cut_cache_is_converted_again(tmp_path, digits, monkeypatch, name):
    x, y = digits
    monkeypatch.setattr(conversion, "_CHUNK", 4)  # chunks of 4 + 2
    ds = ImageGraphDataset(tmp_path, x[:6], y[:6], **KW)
    good = (ds.cache_path / name).read_bytes()
    calls = []
    build = conversion.build_fields
    monkeypatch.setattr(conversion, "build_fields", lambda *a, **k: calls.append(1) or build(*a, **k))
    for damaged in (b"", good[: len(good) // 2]):
        (ds.cache_path / name).write_bytes(damaged)
        again = ImageGraphDataset(tmp_path, x[:6], y[:6], **KW)
        assert again.converted
        _same(again, ds)
    # a damaged index is written again from the chunks; a damaged chunk alone is converted again
    assert len(calls) == (0 if name == "index.pt" else 2 * 4)


def test_a_cache_damaged_after_it_was_read_says_so(tmp_path, digits):
    x, y = digits
    ds = conversion.cached_graphs(tmp_path, x[:6], y[:6], **KW)
    (ds.cache_path / "chunk-000000.pt").unlink()
    with pytest.raises(GraphclsError, match="cache .* is damaged .*--force"):
        ds.data


def test_a_full_disk_leaves_no_index_and_lets_the_lock_go(tmp_path, digits, monkeypatch):
    from pyg_graphcls.datasets import cache
    x, y = digits

    save = cache.save_tensors

    def disk_full(obj, path, **kw):  # the disk fills when the index is written, after the chunks
        if os.path.basename(path) == "index.pt":
            raise OSError(28, "No space left on device")
        return save(obj, path, **kw)

    monkeypatch.setattr(cache, "save_tensors", disk_full)
    with pytest.raises(OSError, match="No space left"):
        conversion.cached_graphs(tmp_path, x[:6], y[:6], **KW)
    folder, = (tmp_path / "dataset").glob("grid-*[!k]")
    assert folder.is_dir() and not (folder / "index.pt").exists() and list(folder.glob("chunk-*.pt"))
    import fcntl  # the conversion lock was let go: another process could convert now
    with open(folder.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    monkeypatch.undo()
    again = conversion.cached_graphs(tmp_path, x[:6], y[:6], **KW)  # the chunks are kept: only the index is new
    assert again.converted and again.cache_path == folder and len(again) == 6


def test_a_cache_that_would_run_code_is_refused_not_replaced(tmp_path, digits):
    x, y = digits
    ds = ImageGraphDataset(tmp_path, x[:4], y[:4], **KW)

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))
    (ds.cache_path / "index.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UnsafeFileError, match="refusing to load .* naming posix.system"):
        ImageGraphDataset(tmp_path, x[:4], y[:4], **KW)
    assert (ds.cache_path / "index.pt").read_bytes() == pickle.dumps(Evil())


@pytest.mark.parametrize("data,msg", [
    (b"", "is empty \\(0 bytes\\)"),
    (b"hello world", "is not a torch file \\(it starts with bytes 68656c6c"),
    (b"\x80\x02" + bytes(range(60)), "truncated or not a torch file \\(its pickle data is damaged\\)"),
    (b"PK\x03\x04" + bytes(60), "truncated or not a torch file \\(PytorchStreamReader"),
])
def test_load_tensors_says_what_is_wrong(tmp_path, data, msg):
    p = tmp_path / "f.pt"
    p.write_bytes(data)
    with pytest.raises(GraphclsError, match=msg) as e:
        load_tensors(p)
    assert not isinstance(e.value, UnsafeFileError) and "\n" not in str(e.value)
    with pytest.raises(GraphclsError, match="is not a file"):
        load_tensors(tmp_path)
    save_tensors({"a": torch.ones(2)}, p)
    assert torch.equal(load_tensors(p)["a"], torch.ones(2))


def test_strictness_and_class_names_are_in_the_cache_key(digits):
    x, y = digits
    keys = {conversion.cache_key(x, y, "grid"), conversion.cache_key(x, y, "grid", strict=False),
            conversion.cache_key(x, y, "grid", class_names=list("abcdefghij")),
            conversion.cache_key(x, y, "grid", class_names=list("abcdefghiJ"))}
    assert len(keys) == 4
    assert conversion.cache_key(x, y, "grid") == conversion.cache_key(x, y, "grid", strict=True, class_names=None)


def test_strict_after_no_strict_fails(tmp_path):
    x = np.random.default_rng(1).random((5, 6, 6)).astype(np.float32)
    x[3, 1, 1] = np.inf
    y = np.arange(5) % 2
    loose = ImageGraphDataset(tmp_path, x, y, strict=False, **KW)
    assert len(loose) == 4 and loose.failures[0][0] == 3
    with pytest.raises(GraphclsError, match="image 3 cannot be converted: image contains NaN or Inf"):
        ImageGraphDataset(tmp_path, x, y, strict=True, **KW)


def _idx(d, xtr, ytr, xte, yte):
    write_idx(d / "train-images-idx3-ubyte", xtr)
    write_idx(d / "train-labels-idx1-ubyte", np.asarray(ytr, np.uint8))
    write_idx(d / "t10k-images-idx3-ubyte", xte)
    write_idx(d / "t10k-labels-idx1-ubyte", np.asarray(yte, np.uint8))
    return d


def test_idx_labels_and_sizes(tmp_path, digits):
    x, y = digits
    y200 = y[:32].copy()
    y200[7] = 200
    with pytest.raises(GraphclsError, match=r"label 200 \(train image 7\) is outside the classes of the other "
                                            r"images \(0..9\): no image has labels 10..199"):
        load_dataset(f"idx:{_idx(tmp_path / 'a', x[:32], y200, x[32:], y[32:])}", "grid", root=tmp_path, workers=1)
    with pytest.raises(GraphclsError, match="the training IDX files hold 0 images"):
        load_dataset(f"idx:{_idx(tmp_path / 'b', x[:0], y[:0], x[32:], y[32:])}", "grid", root=tmp_path)
    with pytest.raises(GraphclsError, match="the test IDX files hold 0 images"):
        load_dataset(f"idx:{_idx(tmp_path / 'c', x[:4], y[:4], x[:0], y[:0])}", "grid", root=tmp_path)
    one = load_dataset(f"idx:{_idx(tmp_path / 'd', x[-1:], y[-1:], x[-1:], y[-1:])}", "grid", root=tmp_path,
                       workers=1, progress=False)
    assert len(one.train) == 1 and one.num_classes == 10
    assert one.info["warnings"] == ["idx-d: 9 of 10 classes have no image in either split (0..8): "
                                    "the model has an output for each"]


def test_class_warnings():
    names = [str(i) for i in range(4)]
    assert class_warnings([0, 1, 2, 3], [3, 2], names, "d") == []
    w = class_warnings([0, 1], [1, 2], names, "d")
    assert w == ["d: 1 of 4 classes have no image in either split (3): the model has an output for each",
                 "d: the test split has 1 class(es) the training set lacks (2): the model cannot learn them"]


def test_empty_class_folder_and_tiny_folders(tmp_path, digits):
    from PIL import Image
    x, _ = digits
    for c, n in (("a", 2), ("b", 0), ("c", 1)):
        (tmp_path / "f" / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(x[i]).save(tmp_path / "f" / c / f"{i}.png")
    (tmp_path / "f" / "b" / "notes.txt").write_text("no images here")
    with pytest.raises(GraphclsError, match="class folder 'b' holds no image file"):
        scan_image_folder(tmp_path / "f")
    (tmp_path / "f" / "b" / "notes.txt").unlink()
    (tmp_path / "f" / "b").rmdir()
    paths, labels, classes = scan_image_folder(tmp_path / "f")
    assert classes == ["a", "c"] and labels.tolist() == [0, 0, 1]
    (tmp_path / "g" / "a").mkdir(parents=True)
    Image.fromarray(x[0]).save(tmp_path / "g" / "a" / "0.png")
    with pytest.raises(GraphclsError, match="1 image file: a folder data set needs at least 2"):
        load_dataset(f"folder:{tmp_path / 'g'}", "grid", root=tmp_path)


def test_chunks_of_another_chunking_are_wiped_not_mixed(tmp_path, digits, monkeypatch):
    import json
    x, y = digits
    monkeypatch.setattr(conversion, "_CHUNK", 4)
    key = conversion.cache_key(x[:20], y[:20], "grid")
    folder = tmp_path / "t" / "dataset" / f"grid-{key}"
    assert conversion.convert_chunks(x[:20], y[:20], folder, "grid", shard="0/2", workers=1, progress=False) == 2
    assert len(list(folder.glob("chunk-*.pt"))) == 3  # chunks 0, 2, 4 of 5
    monkeypatch.setattr(conversion, "_CHUNK", 8)  # another version of the program chunks differently
    ds = ImageGraphDataset(tmp_path / "t", x[:20], y[:20], **KW)
    ref = ImageGraphDataset(tmp_path / "ref", x[:20], y[:20], **KW)
    _same(ds, ref)
    assert json.loads((folder / "manifest.json").read_text())["chunk"] == 8
    assert sorted(p.name for p in folder.glob("chunk-*.pt")) == [f"chunk-00000{j}.pt" for j in range(3)]
    counts = [torch.load(p, weights_only=True)["count"] for p in sorted(folder.glob("chunk-*.pt"))]
    assert counts == [8, 8, 4]  # none of the chunks of 4 was kept


def test_force_converts_every_chunk_again_and_an_open_reader_still_reads(tmp_path, digits, monkeypatch):
    x, y = digits
    monkeypatch.setattr(conversion, "_CHUNK", 4)
    kw = dict(graph="grid", workers=1, progress=False)
    reader = conversion.cached_graphs(tmp_path, x[:10], y[:10], **kw)  # opened: its chunks not read yet
    calls = []
    build = conversion.build_fields

    def counting_build(*a, **k):
        if not calls:
            reader.data  # the other process reads while the forced conversion runs: every chunk is there
        calls.append(1)
        return build(*a, **k)

    monkeypatch.setattr(conversion, "build_fields", counting_build)
    again = conversion.cached_graphs(tmp_path, x[:10], y[:10], force=True, **kw)
    assert again.converted and len(calls) == 10  # every image, not only missing chunks
    ref = conversion.cached_graphs(tmp_path / "ref", x[:10], y[:10], **kw)
    for k in ref.data:
        assert torch.equal(reader.data[k], ref.data[k]) and torch.equal(again.data[k], ref.data[k]), k
