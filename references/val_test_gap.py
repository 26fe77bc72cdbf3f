"""Is the validation split a fair stand-in for the test set? Per-block test accuracy next to validation.

    python -m references.val_test_gap --recipes cnn,raster-regions,raster-ward --train-size 10000 \
        --epochs 3 [--blocks 10] [--check-cache 40] [--heldout 5000] [--threads 1]

For each recipe: train it (seed 0, the recipe's protocol: the same 90/10 split of the first
``--train-size`` training images, no checkpoint selection), then print the validation accuracy
and the accuracy on each of ``--blocks`` equal consecutive blocks of the test set. A gap that
every recipe shows belongs to the split; one a recipe shows alone belongs to its graphs.
``--check-cache N`` first rebuilds N graphs of each file (spread over it) with
``superpixel_graph`` and checks that the cached ``x``, ``pos``, ``edge_index``, ``edge_attr`` and
``y`` are equal (superpixel recipes), so that a gap cannot come from a stale cache.
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from .recipes import graph_kwargs, model_kwargs, recipe_args, recipe_data


def check_cache(args, n: int) -> int:
    """Number of mismatching graphs among ``n`` per file (0 when the cache is what the code builds)
    for the parsed options ``args`` of a superpixel recipe (:func:`references.recipes.recipe_args`)."""
    from pyg_graphcls.datasets import load_dataset, load_images
    from pyg_graphcls.graphs import superpixel_graph
    gkw = graph_kwargs(args)
    splits = load_dataset(args.dataset, "superpixels", gkw, progress=False)
    tri, trl, tei, tel, _, _ = load_images(args.dataset)
    bad = 0
    for ds, imgs, labels in ((splits.train, tri, trl), (splits.test, tei, tel)):
        for i in np.linspace(0, len(ds) - 1, n).astype(int).tolist():
            g, c = superpixel_graph(imgs[i], y=int(labels[i]), **gkw), ds[i]
            same = (torch.equal(g.x, c.x) and torch.equal(g.pos, c.pos) and torch.equal(g.edge_index, c.edge_index)
                    and torch.allclose(g.edge_attr, c.edge_attr) and int(g.y) == int(c.y))
            bad += not same
    return bad


def heldout_set(args, start: int, n: int):
    """Images ``start .. start + n - 1`` of the training file in the form the parsed recipe options
    ``args`` train on: training-file images that neither the training nor the validation split of
    the first ``start`` contains (no augmentation)."""
    from pyg_graphcls.datasets import load_dataset
    if args.graph == "superpixels" and not args.lazy:
        train = load_dataset(args.dataset, "superpixels", graph_kwargs(args), progress=False).train
        return train[start:min(start + n, len(train))]
    data = recipe_data(args, train_size=None, test_size=None, val_fraction=0.0, augment=None)
    return data.full[start:start + n] if args.graph != "image" else torch.utils.data.Subset(
        data.full, range(start, min(start + n, len(data.full))))


def blocks(name: str, train_size: int, epochs: int, n_blocks: int, heldout: int = 0) -> dict[str, float]:
    from pyg_graphcls.models import create_model
    from pyg_graphcls.train import Trainer
    args = recipe_args(name, ["--train-size", str(train_size)])
    data = recipe_data(args)
    train, val, test = data.train, data.val, data.test
    torch.manual_seed(0)
    model = create_model(args.model, in_channels=data.num_features, num_classes=data.num_classes,
                         **model_kwargs(args))
    with tempfile.TemporaryDirectory() as d:
        t = Trainer(model, device="auto", epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=0,
                    progress=False, eval_train_size=0, out_dir=d)
        t.fit(train, val)
        out = {"val": t.evaluate(val, confusion=False)["accuracy"]}
        if heldout:
            out["held-out"] = t.evaluate(heldout_set(args, train_size, heldout), confusion=False)["accuracy"]
        edges = np.linspace(0, len(test), n_blocks + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            part = torch.utils.data.Subset(test, range(a, b))
            out[f"test {a}-{b - 1}"] = t.evaluate(part, confusion=False)["accuracy"]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="cnn,raster-regions,raster-ward")
    ap.add_argument("--train-size", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--check-cache", type=int, default=0, metavar="N")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--heldout", type=int, default=0, metavar="N",
                    help="also score training-file images train_size .. train_size + N - 1 (seen by neither "
                         "split): a gap between them and the test set belongs to the files, one between them "
                         "and validation to the validation images")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in [n.strip() for n in args.recipes.split(",") if n.strip()]:
        r = recipe_args(name)
        if args.check_cache and r.graph == "superpixels":
            print(f"{name}: {check_cache(r, args.check_cache)} of {2 * args.check_cache} cached graphs differ "
                  f"from a fresh conversion", flush=True)
        res = blocks(name, args.train_size, args.epochs, args.blocks, args.heldout)
        tests = [v for k, v in res.items() if k.startswith("test")]
        held = f"held-out {100 * res['held-out']:.1f}, " if "held-out" in res else ""
        print(f"{name}: val {100 * res['val']:.1f}, {held}test blocks mean {100 * np.mean(tests):.1f} "
              f"(min {100 * min(tests):.1f}, max {100 * max(tests):.1f}):",
              ", ".join(f"{k} {100 * v:.1f}" for k, v in res.items() if k.startswith("test")), flush=True)


if __name__ == "__main__":
    main()
