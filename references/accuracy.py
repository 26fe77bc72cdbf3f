"""The accuracy table: recipes (``references/configs/*.toml``) x training-set sizes x seeds.

    python -m references.accuracy --recipes gcn,mlp,gat,dirconv,dirconv-grid,cnn \
        --train-sizes 5000,10000 --seeds 3 [--epochs 15] [--test-size N] [--dataset fashion-mnist] \
        [--json references/accuracy.json] [--threads 1]

Every run is one ``graphcls train --config references/configs/NAME.toml`` in this
process (:func:`references.recipes.run`; the config fixes data, graph, model, lr,
batch size and augmentation; ``--epochs`` overrides its epoch count for the whole
table). Results are appended to the JSON file after
each run, and runs already there (same recipe, dataset, size, seed, epochs,
test size, variant) are skipped, so an interrupted table continues where it stopped.
``--overrides JSON --variant NAME`` runs an ablation of the recipes (e.g. another
width: ``'{"model_arg": {"hidden": 40}}'``, any ``graphcls train`` option by its
config key) as its own row.
Prints a Markdown table: test accuracy mean ± std over seeds, parameters,
epochs, seconds per epoch (training + validation pass, this machine).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from pyg_graphcls.io import write_json

from .recipes import config_path, names as recipe_names, override_argv, run


def _key(r: dict) -> tuple:
    return (r["recipe"], r.get("dataset"), r.get("train_size"), r["seed"], r["epochs_asked"], r.get("test_size"),
            r.get("variant"))


def _row_name(r: dict) -> str:
    return r["recipe"] + (f" [{r['variant']}]" if r.get("variant") else "")


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(runs: list[dict], order=None) -> str:
    """Markdown table, one row per (train size, recipe); recipes in ``order`` (default: first seen)."""
    groups: dict[tuple, list[dict]] = {}
    rank = {n: i for i, n in enumerate(order or [])}
    for r in sorted(runs, key=lambda r: (r["train_size"] or 0, rank.get(r["recipe"], len(rank)))):
        groups.setdefault((r["train_size"], _row_name(r)), []).append(r)
    lines = ["| train images | recipe | model | graph | test acc. % (mean ± std) | seeds | params | epochs "
             "| s/epoch |", "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for (size, name), rs in groups.items():
        accs = [100 * r["test_accuracy"] for r in rs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        sec = statistics.mean(r["seconds_per_epoch"] for r in rs)
        lines.append(f"| {size if size else 'all'} | {name} | {rs[0]['model']} | {rs[0]['graph']} | "
                     f"{statistics.mean(accs):.2f} ± {std:.2f} | {len(rs)} | {rs[0]['parameters']:,} | "
                     f"{rs[0]['epochs']} | {sec:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="gcn,mlp,gat,dirconv,dirconv-grid,cnn",
                    help=f"comma-separated, from: {', '.join(recipe_names())}")
    ap.add_argument("--train-sizes", default="5000", help="comma-separated; 'all' = the whole training file")
    ap.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a comma-separated list")
    ap.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    ap.add_argument("--test-size", type=int, default=None, help="first N test images (default: all)")
    ap.add_argument("--dataset", default=None, help="override the recipes' dataset (e.g. idx:DIR, sample)")
    ap.add_argument("--json", default="references/accuracy.json")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--workers", type=int, default=None, help="conversion processes (default: all cores)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--overrides", default=None,
                    help='ablation: JSON of config keys merged into every recipe, e.g. \'{"model_arg": {"hidden": 40}}\'')
    ap.add_argument("--variant", default=None, help="name of the --overrides ablation (a separate table row)")
    args = ap.parse_args(argv)
    overrides = json.loads(args.overrides) if args.overrides else None
    if overrides is not None and not args.variant:
        ap.error("--overrides needs --variant NAME (its row in the table)")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    for n in names:
        config_path(n)  # fail early on a typo
    override_argv(overrides)  # and on an unknown override key
    sizes = [None if s.strip() == "all" else int(s) for s in args.train_sizes.split(",")]
    seeds = (list(range(int(args.seeds))) if "," not in args.seeds
             else [int(s) for s in args.seeds.split(",") if s.strip()])
    if not seeds:
        ap.error(f"--seeds {args.seeds!r} selects no seed (a count >= 1, or a list such as '0,' or '1,2')")
    path = Path(args.json)
    doc = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    done = {_key(r) for r in doc["runs"]}
    for size in sizes:
        for name in names:
            for seed in seeds:
                probe = {"recipe": name, "dataset": args.dataset, "train_size": size, "seed": seed,
                         "epochs_asked": args.epochs, "test_size": args.test_size}
                if args.variant:
                    probe["variant"] = args.variant
                if _key(probe) in done:
                    continue
                t0 = time.perf_counter()
                res = run(name, train_size=size, seed=seed, epochs=args.epochs, test_size=args.test_size,
                                 dataset=args.dataset, device=args.device, workers=args.workers,
                                 overrides=overrides)
                res.update(probe, wall_seconds=time.perf_counter() - t0, commit=commit(),
                           date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           threads=torch.get_num_threads())
                # re-read before appending: another table may have written to the same file meanwhile
                doc = json.loads(path.read_text()) if path.is_file() else {"runs": []}
                doc["runs"].append(res)
                write_json(doc, path)
                print(f"{_row_name(res)} n={size} seed={seed}: test {100 * res['test_accuracy']:.2f} % "
                      f"(val {100 * res['best_val_accuracy']:.2f} % @ {res['best_epoch']}), "
                      f"{res['seconds_per_epoch']:.1f} s/epoch", flush=True)
    wanted = [r for r in doc["runs"] if r["recipe"] in names and r["train_size"] in sizes
              and r.get("epochs_asked") == args.epochs and r.get("test_size") == args.test_size
              and r.get("dataset") == args.dataset and r.get("variant") == args.variant]
    print(table(wanted, names))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
