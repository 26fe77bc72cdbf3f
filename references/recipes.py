"""The recipes of the accuracy table: one ``graphcls train`` config file each, in ``configs/``.

A recipe is nothing but a stored set of ``graphcls train`` options
(``references/configs/NAME.toml``); :func:`run` trains one row for one seed and
training-set size through the same entry as the command line
(:func:`pyg_graphcls.cli.main`, in process) and returns the figures of the
table. :func:`recipe_args` gives the parsed options of a recipe, from which
:func:`graph_kwargs` and :func:`model_kwargs` read what the controls need.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

from pyg_graphcls.errors import GraphclsError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: old ``--overrides`` keys (the recipe dicts of before) → config keys
_OLD_KEYS = {"model_kwargs": "model_arg"}


def names() -> list[str]:
    """The recipes, i.e. the config files in ``configs/``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def config_path(name: str) -> Path:
    path = CONFIG_DIR / f"{name}.toml"
    if not path.is_file():
        raise GraphclsError(f"unknown recipe {name!r}; choose one of: {', '.join(names())}")
    return path


def _train_parser() -> argparse.ArgumentParser:
    from pyg_graphcls.cli import build_parser
    from pyg_graphcls.train.config import subparser
    return subparser(build_parser(), "train")


def override_argv(overrides: Optional[dict]) -> list[str]:
    """Command-line tokens of an ablation: a dict of config keys (``{"model_arg": {"hidden": 40}}``,
    ``{"lr": 0.01}``); the keys of the recipe dicts of before (``model_kwargs``, ``graph_kwargs``)
    are read too. Tables are merged into the recipe's key by key; unknown keys are an error."""
    from pyg_graphcls.train.config import config_argv
    flat: dict[str, Any] = {}
    for k, v in (overrides or {}).items():
        if k == "graph_kwargs":
            flat.update({("ward_merge" if gk == "merge" else gk): (gv == "ward" if gk == "merge" else gv)
                         for gk, gv in v.items()})
        elif k == "note":
            continue
        else:
            flat[_OLD_KEYS.get(k, k)] = v
    return config_argv(flat, _train_parser(), "overrides")


def recipe_args(name: str, argv: Sequence[str] = ()) -> argparse.Namespace:
    """The options of ``graphcls train --config configs/NAME.toml ARGV``, parsed."""
    from pyg_graphcls.cli import build_parser
    from pyg_graphcls.train.config import config_argv, load_config
    path = config_path(name)
    file_argv = config_argv(load_config(path), _train_parser(), str(path))
    return build_parser().parse_args(["train", *file_argv, "--config", str(path), *argv])


def graph_kwargs(args: argparse.Namespace) -> dict:
    """The graph builder's arguments of parsed options (see :func:`recipe_args`)."""
    from pyg_graphcls.cli import graph_kwargs_from_args
    return graph_kwargs_from_args(args)


def model_kwargs(args: argparse.Namespace) -> dict:
    """The model's arguments of parsed options (``--hidden`` ..., ``--model-arg``)."""
    from pyg_graphcls.validate import model_kwargs_from_args
    return model_kwargs_from_args(args)


def augment_kwargs(args: argparse.Namespace) -> dict:
    from pyg_graphcls.train.config import key_values
    return key_values(args.augment, "--augment")


def recipe_data(args: argparse.Namespace, **kw):
    """:func:`pyg_graphcls.train.data.training_data` of parsed options (``kw`` replaces any of its arguments)."""
    from pyg_graphcls.train.data import training_data
    base = dict(root=args.root, workers=args.workers, train_size=args.limit, test_size=args.test_size,
                val_fraction=args.val_fraction, split_seed=args.seed if args.split_seed is None else args.split_seed,
                augment=augment_kwargs(args), lazy=args.lazy, image_size=args.image_size)
    base.update(kw)
    return training_data(args.dataset, args.graph, graph_kwargs(args), **base)


def run(name: str, train_size: Optional[int] = None, seed: int = 0, epochs: Optional[int] = None,
        test_size: Optional[int] = None, root: Optional[str | os.PathLike] = None,
        out_dir: Optional[str | os.PathLike] = None, device: str = "auto", workers: Optional[int] = None,
        dataset: Optional[str] = None, overrides: Optional[dict] = None) -> dict:
    """Train recipe ``name`` once with ``graphcls train --config``; return the figures of a table row.

    ``dataset``, ``epochs``, ``train_size``, ``test_size`` replace the recipe's;
    ``overrides`` (see :func:`override_argv`) changes it for an ablation and is
    recorded in the result."""
    from pyg_graphcls.cli import main
    argv = ["train", "--config", str(config_path(name)), "--seed", str(seed), "--device", device, "--quiet"]
    for opt, v in (("--train-size", train_size), ("--epochs", epochs), ("--test-size", test_size),
                   ("--root", root), ("--workers", workers), ("--dataset", dataset)):
        if v is not None:
            argv += [opt, str(v)]
    argv += override_argv(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir is not None else Path(tmp)
        if main(argv + ["--out", str(out)]) != 0:
            raise GraphclsError(f"recipe {name}: graphcls train failed (its error is printed above)")
        m = json.loads((out / "metrics.json").read_text())
        run_args = json.loads((out / "run.json").read_text())["args"]
    return {"recipe": name, "model": m["model"], "data": run_args["dataset"], "graph": run_args["graph"],
            "seed": seed, "train": m["train"], "val": m["val"], "test": m["test"],
            "test_accuracy": m["test_accuracy"], "best_val_accuracy": m["best_val_accuracy"],
            "best_epoch": m["best_epoch"], "epochs": m["epochs"], "parameters": m["parameters"],
            "seconds_per_epoch": m["seconds_per_epoch"], "seconds_data": m["seconds_data"],
            "seconds_test": m["seconds_test"], "device": m["device"], **({"overrides": overrides} if overrides else {})}
