"""Reading a data set ahead (``datasets.read_ahead``: a thread for IDX files, a child process decoding
image files into shared memory) gives what reading it in place gives; IDX files are gunzipped member
by member; both splits converted in one pool run give the caches of separate runs."""
import gzip
import os
import time

import numpy as np
import pytest
import torch

from pyg_graphcls.datasets import conversion, folder, load_images, read_ahead, read_idx
from pyg_graphcls.errors import GraphclsError


@pytest.fixture
def photos(tmp_path):
    """A class-per-folder tree of 12 PNG/JPEG files: RGB, grayscale and RGBA."""
    from PIL import Image
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for c, mode in enumerate(("RGB", "L", "RGBA")):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(4):
            shape = (20 + i, 24) if mode == "L" else (20 + i, 24, len(mode))
            im = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode)
            im.save(root / f"c{c}" / f"{i}.{'jpg' if mode != 'RGBA' else 'png'}")
    return root


def _same(a, b):
    assert a[4:] == b[4:]
    for x, y in zip(a[:4], b[:4]):
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y)
        else:
            assert list(x) == list(y)


def test_read_ahead_gives_what_load_images_reads(tiny_idx, photos):
    for spec in (f"idx:{tiny_idx}", f"folder:{photos}"):
        direct = load_images(spec, seed=3)
        read_ahead(spec, seed=3)
        _same(load_images(spec, seed=3), direct)
        folder.forget_decoded()


def test_read_ahead_raises_its_error_on_the_callers_thread(tmp_path, tiny_idx, photos):
    import shutil
    for name, src in (("i", tiny_idx), ("f", photos)):
        spec = f"{'idx' if name == 'i' else 'folder'}:{tmp_path / name}"
        read_ahead(spec)
        t = time.perf_counter()
        while not _ahead_done(spec) and time.perf_counter() - t < 60:
            time.sleep(0.01)
        shutil.copytree(src, tmp_path / name)  # the data appear after the read ahead failed
        with pytest.raises(GraphclsError, match="not found"):
            load_images(spec)  # the read-ahead's error, raised here
        assert load_images(spec)[0] is not None  # read in place, now that the files exist


def _ahead_done(spec):
    from pyg_graphcls import datasets
    return datasets._AHEAD[(spec, 0, None)].done()


def test_decoded_ahead_images_equal_fresh_reads_and_changed_files_are_read_again(photos):
    paths = sorted(str(p) for p in photos.rglob("*.*"))
    fresh = {p: folder.read_image(p) for p in paths}
    folder.decode_ahead(paths)
    t = time.perf_counter()
    while folder._AHEAD["table"][1] < 1 and time.perf_counter() - t < 60:
        time.sleep(0.01)  # at least one image decoded
    folder.stop_decoding_ahead()
    assert set(folder._DECODED) <= set(paths) and folder._DECODED  # the child decoded some (all, usually)
    from PIL import Image
    changed = next(iter(folder._DECODED))  # the file changes after it was decoded: its array is not used
    Image.fromarray(np.full((7, 9, 3), 200, np.uint8)).save(changed, format="PNG")
    os.utime(changed, ns=(0, 10 ** 9))
    fresh[changed] = folder._decode(changed)
    assert fresh[changed].shape == (7, 9, 3)
    for p in paths:
        got = folder.read_image(p)
        assert got.dtype == fresh[p].dtype and np.array_equal(got, fresh[p]), p
    assert not folder._DECODED  # each decoded array is used once


def test_stopping_decoding_ahead_reaps_the_child(photos):
    paths = sorted(str(p) for p in photos.rglob("*.*")) * 50
    folder.decode_ahead(paths)
    pid = folder._AHEAD["pid"]
    folder.forget_decoded()
    assert not folder._AHEAD and not folder._DECODED
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already waited for: no zombie left


def test_idx_gzip_members_and_a_cut_stream(tmp_path, digits):
    x = digits[0][:5]
    raw = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in x.shape) + x.tobytes()
    (tmp_path / "two.gz").write_bytes(gzip.compress(raw[:100]) + gzip.compress(raw[100:]))  # `cat a.gz b.gz`
    assert np.array_equal(read_idx(tmp_path / "two.gz"), x)
    whole = gzip.compress(raw)
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(GraphclsError, match="cannot read IDX file .*cut.gz.*end-of-stream"):
        read_idx(tmp_path / "cut.gz")


