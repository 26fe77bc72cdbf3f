"""One training run of ``graphcls train``, from parsed arguments to a finished run folder.

The command line (:mod:`pyg_graphcls.cli`) parses and validates; this module does the
work: loads the data (:func:`~pyg_graphcls.train.data.training_data` or multi-label
canvases), builds the model through the registry (feature groups passed as
``columns`` to models that read them), trains with :class:`Trainer`, evaluates the
best checkpoint and writes ``run.json``, ``metrics.json`` and the plots.
"""
from __future__ import annotations

import hashlib
import platform
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import GraphclsError, print_failures, print_warnings
from ..validate import HEADS, model_kwargs_from_args

__all__ = ["run_training", "canvas_splits", "default_lr", "HEADS"]

#: Adam learning rates of the recipes (references/configs): the classic convolutions 1e-2, the models
#: with BatchNorm (dirconv, gatedgcn, raster, cnn, ...) 2e-3; multi-label heads 1e-3
_CLASSIC_LR = {"gcn": 1e-2, "gat": 1e-2, "gpr": 1e-2, "mlp": 1e-2}


def default_lr(task: str, model: str) -> float:
    """The learning rate ``graphcls train`` uses when ``--lr`` is not given."""
    if task != "single":
        return 1e-3
    return _CLASSIC_LR.get(model, 2e-3)


def _versions() -> dict:
    import numpy
    import torch
    import torch_geometric
    out = {"python": platform.python_version(), "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
           "numpy": numpy.__version__, "platform": platform.platform()}
    try:
        import skimage
        out["scikit-image"] = skimage.__version__
    except ImportError:  # pragma: no cover
        pass
    from .. import __version__
    out["pyg_graphcls"] = __version__
    return out


def _data_fingerprint(ds) -> str:
    """SHA-1 over the stored graph tensors (or the canvas targets)."""
    h = hashlib.sha1()
    store = getattr(ds, "_data", None)
    if store is not None:
        for k in sorted(store.keys()):
            v = store[k]
            if hasattr(v, "numpy"):
                h.update(k.encode())
                h.update(v.contiguous().numpy().tobytes())
    elif hasattr(ds, "targets"):
        h.update(ds.targets.numpy().tobytes())
    elif hasattr(ds, "images") and hasattr(ds, "labels"):  # datasets.lazy: the images themselves
        import numpy as np
        for v in (ds.images, ds.labels):
            if not isinstance(v, list):
                h.update(np.ascontiguousarray(np.asarray(v)).tobytes())
    return h.hexdigest()


def canvas_splits(args):
    """Multi-label canvases composed from a single-label image set."""
    import numpy as np
    from ..datasets import load_images
    from ..datasets.canvas import MultiLabelCanvas
    spec = args.dataset
    src = spec.split(":", 1)[1] if ":" in spec else "sample"
    tri, trl, tei, tel, names, name = load_images(src, seed=args.seed, limit=args.limit)
    if not isinstance(tri, np.ndarray):
        raise GraphclsError("canvas needs an array data set (sample, fashion-mnist, idx:DIR) as its source")
    train = MultiLabelCanvas(tri, trl, args.canvas_train, seed=args.seed)
    test = MultiLabelCanvas(tei, tel, args.canvas_test, seed=args.seed + 1, num_classes=len(names))
    return train, test, names, f"canvas-{name}"


def _multilabel_model(args, train_targets, num_classes: int):
    from ..graphs.labels import cooccurrence_graph, label_mask
    from ..models import create_model
    name = HEADS[args.head]
    kw = model_kwargs_from_args(args)
    kw.setdefault("in_channels", 1)
    info: dict[str, Any] = {}
    if args.head in ("mlgcn", "label-attention", "grouped"):
        tau = args.label_threshold if args.label_threshold is not None else (0.4 if args.head == "mlgcn" else 0.1)
        graph = cooccurrence_graph(train_targets, threshold=tau)
        if args.head == "mlgcn":
            kw.setdefault("label_graph", graph.adj_norm.tolist())
        else:
            kw.setdefault("label_graph", label_mask(graph, threshold=tau).int().tolist())
        info = {"label_threshold": tau, "label_edges": int(graph.adj.sum())}
    return create_model(name, num_classes=num_classes, **kw), info


