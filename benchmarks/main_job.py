"""The main job's models side by side on the bundled sample: gcn vs the edge-blind mlp.

    python -m benchmarks.main_job [--seeds 3] [--epochs 30] [--lr 0.01]

Same graphs (75 SLIC superpixels, kNN-8, x = mean intensity + centroid), same
split, schedule and epochs for every model; prints test accuracy mean ± std
over seeds and the training speed, and a Markdown table for RESULTS.md.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import torch

from pyg_graphcls.datasets import load_dataset
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer, split_dataset


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="gcn,mlp,gat,gpr")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=None, help="default: the CLI default")
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)
    lr = args.lr if args.lr is not None else 1e-2  # the CLI's default for graph models
    t0 = time.perf_counter()
    splits = load_dataset("sample", root=args.root, progress=False)
    t_conv = time.perf_counter() - t0
    tr, va = split_dataset(splits.train, 0.1, 0)
    rows = []
    for name in args.models.split(","):
        accs, speeds = [], []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = create_model(name, in_channels=splits.num_features, num_classes=splits.num_classes)
            t = Trainer(model, epochs=args.epochs, lr=lr, seed=seed, progress=False, eval_train_size=0)
            t.fit(tr, va)
            speeds.append(len(tr) * len(t.history) / sum(h["seconds"] for h in t.history))
            best = t.history[t.best_epoch - 1]
            accs.append(t.evaluate(splits.test)["accuracy"])
            print(f"{name} seed {seed}: best val {best['val_accuracy']:.4f} (epoch {t.best_epoch}) "
                  f"final-epoch test {accs[-1]:.4f}", flush=True)
        n_params = sum(p.numel() for p in model.parameters())
        rows.append((name, n_params, statistics.mean(accs), statistics.pstdev(accs), statistics.mean(speeds)))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"\nconversion of 6,000 sample images (or cache load): {t_conv:.1f}s; commit {commit}; "
          f"{torch.get_num_threads()} torch threads; lr {lr}, {args.epochs} epochs, batch 64, cosine schedule\n")
    print("| model | parameters | test accuracy (mean ± std, %d seeds) | epoch throughput (graphs/s, incl. eval) |"
          % args.seeds)
    print("| --- | --- | --- | --- |")
    for name, n, m, s, sp in rows:
        print(f"| `{name}` | {n:,} | {100 * m:.2f} ± {100 * s:.2f} | {sp:.0f} |")


if __name__ == "__main__":
    main()
