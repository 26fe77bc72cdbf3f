"""Interrupted work resumes: a SIGKILLed conversion or training run, restarted,
ends exactly where an uninterrupted one does; one --seed gives identical runs."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from pyg_graphcls.cli import main
from pyg_graphcls.datasets import ImageGraphDataset
from pyg_graphcls.datasets import conversion


def _kill_when(proc, ready, timeout=60.0):
    """SIGKILL ``proc`` as soon as ``ready()`` holds; fail if it ends first."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the process ended (rc {proc.returncode}) before it could be killed: {out[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("timed out waiting for the process to make progress")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _env(tmp_path):
    return {**os.environ, "PYG_GRAPHCLS_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}


def test_killed_conversion_resumes_to_the_same_graphs(tmp_path, digits, monkeypatch):
    x, y = digits
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    script = textwrap.dedent(f"""
        import time, numpy as np
        from pyg_graphcls.datasets import conversion
        from pyg_graphcls.datasets.graph_dataset import ImageGraphDataset
        conversion._CHUNK = 4
        build = conversion.build_fields
        def slow(*a, **k):
            time.sleep(0.04)  # ~0.16 s a chunk: time to kill it part-way
            return build(*a, **k)
        conversion.build_fields = slow
        ImageGraphDataset({str(tmp_path / 'killed')!r}, np.load({str(tmp_path / 'x.npy')!r}),
                             np.load({str(tmp_path / 'y.npy')!r}), name="t", workers=1, progress=False,
                             graph_kwargs={{"method": "skimage"}})  # image by image: build_fields per image
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    part = tmp_path / "killed" / "t"
    chunks = lambda: sorted(part.glob("*/chunk-*.pt"))  # noqa: E731
    _kill_when(proc, lambda: len(chunks()) >= 2)
    done = len(chunks())
    assert 2 <= done < 10 and not list(part.glob("*/index.pt")), "killed before the end: no index yet"

    monkeypatch.setattr(conversion, "_CHUNK", 4)
    calls = []
    build = conversion.build_fields
    monkeypatch.setattr(conversion, "build_fields", lambda *a, **k: calls.append(1) or build(*a, **k))
    resumed = ImageGraphDataset(tmp_path / "killed", x, y, name="t", workers=1, progress=False,
                                graph_kwargs={"method": "skimage"})
    assert resumed.converted and len(calls) == 40 - 4 * done  # only the missing chunks were converted
    assert len(list(part.glob("*/index.pt"))) == 1, "the index is written when every chunk is there"
    monkeypatch.setattr(conversion, "build_fields", build)
    monkeypatch.setattr(conversion, "_CHUNK", 256)
    fresh = ImageGraphDataset(tmp_path / "fresh", x, y, name="t", workers=1, progress=False,
                              graph_kwargs={"method": "skimage"})
    assert sorted(resumed._data.keys()) == sorted(fresh._data.keys())
    for k in fresh._data.keys():
        assert torch.equal(resumed._data[k], fresh._data[k]), k
        assert torch.equal(resumed.slices[k], fresh.slices[k]), k


def test_half_written_chunk_is_not_read(tmp_path, digits, monkeypatch):
    x, y = digits
    monkeypatch.setattr(conversion, "_CHUNK", 8)
    key = conversion.cache_key(x, y, "grid")
    folder = tmp_path / "t" / f"grid-{key}"
    conversion.convert_chunks(x, y, folder, "grid", shard="0/5", workers=1, progress=False)
    good = folder / "chunk-000000.pt"
    (folder / "chunk-000001.pt").write_bytes(good.read_bytes()[:100])  # truncated file under a final name
    (folder / "chunk-000002.pt").write_bytes(good.read_bytes())        # a valid file for the wrong chunk
    ds = ImageGraphDataset(tmp_path, x, y, name="t", graph="grid", workers=1, progress=False)
    ref = ImageGraphDataset(tmp_path / "ref", x, y, name="t", graph="grid", workers=1, progress=False)
    for k in ref._data.keys():
        assert torch.equal(ds._data[k], ref._data[k])


TRAIN = ["train", "--epochs", "4", "--batch-size", "8", "--hidden", "8", "--n-segments", "20", "--quiet",
         "--workers", "1", "--seed", "3"]


def _metrics(run):
    m = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in m.items() if not k.startswith("seconds") and k != "samples_per_second_epoch"}


def test_killed_training_resumes_to_the_same_metrics(tmp_path, tiny_idx, monkeypatch):
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "home"))
    args = TRAIN + ["--dataset", f"idx:{tiny_idx}"]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0  # also fills the graph cache
    run = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import time, sys
        from pyg_graphcls.train import trainer
        orig = trainer.Trainer.write_history
        def slow(self):
            orig(self)
            time.sleep(0.5)  # a slow epoch: time to kill it after epoch 2
        trainer.Trainer.write_history = slow
        from pyg_graphcls.cli import main
        sys.exit(main({args + ['--out', str(run)]!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def two_epochs():
        try:
            return len(json.loads((run / "history.json").read_text())) >= 2
        except (OSError, ValueError):
            return False
    _kill_when(proc, two_epochs)
    assert not (run / "metrics.json").exists()
    from pyg_graphcls.train import load_checkpoint
    assert 2 <= load_checkpoint(run / "last.pt")["epoch"] < 4
    assert main(args + ["--out", str(run), "--resume"]) == 0
    a, b = _metrics(tmp_path / "full"), _metrics(run)
    assert a == b  # bit-for-bit on CPU: test accuracy, loss, confusion matrix, best epoch
    ha = json.loads((tmp_path / "full" / "history.json").read_text())
    hb = json.loads((run / "history.json").read_text())
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_same_seed_same_run(tmp_path, tiny_idx, monkeypatch):
    """--seed fixes conversion, split and training: two runs (separate caches) agree except timings."""
    args = TRAIN + ["--dataset", f"idx:{tiny_idx}", "--epochs", "2"]
    for r in ("a", "b"):
        monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / f"home-{r}"))
        assert main(args + ["--out", str(tmp_path / r)]) == 0
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    ra, rb = (json.loads((tmp_path / r / "run.json").read_text()) for r in ("a", "b"))
    assert ra["data"] == rb["data"] and ra["versions"] == rb["versions"]
    assert ra["args"]["seed"] == 3
