"""Argument domains of the ``graphcls`` command, checked before any work.

:func:`validate_args` is called at the entry of every sub-command: each
argument's domain (positive counts, finite rates, probabilities in [0, 1],
writable paths, model arguments of the right types) is checked before a data
set is read, a cache converted or a run folder touched, so a command that
fails on its arguments changes no file. Every failure is a
:class:`~pyg_graphcls.errors.GraphclsError` naming the option and the cause.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import GraphclsError

#: ``graphcls train --head`` names -> registered multi-label heads (here, not in ``train.run``, so that
#: the command line parses without importing the models)
HEADS = {"none": "head-linear", "mlgcn": "head-mlgcn", "label-attention": "head-label-attention",
         "grouped": "head-grouped", "sample-graph": "head-sample-graph"}

__all__ = ["HEADS", "validate_args", "parse_model_args", "model_kwargs_from_args", "check_writable_dir", "check_writable_file",
           "DATASET_KINDS"]

DATASET_KINDS = ("sample", "fashion-mnist", "mnist-superpixels", "gnn-benchmark", "idx", "folder", "canvas")
_SUPERPIXEL_EDGES = ("knn", "rag", "none")
_PATCH_EDGES = ("grid", "knn", "none")
_SEED_MAX = 2 ** 32


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def _int_at_least(args: Any, name: str, low: int, why: str = "") -> None:
    v = getattr(args, name, None)
    if v is not None and v < low:
        raise GraphclsError(f"{_opt(name)} must be >= {low}{why}, got {v}")


def _finite(args: Any, name: str, low: Optional[float] = None, *, strict_low: bool = False,
            high: Optional[float] = None, strict_high: bool = False) -> None:
    v = getattr(args, name, None)
    if v is None:
        return
    if not math.isfinite(v):
        raise GraphclsError(f"{_opt(name)} must be a finite number, got {v}")
    lo_bad = low is not None and (v <= low if strict_low else v < low)
    hi_bad = high is not None and (v >= high if strict_high else v > high)
    if lo_bad or hi_bad:
        if low is not None and high is not None:
            rng = f"in {'(' if strict_low else '['}{low:g}, {high:g}{')' if strict_high else ']'}"
        else:
            rng = f"{'>' if strict_low else '>='} {low:g}"
        raise GraphclsError(f"{_opt(name)} must be {rng}, got {v:g}")


def _names_in(values: Optional[Iterable[str]], allowed: Iterable[str], option: str) -> None:
    allowed = tuple(allowed)
    for v in values or ():
        if v not in allowed:
            raise GraphclsError(f"{option}: unknown name {v!r}; choose from {', '.join(allowed)}")


def check_writable_dir(path: str | os.PathLike, option: str) -> Path:
    """``path`` is a folder we can create or write into (checked without creating anything)."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise GraphclsError(f"{option} {p} is an existing file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise GraphclsError(f"{option} {p}: the folder is not writable")
        return p
    _check_creatable(p, option)
    return p


