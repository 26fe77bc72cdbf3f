"""The ``graphcls`` command: ``convert``, ``train``, ``evaluate``, ``predict``, ``explain``, ``show``, ``bench``.

Every user-facing failure (bad argument, unreadable data, wrong checkpoint)
ends with one line ``graphcls: error: ...`` and exit code 2: arguments are
checked at the entry (:mod:`pyg_graphcls.validate`) before any work, and any
remaining error is turned into that line by :func:`main` (``--debug`` shows the
traceback instead).

Image folders (``folder:DIR``) skip and list the files they cannot use
unless ``--strict``; array data sets (IDX, sample) fail on the first bad
image unless ``--no-strict``. ``torchrun --nproc_per_node N -m pyg_graphcls
train ...`` trains data-parallel (see :mod:`pyg_graphcls.train.distributed`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from .errors import GraphclsError, one_line, print_failures, print_warnings
from .validate import HEADS, validate_args

__all__ = ["main", "run", "build_parser", "graph_kwargs_from_args", "HEADS"]


# ------------------------------------------------------------------ arguments
def _csv(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t] if text != "none" else []


def _add_data_args(p: argparse.ArgumentParser, graph_default: str = "superpixels",
                   graphs: Sequence[str] = ("superpixels", "grid", "patches")) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="sample",
                   help="sample (default), fashion-mnist, mnist-superpixels, gnn-benchmark:MNIST|CIFAR10, idx:DIR, "
                        "folder:DIR"
                        " (and canvas[:SRC] for --task multilabel)")
    g.add_argument("--graph", default=graph_default, choices=list(graphs),
                   help="graph kind" + ("; image: no graph, the raw pixels [C,H,W] for image models (cnn)"
                                        if "image" in graphs else ""))
    g.add_argument("--root", default=None, help="cache folder (default $PYG_GRAPHCLS_HOME or ~/.cache/pyg_graphcls)")
    g.add_argument("--n-segments", type=int, default=None, help="superpixels: regions per image (75)")
    g.add_argument("--compactness", type=float, default=None, help="superpixels: SLIC compactness (auto)")
    g.add_argument("--method", default=None, choices=["fast", "skimage"],
                   help="superpixels: batched SLIC with connected regions, exactly --n-segments (fast, default) "
                        "or scikit-image SLIC per image (skimage, the reference)")
    g.add_argument("--ward-merge", dest="ward_merge", action="store_true",
                   help="superpixels: connected regions merged by Ward's criterion to exactly --n-segments, "
                        "instead of SLIC's connectivity step (keeps far more detail; skimage method)")
    g.add_argument("--node-pos", dest="node_pos", default=None, choices=["centroid", "interior"],
                   help="superpixels: node positions (and so kNN edges): region centroids (default) or each "
                        "region's pixel nearest its centroid, always inside the region")
    g.add_argument("--features", type=_csv, default=None,
                   help="superpixels: node features, comma list of mean,std,centroid,area,bbox,moments,gradient,"
                        "occupancy")
    g.add_argument("--edges", default=None, help="superpixels: knn|rag|none; patches: grid|knn|none")
    g.add_argument("--k", type=int, default=None, help="neighbours for knn edges (8)")
    g.add_argument("--edge-attr", type=_csv, default=None,
                   help="edge features, comma list of distance,gaussian,cartesian, or none (superpixels: none "
                        "unless given; the default model reads geometry from pos)")
    g.add_argument("--patch-size", type=int, default=None, help="patches: side in pixels (4)")
    g.add_argument("--connectivity", type=int, default=None, choices=[4, 8], help="grid/patches: 4 or 8")
    g.add_argument("--position", action="store_true", help="grid/patches: append normalised position to x")
    g.add_argument("--workers", type=int, default=None, help="conversion processes (default: all cores)")
    g.add_argument("--train-size", "--limit", dest="limit", type=int, default=None, metavar="N",
                   help="use only the first N training images (before the train/validation split)")
    g.add_argument("--strict", dest="strict", action="store_true", default=None,
                   help="fail on the first image that cannot be converted (default for array data sets)")
    g.add_argument("--no-strict", dest="strict", action="store_false",
                   help="skip (and list) images that cannot be converted (default for folder:DIR)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quiet", action="store_true", help="no progress bars")


#: what ``--graph superpixels`` builds unless told otherwise: the node features the default model
#: (``dirconv``) was measured with (references/RESULTS.md), and no ``edge_attr``: ``dirconv`` reads
#: the geometry from ``pos`` and never reads ``edge_attr``, which was half the bytes of each stored
#: graph (600 edges x 3 float32); models that read it (``gcn`` with ``edge_weight``) are trained
#: with ``--edge-attr distance[,cartesian]``. The library's own ``superpixel_graph`` keeps PyG's
#: minimal ``mean, centroid`` and ``distance``
SUPERPIXEL_DEFAULTS = {"features": ["mean", "std", "centroid", "area", "bbox", "moments", "gradient"],
                       "edge_attr": []}
#: the default model of ``graphcls train`` (the classic baseline is ``--model gcn``)
DEFAULT_MODEL = "dirconv"


def graph_kwargs_from_args(args: argparse.Namespace) -> dict:
    """The options the user gave, checked against the graph kind, over :data:`SUPERPIXEL_DEFAULTS`."""
    kw: dict[str, Any] = {}
    allowed = {
        "superpixels": {"n_segments", "compactness", "features", "edges", "k", "edge_attr", "method", "node_pos"},
        "grid": {"connectivity", "edge_attr", "position"},
        "patches": {"patch_size", "edges", "k", "connectivity", "edge_attr", "position"},
        "image": set(),
    }[args.graph]
    for name in ("n_segments", "compactness", "features", "edges", "k", "edge_attr", "patch_size", "connectivity",
                 "method", "node_pos"):
        v = getattr(args, name, None)
        if v is None:
            continue
        if name not in allowed:
            raise GraphclsError(f"--{name.replace('_', '-')} does not apply to --graph {args.graph}")
        kw[name] = v
    if getattr(args, "ward_merge", False):
        if args.graph != "superpixels":
            raise GraphclsError(f"--ward-merge does not apply to --graph {args.graph}")
        kw["merge"] = "ward"
    if getattr(args, "position", False):
        if "position" not in allowed:
            raise GraphclsError(f"--position does not apply to --graph {args.graph}")
        kw["position"] = True
    if args.graph == "superpixels" and not str(getattr(args, "dataset", "")).startswith(("mnist-superpixels",
                                                                                        "gnn-benchmark")):
        for name, value in SUPERPIXEL_DEFAULTS.items():
            kw.setdefault(name, list(value))
    return kw


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line ``graphcls: error: ...`` (exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"graphcls: error: {message} (see {self.prog} --help)\n")


def _add_debug(p: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    p.add_argument("--debug", action="store_true", default=default,
                   help="show the Python traceback of an error instead of one line")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .cli_use import add_parsers as add_use_parsers
    parser = _Parser(prog="graphcls", description="Image classification with graph neural networks.")
    _add_debug(parser, default=False)
    parser.add_argument("--version", action="version", version=f"graphcls {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="convert a data set to graphs and cache them")
    _add_data_args(p)
    p.add_argument("--out", default=None, help="cache folder (same as --root)")
    p.add_argument("--force", action="store_true", help="convert again even if cached")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="convert only shard I of N (0-based); the shard that completes the set merges it")
    p.add_argument("--merge", action="store_true",
                   help="merge the shards converted so far into the cache (fails if any is missing)")
    p.add_argument("--export", default=None, choices=["graphml", "json", "npz"],
                   help="also write the graphs beside the cache: graphml (one file per graph in <cache>.graphml/), "
                        "json (<cache>.json/graphs.json, node-link) or npz (<cache>.npz, collated)")

    p = sub.add_parser("train", help="train and evaluate a model; writes a run folder")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a TOML (or JSON) file of train options (keys: the long option names, e.g. "
                        "references/configs/*.toml); options given on the command line override it")
    _add_data_args(p, graphs=("superpixels", "grid", "patches", "image"))
    p.add_argument("--lazy", action="store_true",
                   help="build graphs when read instead of converting and caching them (large grids)")
    p.add_argument("--image-size", type=int, default=None,
                   help="--graph image: area-average the images to N x N pixels")
    p.add_argument("--test-size", type=int, default=None, help="use only the first N test images")
    p.add_argument("--augment", action="append", default=[], metavar="KEY=VALUE",
                   help="training-time augmentation: GraphAugment arguments (flip, rotate, jitter, node_drop) "
                        "for superpixels/grid, flip for --graph image")
    p.add_argument("--task", default="single", choices=["single", "multilabel"])
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"registry name (default {DEFAULT_MODEL}; the classic baseline: gcn; gat, gatedgcn, gpr, mlp, ...)")
    p.add_argument("--head", default="none", choices=sorted(HEADS),
                   help="multilabel: head on the CNN backbone")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default 0.01 for gcn/gat/gpr/mlp, 0.002 for the models with BatchNorm, "
                        "0.001 for multi-label CNN heads)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--scheduler", default="cosine", choices=["cosine", "plateau", "step", "none"])
    p.add_argument("--patience", type=int, default=None, help="early stopping patience (epochs)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the train/validation split (default: --seed)")
    p.add_argument("--eval-train-size", type=int, default=1000,
                   help="training graphs re-evaluated in eval mode each epoch (0: none)")
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--readout", default=None, help="max, mean, sum, max+mean")
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="any other model argument (value parsed as JSON when it can be)")
    p.add_argument("--edge-loss-weight", type=float, default=None,
                   help="weight of the sample-graph edge loss (default 1 for --head sample-graph)")
    p.add_argument("--canvas-train", type=int, default=4000, help="multilabel canvas: training canvases")
    p.add_argument("--canvas-test", type=int, default=1000, help="multilabel canvas: test canvases")
    p.add_argument("--label-threshold", type=float, default=None,
                   help="multilabel: threshold on P(j|i) for the label graph (0.1 attention, 0.4 ML-GCN)")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", default="auto", choices=["auto", "on", "off"],
                   help="mixed precision (bfloat16) training steps: auto = on for CUDA and for CPUs with native "
                        "bfloat16 (AVX512-BF16/AMX), off elsewhere; evaluation on CPU stays float32")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--out", default="runs/latest", help="run folder")

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a data set's test split")
    p.add_argument("checkpoint", nargs="?", default=None)
    p.add_argument("--pretrained", default=None, metavar="NAME",
                   help="a checkpoint shipped with the package instead of CHECKPOINT (fashion-mnist)")
    p.add_argument("--dataset", default=None, help="default: the data set the checkpoint was trained on")
    p.add_argument("--root", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=None, help="metrics JSON (default: next to the checkpoint)")
    p.add_argument("--quiet", action="store_true")

    add_use_parsers(sub)

    p = sub.add_parser("show", help="draw one graph to a PNG")
    _add_data_args(p)
    p.add_argument("--index", type=int, default=0, help="which image of the test split")
    p.add_argument("--image", default=None, help="an image file instead of --dataset")
    p.add_argument("-o", "--output", default="graph.png")

    p = sub.add_parser("bench", help="quick conversion and training throughput on the sample")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1)
    for p in sub.choices.values():
        _add_debug(p)
    return parser


# ------------------------------------------------------------------ commands
def _progress(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _strict(args) -> bool:
    """``--strict``/``--no-strict``, else: folders skip bad files, array data sets fail."""
    if getattr(args, "strict", None) is not None:
        return bool(args.strict)
    return not str(getattr(args, "dataset", "")).startswith("folder:")


def _convert_shards(args) -> int:
    from .datasets import default_root, load_images
    from .datasets.conversion import convert_shard
    if args.dataset.startswith("mnist-superpixels"):
        raise GraphclsError("mnist-superpixels is already graphs: --shard/--merge do not apply")
    root = Path(args.out or args.root) if (args.out or args.root) else default_root()
    tri, trl, tei, tel, names, name = load_images(args.dataset, seed=args.seed, limit=args.limit)
    gkw = graph_kwargs_from_args(args)
    done = True
    for split, images, labels in (("train", tri, trl), ("test", tei, tel)):
        res = convert_shard(root, images, labels, shard=args.shard, merge_only=args.merge, graph=args.graph,
                            graph_kwargs=gkw, name=f"{name}-{split}", class_names=names, workers=args.workers,
                            progress=_progress(args), strict=_strict(args), force=args.force)
        if res["dataset"] is None:
            done = False
            print(f"{name}-{split}: shard {args.shard} done, {res['missing']} chunk(s) of other shards missing")
        else:
            print(f"{name}-{split}: {len(res['dataset'])} {args.graph} graphs merged -> {res['cache']}")
            print_failures(res["dataset"].failures)
    if done:
        print("all shards present: cache complete")
    return 0


def cmd_convert(args) -> int:
    """Convert and cache; without ``--export`` through :func:`~pyg_graphcls.datasets.convert_dataset`,
    which never imports PyG (its import was about 2 s of every conversion)."""
    import gc

    from .datasets import read_ahead
    if not args.dataset.startswith(("mnist-superpixels", "gnn-benchmark")):
        read_ahead(args.dataset, seed=args.seed, limit=args.limit)  # read while torch imports (next line)
    gc_on = gc.isenabled()
    gc.disable()  # the collector's walks over torch's import: 0.73 -> 0.64 s of it (measured)
    try:
        from .datasets import conversion, convert_dataset, load_dataset  # noqa: F401  (torch: ~0.8 s of one core)
        # torch's objects, never garbage, are not walked again (here or in the workers forked during the
        # conversion): 1,024 photos 2.86 -> 2.76 s; unfrozen when the conversion ends (main() may run in a
        # longer process: tests, notebooks)
        gc.freeze()
    finally:
        if gc_on:
            gc.enable()
    try:
        return _convert(args)
    finally:
        gc.unfreeze()
        from .datasets import folder
        folder.forget_decoded()  # what was decoded ahead and not used (a cache hit, --merge, an error)


def _convert(args) -> int:
    from .datasets import convert_dataset, load_dataset
    if args.shard is not None or args.merge:
        return _convert_shards(args)
    root = args.out or args.root
    t0 = time.perf_counter()
    load = load_dataset if args.export else convert_dataset  # --export reads the graphs as PyG Data
    splits = load(args.dataset, args.graph, graph_kwargs_from_args(args), root=root, workers=args.workers,
                  progress=_progress(args), strict=_strict(args), seed=args.seed, limit=args.limit, force=args.force)
    dt = time.perf_counter() - t0
    n = len(splits.train) + len(splits.test)
    fails = splits.info.get("train_failures", []) + splits.info.get("test_failures", [])
    converted = getattr(splits.train, "converted", False) or getattr(splits.test, "converted", False)
    print(f"{splits.name}: {len(splits.train)} train + {len(splits.test)} test {args.graph} graphs, "
          f"{splits.num_features} node features, {splits.num_classes} classes "
          f"({'converted' if converted else 'cached'} in {dt:.1f}s"
          + (f", {n / dt:.0f} images/s" if converted and dt > 0 else "") + ")")
    print_failures(fails)
    print_warnings(splits.info)
    for c in splits.info.get("cache", []):
        print(f"  cache: {c}")
    if args.export:
        _export(args, splits)
    global _CONVERTED
    _CONVERTED = True
    return 0


def _export(args, splits) -> None:
    from .train.data import x_feature_names
    from .viz import export_graphs
    fmt = args.export
    names = x_feature_names(args.graph, graph_kwargs_from_args(args), splits.num_features, args.dataset)
    for ds, cache in zip((splits.train, splits.test), splits.info.get("cache", [])):
        target = Path(cache).with_suffix("." + fmt)
        files = export_graphs((ds[i] for i in range(len(ds))), target, fmt, feature_names=names)
        where = files[0] if len(files) == 1 else target
        print(f"  export: {len(ds)} graphs as {fmt} -> {where}")


def cmd_train(args) -> int:
    from .train.distributed import init_from_env
    dist_ctx = init_from_env(args.device)  # None unless started by torchrun with N > 1
    try:
        from .train.run import run_training
        return run_training(args, dist_ctx, graph_kwargs_from_args(args), strict=_strict(args),
                            progress=_progress(args))
    finally:
        if dist_ctx is not None:
            dist_ctx.close()


def cmd_evaluate(args) -> int:
    from .io import write_json
    from .train import Trainer, load_model
    from .train.data import training_data

    if args.pretrained is not None:
        from .predict import pretrained_path
        args.checkpoint = str(pretrained_path(args.pretrained))
    model, ckpt = load_model(args.checkpoint)
    task = ckpt.get("task", "single")
    spec = args.dataset or ckpt.get("dataset", "sample")
    if task == "multilabel":
        ns = argparse.Namespace(dataset=spec, seed=ckpt.get("canvas", {}).get("seed", 0),
                                limit=ckpt.get("canvas", {}).get("limit"),
                                canvas_train=ckpt.get("canvas", {}).get("train", 4000),
                                canvas_test=ckpt.get("canvas", {}).get("test", 1000))
        from .train.run import canvas_splits
        _, test, names, data_name = canvas_splits(ns)
    else:
        splits = training_data(spec, ckpt.get("graph", "superpixels"), ckpt.get("graph_kwargs", {}), root=args.root,
                               workers=args.workers, progress=not args.quiet and sys.stderr.isatty(),
                               val_fraction=0.0, lazy=ckpt.get("lazy", False), image_size=ckpt.get("image_size"))
        test, names, data_name = splits.test, splits.class_names, splits.name
        want = ckpt["model_config"].get("kwargs", {}).get("num_classes")
        if want is None and hasattr(model, "head") and hasattr(model.head, "out_features"):
            want = model.head.out_features
        if want is not None and want != splits.num_classes:
            raise GraphclsError(f"the checkpoint has {want} classes but {spec} has {splits.num_classes}")
        if splits.num_features != ckpt["model_config"]["kwargs"].get("in_channels", splits.num_features):
            raise GraphclsError(f"the checkpoint expects {ckpt['model_config']['kwargs']['in_channels']} node "
                                f"features but {spec} graphs have {splits.num_features}")
    trainer = Trainer(model, task=task, device=args.device, progress=False)
    res = trainer.evaluate(test)
    res = {"dataset": data_name, "checkpoint": str(args.checkpoint), **res}
    name = f"eval-{data_name.replace('/', '_')}.json"
    # next to the checkpoint; for a pretrained one (inside the installed package) in the working folder
    out = Path(args.out) if args.out else (Path(name) if args.pretrained else Path(args.checkpoint).with_name(name))
    write_json(res, out)
    if task == "single":
        print(f"{data_name}: test_accuracy = {res['accuracy']:.4f}, loss = {res['loss']:.4f} ({len(test)} graphs) -> {out}")
    else:
        print(f"{data_name}: test_map = {res['map']:.4f} ({len(test)} canvases) -> {out}")
    return 0


def cmd_show(args) -> int:
    from .graphs import build_graph
    from .viz import draw_graph, save_figure
    gkw = graph_kwargs_from_args(args)
    if args.graph == "superpixels":
        gkw["return_seg"] = True
    gkw["return_img"] = True
    if args.image:
        from .datasets import read_image
        image, title = read_image(args.image), Path(args.image).name
    else:
        from .datasets import load_images
        if args.dataset.startswith("mnist-superpixels"):
            from .datasets import load_dataset
            splits = load_dataset(args.dataset, root=args.root)
            data = splits.test[args.index]
            fig = draw_graph(data)
            save_figure(fig, args.output)
            print(f"wrote {args.output}")
            return 0
        _, _, tei, tel, names, name = load_images(args.dataset, seed=args.seed)
        if not 0 <= args.index < len(tei):
            raise GraphclsError(f"--index {args.index} is out of range: the test split has {len(tei)} images")
        item = tei[args.index]
        if isinstance(item, str):
            from .datasets import read_image
            item = read_image(item)
        image, title = item, f"{name} #{args.index}: {names[int(tel[args.index])]}"
    data = build_graph(args.graph, image, **gkw)
    fig = draw_graph(data)
    fig.axes[0].set_title(f"{title} — {args.graph}: {data.num_nodes} nodes, {data.num_edges} edges", fontsize=9)
    save_figure(fig, args.output)
    print(f"wrote {args.output} ({data.num_nodes} nodes, {data.num_edges} edges)")
    return 0


def cmd_bench(args) -> int:
    import tempfile
    import torch
    from .datasets import ImageGraphDataset, load_images
    from .models import create_model
    from .train import Trainer
    from .train.fast import PackedGraphs
    from .train.run import default_lr
    tri, trl, _, _, _, _ = load_images("sample")
    n = min(args.images, len(tri))
    gkw = {name: list(value) for name, value in SUPERPIXEL_DEFAULTS.items()}  # what `graphcls train` converts
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        ds = ImageGraphDataset(d, tri[:n], trl[:n], graph_kwargs=gkw, progress=False)
        conv = n / (time.perf_counter() - t0)
    torch.manual_seed(0)
    model = create_model(DEFAULT_MODEL, in_channels=ds.num_node_features, num_classes=10)
    tr = Trainer(model, epochs=args.epochs, lr=default_lr("single", DEFAULT_MODEL), progress=False,
                 eval_train_size=0, scheduler="none")
    t0 = time.perf_counter()
    tr.fit(ds)
    gps = n * args.epochs / (time.perf_counter() - t0)
    print(f"conversion: {conv:.0f} images/s (the default superpixel graphs, 28x28, {os.cpu_count()} cores)")
    print(f"training:   {gps:.0f} graphs/s (the default model {DEFAULT_MODEL}, batch 64, "
          f"{'dense' if isinstance(tr._dense_view(ds), PackedGraphs) else 'PyG'} path, {'bf16 mixed precision' if tr.amp else 'float32'}, "
          f"{torch.get_num_threads()} threads, {tr.device})")
    print("side-by-side ratios against plain PyG: python -m benchmarks.conversion / python -m benchmarks.training")
    return 0


#: set by a ``convert`` that finished: :func:`run` may then end the process without finalization
_CONVERTED = False


def run() -> None:
    """The ``graphcls`` program (console script, ``python -m pyg_graphcls``): :func:`main`, then exit.

    After a ``convert`` that finished, the process ends with ``os._exit`` once stdout and stderr are
    flushed: the interpreter's finalization of the ~1,200 modules that torch imports took 0.6-0.7 s
    of every conversion (measured on a cached sample; 1.2-1.4 s when convert still imported
    torch_geometric too, ~2,800 modules: a 70k conversion's process ran 1.65 s past its last
    statement, 0.22 s with ``os._exit``) and has nothing left to do then: the caches are
    written, fsynced and closed, the worker pool joined, the lock file closed. Every other command,
    and every error, exits normally. :func:`main` itself never exits (tests and benchmarks call it).
    """
    rc = main()
    if _CONVERTED and rc == 0:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # a closed pipe (`| head -1`): nothing more can be written anyway
            pass
        os._exit(0)
    raise SystemExit(rc)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "train" and args.config:
            from .train.config import argv_with_config
            try:
                args = parser.parse_args(argv_with_config(parser, sys.argv[1:] if argv is None else argv, args.config))
            except GraphclsError as e:
                print(f"graphcls: error: {e}", file=sys.stderr)
                return 2
    except SystemExit as e:  # argparse: its one-line error (or --help) is already printed
        return e.code if isinstance(e.code, int) else 2
    from .cli_use import cmd_explain, cmd_predict
    commands = {"convert": cmd_convert, "train": cmd_train, "evaluate": cmd_evaluate, "show": cmd_show,
                "bench": cmd_bench, "predict": cmd_predict, "explain": cmd_explain}
    try:
        validate_args(args)
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("graphcls: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if getattr(args, "debug", False):
            raise
        known = isinstance(e, (GraphclsError, OSError, ValueError, TypeError, RuntimeError))
        where = "" if isinstance(e, GraphclsError) else f"{args.command}: "
        print(f"graphcls: error: {where}{one_line(e)}"
              + ("" if known else " (an internal error: rerun with --debug for the traceback)"), file=sys.stderr)
        return 2