def run_training(args, dist_ctx, graph_kwargs: dict, strict: bool = True, progress: bool = False) -> int:
    """``graphcls train``: data, model, :class:`Trainer`, the run folder (run.json, history, checkpoints,
    metrics.json, plots). ``args`` are the parsed and validated command-line arguments."""
    import torch
    from ..io import write_json
    from ..models import create_model, model_arguments
    from .checkpoint import load_checkpoint
    from .config import key_values
    from .data import training_data, x_columns
    from .trainer import Trainer, split_dataset

    main_rank = dist_ctx is None or dist_ctx.rank == 0
    out = Path(args.out)
    torch.manual_seed(args.seed)
    extra_fails: list = []
    t_start = time.perf_counter()
    extra: dict[str, Any] = {"dataset": args.dataset, "task": args.task}
    if args.task == "multilabel":
        if not args.dataset.startswith("canvas"):
            raise GraphclsError("--task multilabel trains on --dataset canvas[:SRC] (SRC: sample, fashion-mnist, idx:DIR)")
        for opt in ("augment", "lazy", "image_size", "test_size"):
            if getattr(args, opt):
                raise GraphclsError(f"--{opt.replace('_', '-')} does not apply to --task multilabel")
        train_full, test, names, data_name = canvas_splits(args)
        num_classes = len(names)
        train, val = split_dataset(train_full, args.val_fraction,
                                   args.seed if args.split_seed is None else args.split_seed)
        # the label graph sees the training part only, never validation or test labels
        train_targets = train_full.targets[torch.as_tensor(train.indices)]
        model, head_info = _multilabel_model(args, train_targets, num_classes)
        extra.update({"class_names": names, "canvas": {"train": args.canvas_train, "test": args.canvas_test,
                                                        "seed": args.seed, "limit": args.limit}, **head_info})
        edge_w = args.edge_loss_weight if args.edge_loss_weight is not None else (1.0 if args.head == "sample-graph" else 0.0)
        t_data = 0.0
    else:
        if args.model.startswith("head-"):
            raise GraphclsError(f"{args.model} is a multi-label image head: use --task multilabel --head ...")
        gkw = dict(graph_kwargs)
        t0 = time.perf_counter()
        split_seed = args.seed if args.split_seed is None else args.split_seed

        def load():
            return training_data(args.dataset, args.graph, gkw, root=args.root, workers=args.workers,
                                 progress=progress and main_rank, strict=strict, seed=args.seed,
                                 train_size=args.limit, test_size=args.test_size, val_fraction=args.val_fraction,
                                 split_seed=split_seed, augment=key_values(args.augment, "--augment"),
                                 lazy=args.lazy, image_size=args.image_size)
        if dist_ctx is None:
            splits = load()
        else:  # rank 0 converts, then the others read its cache
            if main_rank:
                splits = load()
            dist_ctx.barrier()
            if not main_rank:
                splits = load()
        t_data = time.perf_counter() - t0
        fails = splits.info.get("train_failures", []) + splits.info.get("test_failures", [])
        if fails and main_rank:
            print(f"graphcls: skipped {len(fails)} image(s) that cannot be converted:", file=sys.stderr)
            print_failures(fails, file=sys.stderr)
        extra_fails = [[int(i), str(r)] for i, r in fails]
        if main_rank:
            print_warnings(splits.info)
        train_full, test, names, data_name = splits.full, splits.test, splits.class_names, splits.name
        fingerprint = _data_fingerprint(train_full)
        num_classes = splits.num_classes
        torch.manual_seed(args.seed)
        mkw = model_kwargs_from_args(args)
        if "columns" in model_arguments(args.model) and "columns" not in mkw:  # feature groups by name
            mkw["columns"] = x_columns(args.graph, gkw, splits.num_features, args.dataset)
        model = create_model(args.model, in_channels=splits.num_features, num_classes=num_classes, **mkw)
        extra.update({"graph": args.graph, "graph_kwargs": gkw, "class_names": names, "limit": args.limit,
                      "lazy": args.lazy, "image_size": args.image_size, "data_fingerprint": fingerprint,
                      "input": splits.info.get("input")})
        edge_w = args.edge_loss_weight or 0.0
        train, val = splits.train, splits.val
    device = str(dist_ctx.device) if dist_ctx is not None else args.device
    trainer = Trainer(model, task=args.task, device=device, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr if args.lr is not None else default_lr(args.task, args.model),
                      weight_decay=args.weight_decay, scheduler=args.scheduler, patience=args.patience,
                      edge_loss_weight=edge_w, out_dir=out, seed=args.seed, progress=not args.quiet,
                      eval_train_size=args.eval_train_size, checkpoint_extra=extra, distributed=dist_ctx,
                      amp={"auto": "auto", "on": True, "off": False}[getattr(args, "amp", "auto")])
    if len(train) == 0:
        raise GraphclsError(f"{data_name}: the training set is empty after the validation split "
                            f"(--val-fraction {args.val_fraction} of {len(train_full)} graphs)")
    if args.resume and (out / "last.pt").is_file():
        trainer.check_resume(out / "last.pt")  # refuses, before any file is written, when the run differs
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
        write_json({"command": "train", "args": vars(args), "versions": _versions(),
                    "world_size": dist_ctx.world_size if dist_ctx is not None else 1,
                    "data": {"name": data_name, "train": len(train), "val": len(val) if val is not None else 0,
                             "test": len(test),
                             "fingerprint": extra.get("data_fingerprint") or _data_fingerprint(train_full),
                             "skipped": extra_fails}}, out / "run.json")
    t0 = time.perf_counter()
    history = trainer.fit(train, val, resume=args.resume)
    t_train = time.perf_counter() - t0
    # evaluate the best checkpoint, not the last epoch
    best = out / "checkpoint.pt"
    if best.is_file():
        trainer.model.load_state_dict(load_checkpoint(best)["model_state"])
    t1 = time.perf_counter()
    test_metrics = trainer.evaluate(test)
    t_test = time.perf_counter() - t1
    n_params = sum(p.numel() for p in model.parameters())
    epochs_run = len(history)
    graphs_per_s = sum(len(train) for _ in history) / max(sum(h["seconds"] for h in history), 1e-9)
    metrics: dict[str, Any] = {
        "dataset": data_name, "task": args.task, "model": args.model if args.task == "single" else HEADS[args.head],
        "parameters": n_params, "epochs": epochs_run, "best_epoch": trainer.best_epoch,
        "seconds": round(time.perf_counter() - t_start, 2), "seconds_data": round(t_data, 2),
        "seconds_train": round(t_train, 2), "samples_per_second_epoch": round(graphs_per_s, 1),
        "seconds_per_epoch": sum(h["seconds"] for h in history) / max(epochs_run, 1), "seconds_test": round(t_test, 2),
        "train": len(train), "val": len(val) if val is not None else 0, "test": len(test),
        "device": str(trainer.device), "world_size": dist_ctx.world_size if dist_ctx is not None else 1,
    }
    if args.task == "single":
        metrics["test_accuracy"] = test_metrics["accuracy"]
        metrics["best_val_accuracy"] = trainer.best_metric if val is not None else None
        metrics["test_loss"] = test_metrics["loss"]
        metrics["confusion_matrix"] = test_metrics["confusion_matrix"]
        metrics["class_names"] = names
    else:
        metrics["test_map"] = test_metrics["map"]
        metrics["best_val_map"] = trainer.best_metric if val is not None else None
        metrics.update({f"test_{k}": v for k, v in test_metrics.items() if k not in ("map",)})
    if not main_rank:
        return 0
    write_json(metrics, out / "metrics.json")
    _plots(out, history, metrics, names)
    key = "test_accuracy" if args.task == "single" else "test_map"
    print(f"{metrics['model']} on {data_name}: {key} = {metrics[key]:.4f} "
          f"(best val {metrics['best_val_accuracy' if args.task == 'single' else 'best_val_map'] or float('nan'):.4f} "
          f"at epoch {trainer.best_epoch}, {epochs_run} epochs, {metrics['seconds']:.0f}s) -> {out}")
    return 0


def _plots(out: Path, history, metrics: dict, names) -> None:
    from ..viz import plot_confusion_matrix, plot_history
    plot_history(history, path=out / "curves.png")
    if "confusion_matrix" in metrics:
        plot_confusion_matrix(metrics["confusion_matrix"], class_names=names, path=out / "confusion.png")