def check_writable_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` is a file we can (over)write: not a folder, its folder creatable or writable."""
    p = Path(path)
    if p.is_dir():
        raise GraphclsError(f"{option} {p} is a folder; expected a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise GraphclsError(f"{option} {p}: the file is not writable")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists():
        if not parent.is_dir():
            raise GraphclsError(f"{option} {p}: {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise GraphclsError(f"{option} {p}: the folder {parent} is not writable")
    else:
        _check_creatable(parent, option)
    return p


def _check_creatable(p: Path, option: str) -> None:
    """The nearest existing ancestor of ``p`` is a writable folder."""
    anc = p.absolute()
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise GraphclsError(f"{option} {p} cannot be created: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise GraphclsError(f"{option} {p} cannot be created: {anc} is not writable")


def parse_model_args(items: Iterable[str]) -> dict:
    """``--model-arg KEY=VALUE`` strings to a dict; values are parsed as JSON when they can be."""
    from .train.config import key_values
    return key_values(list(items), "--model-arg")


def _validate_dataset_spec(spec: Optional[str], option: str = "--dataset") -> None:
    if spec is None:
        return
    kind, _, arg = spec.partition(":")
    if kind not in DATASET_KINDS:
        raise GraphclsError(f"unknown dataset {spec!r}; use one of sample, fashion-mnist, mnist-superpixels, "
                            f"gnn-benchmark:MNIST|CIFAR10, idx:DIR, folder:DIR, canvas[:SRC]")
    if kind in ("idx", "folder") and not arg:
        raise GraphclsError(f"{option} {kind}: needs a folder, e.g. {kind}:/data/images")
    if kind == "gnn-benchmark" and arg not in ("MNIST", "CIFAR10"):
        raise GraphclsError(f"{option} {spec}: the superpixel sets are gnn-benchmark:MNIST and gnn-benchmark:CIFAR10")


def _validate_root(args: Any) -> None:
    """The cache folder: ``--root`` (or ``convert --out``), else ``$PYG_GRAPHCLS_HOME`` / the default."""
    root = getattr(args, "root", None)
    if root is not None:
        check_writable_dir(root, "--root")
    elif getattr(args, "command", None) != "convert" or getattr(args, "out", None) is None:
        home = os.environ.get("PYG_GRAPHCLS_HOME")
        check_writable_dir(home if home is not None else Path.home() / ".cache" / "pyg_graphcls",
                           "$PYG_GRAPHCLS_HOME" if home is not None else "the cache folder")


def _validate_data_args(args: Any) -> None:
    _validate_dataset_spec(getattr(args, "dataset", None))
    _int_at_least(args, "n_segments", 2, " (one region is not a graph)")
    _finite(args, "compactness", 0.0, strict_low=True)
    _int_at_least(args, "k", 1)
    _int_at_least(args, "patch_size", 1)
    _int_at_least(args, "workers", 1)
    _int_at_least(args, "limit", 1)
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < _SEED_MAX:
        raise GraphclsError(f"--seed must be in [0, 2**32), got {seed}")
    graph = getattr(args, "graph", None)
    if getattr(args, "features", None) is not None:
        from .graphs.features import NODE_FEATURES
        _names_in(args.features, NODE_FEATURES, "--features")
        if not args.features:
            raise GraphclsError(f"--features needs at least one of {', '.join(NODE_FEATURES)}")
    if getattr(args, "edge_attr", None) is not None:
        from .graphs.edges import EDGE_FEATURES
        _names_in(args.edge_attr, EDGE_FEATURES, "--edge-attr")
    edges = getattr(args, "edges", None)
    if edges is not None:
        allowed = _PATCH_EDGES if graph == "patches" else _SUPERPIXEL_EDGES
        if graph in ("superpixels", "patches") and edges not in allowed:
            raise GraphclsError(f"--edges {edges!r} is not one of {', '.join(allowed)} for --graph {graph}")
    _validate_root(args)


def _validate_device(args: Any) -> None:
    device = getattr(args, "device", None)
    if device is not None:
        from .train.trainer import resolve_device
        resolve_device(device)  # unknown names, CUDA asked for where there is none


def _validate_train(args: Any) -> None:
    _validate_data_args(args)
    _validate_device(args)
    for name in ("epochs", "batch_size", "patience", "hidden", "canvas_train", "canvas_test",
                 "train_size", "test_size"):
        _int_at_least(args, name, 1)
    _int_at_least(args, "layers", 0)
    _finite(args, "lr", 0.0, strict_low=True)
    _finite(args, "weight_decay", 0.0)
    _finite(args, "val_fraction", 0.0, high=1.0, strict_high=True)
    _finite(args, "dropout", 0.0, high=1.0, strict_high=True)
    _finite(args, "edge_loss_weight", 0.0)
    _finite(args, "label_threshold", 0.0, high=1.0)
    out = getattr(args, "out", None)
    if out is not None:
        check_writable_dir(out, "--out")
    task = getattr(args, "task", "single")
    if task == "multilabel":
        if not str(args.dataset).startswith("canvas"):
            raise GraphclsError("--task multilabel trains on --dataset canvas[:SRC] "
                                "(SRC: sample, fashion-mnist, idx:DIR)")
        src = args.dataset.split(":", 1)[1] if ":" in args.dataset else None
        if src is not None:
            _validate_dataset_spec(src, "--dataset canvas:")
        return
    if str(getattr(args, "dataset", "")).startswith("canvas"):
        raise GraphclsError("--dataset canvas[:SRC] is multi-label: add --task multilabel")
    model = getattr(args, "model", None)
    if model is None or getattr(args, "recipe", None):
        return
    if model.startswith("head-"):
        raise GraphclsError(f"{model} is a multi-label image head: use --task multilabel --head ...")
    from .models import registry
    given = parse_model_args(getattr(args, "model_arg", None) or [])
    for key in ("in_channels", "num_classes"):
        if key in given:
            raise GraphclsError(f"--model-arg {key}=...: {key} is set from the data, not by hand")
    options = {k: v for k, v in model_kwargs_from_args(args).items() if k not in given}
    registry.check_model_kwargs(model, options)
    registry.check_model_kwargs(model, given, prefix="--model-arg: ")


def model_kwargs_from_args(args: Any) -> dict:
    """The model arguments of ``train``: ``--hidden``, ``--layers``, ``--readout``, ``--dropout`` and
    every ``--model-arg KEY=VALUE``."""
    kw: dict[str, Any] = {}
    for name, key in (("hidden", "hidden"), ("layers", "num_layers"), ("readout", "readout"), ("dropout", "dropout")):
        v = getattr(args, name, None)
        if v is not None:
            kw[key] = v
    kw.update(parse_model_args(getattr(args, "model_arg", None) or []))
    return kw


def _validate_evaluate(args: Any) -> None:
    if (args.checkpoint is None) == (getattr(args, "pretrained", None) is None):
        raise GraphclsError("evaluate takes a CHECKPOINT file or --pretrained NAME (one of them)")
    if args.checkpoint is None:
        from .predict import pretrained_path
        pretrained_path(args.pretrained)  # an unknown name: one line listing the known ones
    else:
        p = Path(args.checkpoint)
        if not p.exists():
            raise GraphclsError(f"checkpoint not found: {p}")
        if not p.is_file():
            raise GraphclsError(f"checkpoint {p} is not a file")
    _validate_dataset_spec(getattr(args, "dataset", None))
    _int_at_least(args, "workers", 1)
    _validate_device(args)
    _validate_root(args)
    if getattr(args, "out", None) is not None:
        check_writable_file(args.out, "--out")


def _validate_convert(args: Any) -> None:
    _validate_data_args(args)
    if getattr(args, "out", None) is not None:
        check_writable_dir(args.out, "--out")


def _validate_show(args: Any) -> None:
    _validate_data_args(args)
    _int_at_least(args, "index", 0)
    if getattr(args, "image", None) is not None and not Path(args.image).is_file():
        raise GraphclsError(f"--image {args.image}: file not found")
    check_writable_file(args.output, "--output")


def _validate_bench(args: Any) -> None:
    _int_at_least(args, "images", 1)
    _int_at_least(args, "epochs", 1)


def _validate_use(args: Any) -> None:
    """``predict`` / ``explain``: a checkpoint (or ``--pretrained``) and images."""
    _validate_device(args)
    if getattr(args, "command", None) == "predict":
        _int_at_least(args, "top_k", 1)
        if args.out is not None:
            if Path(args.out).suffix.lower() not in (".json", ".csv"):
                raise GraphclsError(f"--out must end in .json or .csv, got {args.out}")
            check_writable_file(args.out, "--out")
        if args.show is not None:
            check_writable_dir(args.show, "--show")
    else:
        _int_at_least(args, "epochs", 1)
        if args.target is not None and args.target < 0:
            raise GraphclsError(f"--target must be a class index >= 0, got {args.target}")
        check_writable_file(args.output, "-o/--output")


def validate_args(args: Any) -> None:
    """Check every argument of the parsed ``graphcls`` command line; raise :class:`GraphclsError`."""
    check = {"convert": _validate_convert, "train": _validate_train, "evaluate": _validate_evaluate,
             "show": _validate_show, "bench": _validate_bench, "predict": _validate_use,
             "explain": _validate_use}.get(getattr(args, "command", None))
    if check is not None:
        check(args)
