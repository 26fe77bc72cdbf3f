"""Multi-label heads side by side on MultiLabelCanvas data (same backbone, epochs and schedule).

    python -m benchmarks.multilabel [--quick] [--settings default,hard] [--seeds 3] [--epochs 12]
                                    [--source sample|fashion-mnist] [--heads linear,mlgcn,...]

For every setting (a set of :class:`~pyg_graphcls.datasets.canvas.MultiLabelCanvas`
options), the canvases are built once (training canvases from the training
images with seed 0, test canvases from the test images with seed 1) and
pre-rendered; 10 % of the training canvases are held out for validation and
the label graph is computed from the remaining training targets only. Every
head gets the same SmallCNN backbone and is trained by the library's
:class:`~pyg_graphcls.train.Trainer` (Adam, cosine schedule, batch 64, BCE),
seeds ``0 .. seeds-1`` (initial weights, data order). The reported numbers are
test mAP / CF1 / OF1 of the final epoch, mean ± std over seeds.

Heads (registry names), the label graphs as the CLI builds them:

* ``linear``: ``head-linear``, no graph;
* ``mlgcn``: ``head-mlgcn`` on the re-weighted graph, P(j|i) >= 0.4;
* ``label-attention``: ``head-label-attention``, mask P(j|i) >= 0.1;
* ``label-attention-full``: the same with a fully connected mask (an ablation
  of the mask; not in the default list);
* ``grouped``: ``head-grouped`` (balanced groups), inside-group mask P(j|i) >= 0.1;
* ``grouped-fc``: the same with ``attention=False`` (each attention layer
  replaced by a per-node FC);
* ``sample-graph``: ``head-sample-graph`` with the edge loss (weight 1).

For every setting it also prints what the labels alone say about each other
(:func:`cooccurrence_oracle`: test mAP of P(y_j | the true other labels), and the
per-label entropy with and without the other labels), with no training
(``--heads ""`` prints only that).

``--history`` additionally prints, for one linear-head run, the per-epoch
running training mAP (collected from the training forward passes in train
mode, weights changing between batches), the Trainer's ``train_eval_map``
(a fixed training subset re-evaluated in eval mode) and ``val_map``.

Runs with ``torch.set_num_threads(--threads)`` (default 1: the benchmark
machine is shared). Prints Markdown tables for RESULTS.md and writes every
run's numbers to ``--out`` (JSON).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from benchmarks import print_md_table
from pyg_graphcls.datasets import load_images
from pyg_graphcls.datasets.canvas import MultiLabelCanvas
from pyg_graphcls.graphs.labels import cooccurrence_graph, label_mask
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer, split_dataset
from pyg_graphcls.train.multilabel import mean_average_precision

#: name -> MultiLabelCanvas options (on top of num_samples / seed)
SETTINGS = {
    # what `graphcls train --task multilabel --dataset canvas` builds
    "default": {},
    # harder images, same label statistics: every object loses a random
    # 14x14 square (a quarter of it), objects are placed anywhere (so they
    # may overlap and hide each other) and the canvas gets pixel noise
    "hard": {"placement": "random", "occlusion": 0.5, "pixel_noise": 0.2},
}

HEADS = ["linear", "mlgcn", "label-attention", "grouped", "grouped-fc", "sample-graph"]
OPTIONAL_HEADS = ["label-attention-full"]


def render(ds: MultiLabelCanvas) -> TensorDataset:
    """All canvases as one tensor (rendered once, shared by every run)."""
    x = torch.from_numpy(np.stack([ds.render(i) for i in range(len(ds))])).unsqueeze(1)
    return TensorDataset(x, ds.targets.clone())


def build_setting(name: str, source: str, n_train: int, n_test: int, limit=None):
    tri, trl, tei, tel, names, _ = load_images(source, seed=0, limit=limit)
    opts = SETTINGS[name]
    train_c = MultiLabelCanvas(tri, trl, n_train, seed=0, num_classes=len(names), **opts)
    test_c = MultiLabelCanvas(tei, tel, n_test, seed=1, num_classes=len(names), **opts)
    train_full, test = render(train_c), render(test_c)
    train, val = split_dataset(train_full, 0.1, 0)
    train_targets = train_full.tensors[1][torch.as_tensor(train.indices)]
    return train, val, test, train_targets, names


def make_model(head: str, train_targets: torch.Tensor, backbone_kw: dict):
    """(model, edge_loss_weight) for a head name; label graphs from training targets only."""
    c = train_targets.shape[1]
    if head == "linear":
        return create_model("head-linear", num_classes=c, **backbone_kw), 0.0
    if head == "mlgcn":
        g = cooccurrence_graph(train_targets, threshold=0.4)
        return create_model("head-mlgcn", num_classes=c, label_graph=g.adj_norm.tolist(), **backbone_kw), 0.0
    g = cooccurrence_graph(train_targets, threshold=0.1)
    mask = label_mask(g, threshold=0.1).int().tolist()
    if head == "label-attention":
        return create_model("head-label-attention", num_classes=c, label_graph=mask, **backbone_kw), 0.0
    if head == "label-attention-full":
        return create_model("head-label-attention", num_classes=c, label_graph=None, **backbone_kw), 0.0
    if head == "grouped":
        return create_model("head-grouped", num_classes=c, label_graph=mask, **backbone_kw), 0.0
    if head == "grouped-fc":
        return create_model("head-grouped", num_classes=c, label_graph=mask, attention=False,
                            **backbone_kw), 0.0
    if head == "sample-graph":
        return create_model("head-sample-graph", num_classes=c, **backbone_kw), 1.0
    raise SystemExit(f"unknown head {head!r}; use {', '.join(HEADS + OPTIONAL_HEADS)}")


def run_one(head, seed, train, val, test, train_targets, args, backbone_kw):
    torch.manual_seed(seed)
    model, edge_w = make_model(head, train_targets, backbone_kw)
    trainer = Trainer(model, task="multilabel", device="cpu", epochs=args.epochs, batch_size=64, lr=args.lr,
                      edge_loss_weight=edge_w, eval_train_size=args.eval_train, seed=seed, progress=False)
    t0 = time.perf_counter()
    trainer.fit(train, val)
    seconds = time.perf_counter() - t0
    res = trainer.evaluate(test, confusion=False)
    last = trainer.history[-1]
    return {"head": head, "seed": seed, "test_map": res["map"], "test_cf1": res["cf1"], "test_of1": res["of1"],
            "best_val_map": trainer.best_metric, "best_epoch": trainer.best_epoch,
            "final_train_eval_map": last.get("train_eval_map"), "final_val_map": last.get("val_map"),
            "parameters": sum(p.numel() for p in model.parameters()), "seconds": seconds,
            "history": trainer.history}


class _TrainModeLogits:
    """Forward hook: the logits of the training forward passes (train mode, weights changing)."""

    def __init__(self, model):
        self.logits = []
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        if module.training:
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.logits.append(out.detach().float())


class _RecordingDataset(torch.utils.data.Dataset):
    """Records the targets fetched while the model is in train mode (the loader runs in this process)."""

    def __init__(self, base, model):
        self.base, self.model, self.fetched = base, model, []

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        if self.model.training:
            self.fetched.append(y)
        return x, y


def history_run(train, val, args, backbone_kw):
    """One linear-head run: the running training mAP (what a naive loop reports) per epoch next to
    the Trainer's train_eval_map (fixed training subset, eval mode) and val_map. Only observes the
    Trainer (a forward hook and a recording dataset); the training is Trainer.fit, one epoch per call."""
    torch.manual_seed(0)
    model, _ = make_model("linear", torch.zeros(1, val[0][1].numel()), backbone_kw)
    rec = _RecordingDataset(train, model)
    trainer = Trainer(model, task="multilabel", device="cpu", epochs=args.epochs, batch_size=64, lr=args.lr,
                      eval_train_size=args.eval_train, seed=0, progress=False)
    hook = _TrainModeLogits(model)
    rows = []
    for _ in range(args.epochs):
        rec.fetched, hook.logits = [], []
        trainer.fit(rec, val, stop_after=1)
        # one probe item may be fetched before the epoch's batches (the loader's dataset-type check)
        targets = torch.stack(rec.fetched[-len(train):])
        logits = torch.cat(hook.logits)
        assert logits.shape == targets.shape, (logits.shape, targets.shape)
        h = trainer.history[-1]
        k = sum(len(b) for b in hook.logits[-max(1, len(hook.logits) // 4):])  # the last quarter's batches
        rows.append({"epoch": h["epoch"], "running_train_map": mean_average_precision(logits, targets),
                     "running_train_map_last_quarter": mean_average_precision(logits[-k:], targets[-k:]),
                     "train_loss": h["train_loss"], "train_eval_map": h["train_eval_map"],
                     "train_eval_loss": h["train_eval_loss"], "val_map": h["val_map"], "val_loss": h["val_loss"]})
    hook.handle.remove()
    return rows


def cooccurrence_oracle(train_targets: torch.Tensor, test_targets: torch.Tensor) -> dict:
    """How much the labels say about each other: every test label scored from the *true* other labels of
    its canvas alone (no image), by P(y_j = 1 | the other C-1 labels) counted on the training targets
    (add-one smoothing towards P(y_j = 1)). Returns that oracle's test mAP, the prevalence (the mAP of a
    constant score is not defined per class; this is its expected value), and the mean per-label entropy
    H(y_j) and cross-entropy H(y_j | other labels) on the test targets, in bits."""
    ytr, yte = train_targets.numpy() > 0.5, test_targets.numpy() > 0.5
    c = ytr.shape[1]
    weights = 1 << np.arange(c, dtype=np.int64)
    scores = np.zeros(yte.shape, dtype=np.float64)
    h_marg, h_cond = [], []
    for j in range(c):
        others = np.ones(c, dtype=bool)
        others[j] = False
        ktr, kte = ytr[:, others] @ weights[:c - 1], yte[:, others] @ weights[:c - 1]
        prior = (ytr[:, j].sum() + 1.0) / (len(ytr) + 2.0)
        pos = np.bincount(ktr, weights=ytr[:, j].astype(np.float64), minlength=1 << (c - 1))
        tot = np.bincount(ktr, minlength=1 << (c - 1)).astype(np.float64)
        p = (pos[kte] + prior) / (tot[kte] + 1.0)
        scores[:, j] = p
        t = yte[:, j]
        h_marg.append(-np.mean(np.where(t, np.log2(prior), np.log2(1 - prior))))
        h_cond.append(-np.mean(np.where(t, np.log2(p), np.log2(1 - p))))
    return {"oracle_map": mean_average_precision(torch.from_numpy(scores), test_targets),
            "prevalence": float(yte.mean()), "entropy_bits": float(np.mean(h_marg)),
            "cond_entropy_bits": float(np.mean(h_cond))}


def fmt(values, scale=100.0):
    m = statistics.mean(values) * scale
    s = (statistics.stdev(values) * scale) if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 seeds, 2 epochs, few canvases")
    ap.add_argument("--settings", default="default,hard", help=f"comma list of {', '.join(SETTINGS)}")
    ap.add_argument("--heads", default=",".join(HEADS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam lr (the CLI default for multi-label heads)")
    ap.add_argument("--train", type=int, default=2000, help="training canvases (10%% of them validate)")
    ap.add_argument("--test", type=int, default=1000, help="test canvases")
    ap.add_argument("--width", type=int, default=16, help="SmallCNN width")
    ap.add_argument("--feat-dim", type=int, default=128)
    ap.add_argument("--eval-train", type=int, default=500, help="Trainer eval_train_size")
    ap.add_argument("--source", default="sample", help="single-label image set: sample or fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--history", action="store_true", help="also the running-vs-eval training mAP run")
    ap.add_argument("--out", default="runs/bench_multilabel.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.train, args.test, args.eval_train = 2, 2, 300, 200, 100
    torch.set_num_threads(args.threads)
    heads = [h for h in args.heads.split(",") if h]
    backbone_kw = {"width": args.width, "feat_dim": args.feat_dim}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    t_all = time.perf_counter()
    results: dict = {"args": vars(args), "commit": commit, "settings": {}}
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    for setting in [s for s in args.settings.split(",") if s]:
        if setting not in SETTINGS:
            raise SystemExit(f"unknown setting {setting!r}; use {', '.join(SETTINGS)}")
        t0 = time.perf_counter()
        train, val, test, train_targets, names = build_setting(setting, args.source, args.train, args.test)
        g = cooccurrence_graph(train_targets, threshold=0.1)
        test_targets = torch.stack([test[i][1] for i in range(len(test))])
        info = {"options": SETTINGS[setting], "train": len(train), "val": len(val), "test": len(test),
                "cooccurrence": cooccurrence_oracle(train_targets, test_targets),
                "labels_per_canvas": float(train_targets.sum(1).mean()),
                "edges_0.1": int(g.adj.sum()), "edges_0.4": int((g.cond_prob >= 0.4).sum() - (g.counts > 0).sum()),
                "build_seconds": time.perf_counter() - t0, "runs": []}
        print(f"[{setting}] {SETTINGS[setting]} train {len(train)} val {len(val)} test {len(test)}, "
              f"{info['labels_per_canvas']:.2f} labels/canvas, {info['edges_0.1']} edges at 0.1, "
              f"{info['edges_0.4']} at 0.4 ({info['build_seconds']:.0f}s to build)", flush=True)
        co = info["cooccurrence"]
        print(f"  labels alone: co-occurrence oracle test mAP {100 * co['oracle_map']:.2f} (prevalence "
              f"{100 * co['prevalence']:.1f} %), H(y_j) {co['entropy_bits']:.3f} bits, H(y_j | other labels) "
              f"{co['cond_entropy_bits']:.3f} bits", flush=True)
        for head in heads:
            for seed in range(args.seeds):
                r = run_one(head, seed, train, val, test, train_targets, args, backbone_kw)
                info["runs"].append(r)
                print(f"  {head:22s} seed {seed}: test mAP {100 * r['test_map']:.2f} CF1 {100 * r['test_cf1']:.2f} "
                      f"OF1 {100 * r['test_of1']:.2f} (best val {100 * r['best_val_map']:.2f} @ {r['best_epoch']}, "
                      f"train-eval {100 * r['final_train_eval_map']:.2f}) {r['seconds']:.0f}s", flush=True)
                out_path.write_text(json.dumps(results | {"settings": {**results["settings"], setting: info}},
                                               indent=1))
        if args.history and setting == "default":
            info["history_run"] = history_run(train, val, args, backbone_kw)
        results["settings"][setting] = info
        out_path.write_text(json.dumps(results, indent=1))

    total = time.perf_counter() - t_all
    date = datetime.date.today().isoformat()
    cmd = "python -m benchmarks.multilabel" + (" " + " ".join(argv) if argv else "")
    import sys
    if argv is None and len(sys.argv) > 1:
        cmd = "python -m benchmarks.multilabel " + " ".join(sys.argv[1:])
    print(f"\n{date}, commit {commit}, {platform.machine()} {platform.system()}, {args.threads} torch thread(s), "
          f"torch {torch.__version__}; source {args.source}; SmallCNN(width={args.width}, feat_dim={args.feat_dim}); "
          f"{args.epochs} epochs, Adam lr {args.lr}, cosine, batch 64; {args.seeds} seeds; "
          f"total {total / 60:.1f} min\n`{cmd}`\n")
    for setting, info in results["settings"].items():
        co = info["cooccurrence"]
        print(f"**{setting}** {info['options'] or '(MultiLabelCanvas defaults)'}: {info['train']} train / "
              f"{info['val']} val / {info['test']} test canvases; labels alone (true other labels, no "
              f"image): oracle mAP {100 * co['oracle_map']:.2f} %, H(y_j) = {co['entropy_bits']:.3f} bits, "
              f"H(y_j | other labels) = {co['cond_entropy_bits']:.3f} bits\n")
        print("| head | parameters | test mAP (%) | CF1 (%) | OF1 (%) | train-eval mAP (%) | s/run |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for head in heads:
            rs = [r for r in info["runs"] if r["head"] == head]
            if not rs:
                continue
            print(f"| `{head}` | {rs[0]['parameters']:,} | {fmt([r['test_map'] for r in rs])} | "
                  f"{fmt([r['test_cf1'] for r in rs])} | {fmt([r['test_of1'] for r in rs])} | "
                  f"{fmt([r['final_train_eval_map'] for r in rs])} | "
                  f"{statistics.mean(r['seconds'] for r in rs):.0f} |")
        print()
        if "history_run" in info:
            print_md_table(["epoch", "running train mAP, whole epoch (train mode)", "same, last quarter of the epoch",
                            "train_loss (running)", "train_eval_map", "train_eval_loss", "val_map", "val_loss"],
                           [[h["epoch"], f"{100 * h['running_train_map']:.2f}",
                             f"{100 * h['running_train_map_last_quarter']:.2f}", f"{h['train_loss']:.4f}",
                             f"{100 * h['train_eval_map']:.2f}", f"{h['train_eval_loss']:.4f}",
                             f"{100 * h['val_map']:.2f}", f"{h['val_loss']:.4f}"] for h in info["history_run"]])
            print()


if __name__ == "__main__":
    main()
