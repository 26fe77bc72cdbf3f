"""The main job as a user runs it: ``graphcls train --dataset sample`` end to end, over seeds.

    python -m benchmarks.main_job [--seeds 3] [--models default,gcn] [--epochs 30] [--extra "--amp off"]

Each run is the command itself in a fresh process (start-up, conversion on the first run of a
fresh cache folder, training, evaluation, plots), timed from start to exit. ``default`` means no
``--model`` (the default model); other names add ``--model NAME``. Prints test accuracy mean ±
std over seeds, the wall time of each run (the first includes the conversion) and a Markdown table.
``--extra``: more options for every run (e.g. ``--amp off`` for float32 training steps).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence


def run(model: str, seed: int, epochs: int, home: str, out: Path, extra: Sequence[str] = ()) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "pyg_graphcls", "train", "--dataset", "sample", "--seed", str(seed), "--epochs",
           str(epochs), "--quiet", "--out", str(out)] + ([] if model == "default" else ["--model", model]) + list(extra)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYG_GRAPHCLS_HOME": home}, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="default,gcn")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--extra", default="", help="more train options for every run, e.g. '--amp off'")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            home = str(Path(tmp) / f"home-{model}")  # a fresh cache: the first run converts, as a new user's does
            accs, walls, name = [], [], model
            for seed in range(args.seeds):
                m, wall = run(model, seed, args.epochs, home, Path(tmp) / f"{model}-{seed}", args.extra.split())
                accs.append(100 * m["test_accuracy"])
                walls.append(wall)
                name = m["model"]
                print(f"{model} seed {seed}: test {accs[-1]:.2f} %, {wall:.0f} s (data {m['seconds_data']:.0f} s, "
                      f"train {m['seconds_train']:.0f} s)", flush=True)
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            rows.append((model, name, statistics.mean(accs), sd, accs, walls))
    print("\n| command | model | test accuracy % (mean ± std) | per seed | wall seconds per run (first converts) |")
    print("| --- | --- | ---: | --- | --- |")
    for model, name, mean, sd, accs, walls in rows:
        cmd = ("graphcls train --dataset sample" + ("" if model == "default" else f" --model {model}")
               + (f" {args.extra}" if args.extra else ""))
        print(f"| `{cmd}` | {name} | {mean:.2f} ± {sd:.2f} | {', '.join(f'{a:.1f}' for a in accs)} | "
              f"{', '.join(f'{w:.0f}' for w in walls)} |")


if __name__ == "__main__":
    main()
