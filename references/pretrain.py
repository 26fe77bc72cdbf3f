"""The pretrained checkpoint shipped in the package: the default model trained on full Fashion-MNIST.

    python -m references.pretrain --seeds 0,1,2 --epochs 8 --threads 1      # train (runs/pretrain/seed-N)
    python -m references.pretrain --seeds 0,1,2 --collect                   # card + checkpoint from those runs

Each seed is ``graphcls train --dataset fashion-mnist --epochs E --seed N`` with every other
option at its default (the default model and conversion), in process. Seeds whose run folder
already holds ``metrics.json`` are not trained again, so seeds can run in parallel processes and
a last ``--collect`` writes the results. The checkpoint of ``--ship-seed`` (default: the first
seed) is copied to ``pyg_graphcls/pretrained/fashion-mnist.pt`` and its model card, with the test
accuracy of every seed and their mean ± std, to ``pyg_graphcls/pretrained/fashion-mnist.md``.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHIP = REPO / "pyg_graphcls" / "pretrained"


def _seeds(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def train(seed: int, args) -> None:
    from pyg_graphcls.cli import main
    out = Path(args.out) / f"seed-{seed}"
    if (out / "metrics.json").is_file():
        print(f"seed {seed}: done already ({out})")
        return
    rc = main(["train", "--dataset", args.dataset, "--epochs", str(args.epochs), "--seed", str(seed), "--quiet",
               "--amp", args.amp, "--out", str(out)])
    if rc != 0:
        raise SystemExit(f"seed {seed}: graphcls train failed ({rc})")


def collect(seeds: list[int], args) -> None:
    runs = {}
    for s in seeds:
        path = Path(args.out) / f"seed-{s}" / "metrics.json"
        if not path.is_file():
            raise SystemExit(f"seed {s} has no finished run ({path})")
        runs[s] = json.loads(path.read_text())
    ship = args.ship_seed if args.ship_seed is not None else seeds[0]
    SHIP.mkdir(exist_ok=True)
    ckpt_src = Path(args.out) / f"seed-{ship}" / "checkpoint.pt"
    shutil.copyfile(ckpt_src, SHIP / "fashion-mnist.pt")
    ckpt = torch.load(SHIP / "fashion-mnist.pt", weights_only=True)
    acc = [100 * runs[s]["test_accuracy"] for s in seeds]
    mean, std = statistics.mean(acc), (statistics.stdev(acc) if len(acc) > 1 else 0.0)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    m = runs[ship]
    run_args = json.loads((Path(args.out) / f"seed-{ship}" / "run.json").read_text()).get("args", {})
    precision = {"on": "bfloat16 mixed precision", "off": "float32"}.get(run_args.get("amp"),
                                                                          "the Trainer's automatic precision")
    rows = "\n".join(f"| {s} | {100 * runs[s]['test_accuracy']:.2f} | {100 * runs[s]['best_val_accuracy']:.2f} | "
                     f"{runs[s]['best_epoch']} |" for s in seeds)
    card = f"""# Model card: `fashion-mnist` (pretrained)

`graphcls predict --pretrained fashion-mnist IMAGE ...`, `graphcls evaluate --pretrained fashion-mnist`,
`Predictor.load(pretrained="fashion-mnist")`.

- **Model**: `{ckpt['model_config']['name']}` with its registry defaults, {m['parameters']:,} parameters
  (the default model of `graphcls train`).
- **Input**: a {ckpt['input']['size'][0]}x{ckpt['input']['size'][1]} grayscale image (others are grayed and
  resized by `Predictor`), light garment on a dark background as in Fashion-MNIST; converted with the
  stored settings: `graph={ckpt['graph']}`, `{json.dumps(ckpt['graph_kwargs'])}` over the library defaults
  (connected batched superpixels, 75 regions, kNN-8).
- **Data**: Fashion-MNIST training file (60,000 images; 54,000 train / 6,000 validation, seeded split),
  classes {', '.join(ckpt['class_names'])}. Test: the 10,000 test images.
- **Recipe**: Adam (lr {runs[ship].get('lr', '2e-3 default')}), cosine schedule, batch 64, {args.epochs} epochs,
  training steps in {precision}, the checkpoint with the best validation accuracy. Command:
  `python -m references.pretrain --seeds {','.join(map(str, seeds))} --epochs {args.epochs} --amp {args.amp}`
  (each seed: `graphcls train --dataset fashion-mnist --epochs {args.epochs} --seed N`).
- **Test accuracy**: **{mean:.2f} ± {std:.2f} %** over {len(seeds)} seeds (mean ± sample std); the shipped
  checkpoint is seed {ship} ({100 * runs[ship]['test_accuracy']:.2f} %).

| seed | test accuracy % | best validation % | best epoch |
| ---: | ---: | ---: | ---: |
{rows}

Made on {time.strftime('%Y-%m-%d')} at commit `{commit}` on {platform.machine()} CPU
({torch.get_num_threads()} threads here), torch {torch.__version__}.
"""
    (SHIP / "fashion-mnist.md").write_text(card)
    print(card)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--out", default="runs/pretrain")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ship-seed", type=int, default=None)
    p.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                   help="graphcls train --amp (the shipped checkpoint: off, float32 training steps)")
    p.add_argument("--collect", action="store_true", help="only write the card and the checkpoint")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.collect:
        for s in args.seeds:
            train(s, args)
    collect(args.seeds, args)


if __name__ == "__main__":
    main()