def test_splits_converted_together_equal_separate_conversions(tmp_path, digits, monkeypatch):
    monkeypatch.setattr(conversion, "_CHUNK", 8)
    x, y = digits
    kw = dict(graph="grid", workers=2, progress=False)
    together = conversion.cached_splits(tmp_path / "a", [(x[:30], y[:30], "d-train"), (x[30:], y[30:], "d-test")],
                                        **kw)
    apart = [conversion.cached_graphs(tmp_path / "b", x[:30], y[:30], name="d-train", **kw),
             conversion.cached_graphs(tmp_path / "b", x[30:], y[30:], name="d-test", **kw)]
    for t, a in zip(together, apart):
        assert t.converted and t.cache_path.name == a.cache_path.name and len(t) == len(a)
        assert t.data.keys() == a.data.keys()
        for k in a.data:
            assert torch.equal(t.data[k], a.data[k]) and torch.equal(t.slices[k], a.slices[k]), k
    again = conversion.cached_splits(tmp_path / "a", [(x[:30], y[:30], "d-train"), (x[30:], y[30:], "d-test")], **kw)
    assert not any(c.converted for c in again)


def test_big_endian_16_bit_images_keep_their_values_when_decoded_ahead(tmp_path):
    from PIL import Image
    values = (np.arange(12, dtype=np.uint16) * 131).reshape(3, 4)
    p = tmp_path / "be.tif"
    Image.frombytes("I;16B", (4, 3), values.astype(">u2").tobytes()).save(p)
    fresh = folder.read_image(p)
    folder.decode_ahead([p])
    t = time.perf_counter()
    while folder._AHEAD["table"][1] < 1 and time.perf_counter() - t < 60:
        time.sleep(0.01)
    folder.stop_decoding_ahead()
    ahead = folder.read_image(p)
    assert np.array_equal(fresh, values) and np.array_equal(ahead, values)
    assert fresh.dtype == ahead.dtype == np.dtype("=u2")


def test_a_converted_cache_is_readable_by_others_and_leaves_no_temporary_files(tmp_path, digits):
    import stat
    x, y = digits
    c = conversion.cached_graphs(tmp_path / "t", x[:4], y[:4], graph="grid", workers=1, progress=False)
    (c.cache_path / ".chunk-000000.pt.left-by-a-killed-worker.tmp").write_bytes(b"x")
    (c.cache_path / "index.pt").unlink()
    c = conversion.cached_graphs(tmp_path / "t", x[:4], y[:4], graph="grid", workers=1, progress=False)
    umask = os.umask(0)
    os.umask(umask)
    for f in c.cache_path.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f.name  # mkstemp's 0600 is not kept
    assert not list(c.cache_path.glob(".*.tmp"))


def test_load_dataset_says_whether_it_converted(tmp_path, tiny_idx):
    from pyg_graphcls.datasets import load_dataset
    first = load_dataset(f"idx:{tiny_idx}", "grid", root=tmp_path, progress=False, workers=1)
    again = load_dataset(f"idx:{tiny_idx}", "grid", root=tmp_path, progress=False, workers=1)
    assert first.train.converted and first.test.converted
    assert not again.train.converted and not again.test.converted


def test_convert_stops_decoding_ahead_on_every_path(tmp_path, photos, capsys):
    from pyg_graphcls.cli import main
    base = ["convert", "--dataset", f"folder:{photos}", "--out", str(tmp_path), "--workers", "1", "--quiet",
            "--n-segments", "8"]
    assert main(base) == 0
    assert not folder._AHEAD and not folder._DECODED
    assert main(base + ["--merge"]) == 0  # a complete cache: nothing converts, the child is stopped anyway
    assert not folder._AHEAD and not folder._DECODED
    assert main(base + ["--graph", "grid"]) == 2  # --n-segments does not apply to grids: an error
    assert not folder._AHEAD and not folder._DECODED


def test_mixed_size_images_decoded_ahead_are_not_decoded_again(tmp_path, photos, monkeypatch):
    paths = sorted(str(p) for p in photos.rglob("*.*"))
    calls = []
    decode = folder._decode
    folder.decode_ahead(paths)
    t = time.perf_counter()
    while folder._AHEAD["table"][1] < len(paths) and time.perf_counter() - t < 60:
        time.sleep(0.01)
    monkeypatch.setattr(folder, "_decode", lambda p: calls.append(p) or decode(p))
    c = conversion.cached_graphs(tmp_path, paths, np.arange(len(paths)) % 3, workers=1, progress=False,
                                 graph_kwargs={"n_segments": 8})
    assert len(c) == len(paths) and calls == []  # sizes differ: image by image, from the decoded arrays


def test_idx_gzip_with_junk_after_it_is_refused(tmp_path, digits):
    from pyg_graphcls.datasets import write_idx
    write_idx(tmp_path / "a.gz", digits[0][:3])
    raw = (tmp_path / "a.gz").read_bytes()
    (tmp_path / "a.gz").write_bytes(raw + bytes(8))  # zero padding: read, as gzip reads it
    assert np.array_equal(read_idx(tmp_path / "a.gz"), digits[0][:3])
    (tmp_path / "a.gz").write_bytes(raw + b"junk")
    with pytest.raises(GraphclsError, match="not gzip data"):
        read_idx(tmp_path / "a.gz")
