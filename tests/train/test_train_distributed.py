"""Distributed training (torchrun, gloo, 2 CPU processes) matches one process;
sharded conversion merges to the cache of a single run."""
import json
import os
import subprocess
import sys

import pytest
import torch

from pyg_graphcls.cli import main
from pyg_graphcls.datasets import ImageGraphDataset
from pyg_graphcls.datasets import conversion
from pyg_graphcls.datasets import graph_dataset as gd
from pyg_graphcls.train.distributed import GlobalBatchSampler

# gcn: no BatchNorm (a BatchNorm model normalises each rank's half of a batch, so two processes
# do not reproduce one exactly)
TRAIN = ["train", "--model", "gcn", "--epochs", "2", "--batch-size", "8", "--hidden", "8", "--n-segments", "20",
         "--quiet", "--workers", "1", "--lr", "0.01", "--amp", "off"]  # float32: equal to 1e-5 across process counts


def test_global_batches_split_across_ranks():
    one = GlobalBatchSampler(13, 4, 0, 1, seed=5)
    assert one.batches == [torch.randperm(13, generator=torch.Generator().manual_seed(5)).tolist()[i:i + 4]
                           for i in range(0, 13, 4)] and one.scales == [1.0] * 4
    r0, r1 = GlobalBatchSampler(13, 4, 0, 2, seed=5), GlobalBatchSampler(13, 4, 1, 2, seed=5)
    assert len(r0) == len(r1) == 4  # ranks stay in step
    for g, a, b in zip(one.batches, r0.batches, r1.batches):
        assert sorted(a + b) == sorted(g) if len(g) > 1 else a == g
    # last global batch has 1 item: rank 1 runs a zero-weight placeholder
    assert r1.scales[-1] == 0.0 and r1.counts[-1] == 0 and r0.scales[-1] == 2.0


def test_torchrun_two_processes_match_one(tmp_path, tiny_idx, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(home))
    args = TRAIN + ["--dataset", f"idx:{tiny_idx}"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "PYG_GRAPHCLS_HOME": str(home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "pyg_graphcls"] + args + ["--out", str(tmp_path / "two")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["test_accuracy"] == one["test_accuracy"]
    assert two["confusion_matrix"] == one["confusion_matrix"]
    assert two["test_loss"] == pytest.approx(one["test_loss"], abs=1e-5)
    h1 = json.loads((tmp_path / "one" / "history.json").read_text())
    h2 = json.loads((tmp_path / "two" / "history.json").read_text())
    for a, b in zip(h1, h2, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-5)
        assert b["val_accuracy"] == a["val_accuracy"] and b["train_accuracy"] == a["train_accuracy"]
    # only rank 0 wrote the run files, and checkpoints load
    from pyg_graphcls.train import load_checkpoint
    assert load_checkpoint(tmp_path / "two" / "last.pt")["epoch"] == 2


def test_sharded_conversion_merges_to_the_single_run_cache(tmp_path, tiny_idx, monkeypatch, capsys):
    monkeypatch.setattr(conversion, "_CHUNK", 4)
    base = ["convert", "--dataset", f"idx:{tiny_idx}", "--graph", "patches", "--workers", "1", "--quiet"]
    sh = base + ["--out", str(tmp_path / "sharded")]
    assert main(sh + ["--shard", "0/3"]) == 0
    assert "missing" in capsys.readouterr().out
    assert main(sh + ["--merge"]) == 2  # shards 1 and 2 not converted yet
    assert "cannot merge" in capsys.readouterr().err
    assert main(sh + ["--shard", "2/3"]) == 0
    assert main(sh + ["--shard", "1/3"]) == 0  # the last shard merges
    assert "cache complete" in capsys.readouterr().out
    assert main(sh + ["--merge"]) == 0  # merging again reads the cache
    assert main(base + ["--out", str(tmp_path / "single")]) == 0
    for split in ("train", "test"):
        a, = (tmp_path / "sharded" / f"idx-idx-{split}").glob("patches-*[!k]")
        b, = (tmp_path / "single" / f"idx-idx-{split}").glob("patches-*[!k]")
        assert a.name == b.name
        ia, ib = torch.load(a / "index.pt", weights_only=True), torch.load(b / "index.pt", weights_only=True)
        assert ia == ib and len(ia["chunks"]) > 1
        for j in range(len(ia["chunks"])):
            ca = torch.load(a / f"chunk-{j:06d}.pt", weights_only=True)
            cb = torch.load(b / f"chunk-{j:06d}.pt", weights_only=True)
            for k in cb["arrays"]:
                assert torch.equal(ca["arrays"][k], cb["arrays"][k]) and torch.equal(ca["slices"][k], cb["slices"][k])
    assert main(sh + ["--shard", "3/3"]) == 2
    assert "shard" in capsys.readouterr().err


def test_shard_api(tmp_path, digits, monkeypatch):
    monkeypatch.setattr(conversion, "_CHUNK", 16)
    x, y = digits
    out = [gd.convert_shard(tmp_path, x, y, shard=f"{i}/2", graph="grid", name="t", workers=1, progress=False)
           for i in range(2)]
    assert out[0]["dataset"] is None and out[0]["missing"] == 1
    ref = ImageGraphDataset(tmp_path / "ref", x, y, graph="grid", name="t", workers=1, progress=False)
    assert torch.equal(out[1]["dataset"]._data.x, ref._data.x)
