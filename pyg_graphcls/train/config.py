r"""Stored sets of ``graphcls train`` options: ``graphcls train --config FILE``.

A config file holds the same arguments the command line takes, keyed by their
long option names (``n_segments`` or ``n-segments`` for ``--n-segments``)::

    dataset = "fashion-mnist"
    graph = "superpixels"
    n_segments = 75
    features = ["mean", "std", "centroid", "area", "bbox"]
    model = "dirconv"
    lr = 0.002
    model_arg = { dropout = 0.1 }       # repeated KEY=VALUE options take a table
    augment = { flip = 0.5 }

:func:`config_argv` turns it into command-line tokens, which go *before* the
user's own options, so that every option given on the command line overrides
the file (for ``KEY=VALUE`` options: key by key). A key that is not an option
of the command is an error naming it: nothing in a file is silently ignored.
TOML needs Python 3.11 (``tomllib``) or the ``tomli`` package; ``.json``
files work everywhere.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import GraphclsError

__all__ = ["load_config", "config_argv", "argv_with_config", "subparser", "key_values"]

_NOT_IN_FILES = {"--config", "--help"}


def _toml_loads(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as e:
            raise GraphclsError("TOML config files need Python >= 3.11 or the tomli package "
                                "(pip install tomli); or write the config as .json") from e
    return tomllib.loads(text)


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The options stored in a ``.toml`` (or ``.json``) config file, as a dict.

    Args:
        path (path): the file.
    """
    path = Path(path)
    if not path.is_file():
        raise GraphclsError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            cfg = json.loads(text)
        else:
            cfg = _toml_loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError and json.JSONDecodeError are ValueErrors
        raise GraphclsError(f"config file {str(path)!r} cannot be read: {e}") from e
    if not isinstance(cfg, dict):
        raise GraphclsError(f"config file {str(path)!r} must hold a table of options, got {type(cfg).__name__}")
    return cfg


def _scalar(key: str, value: Any, source: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise GraphclsError(f"{source}: {key} must be a number or a string, got {value!r}")
    return str(value)


def config_argv(config: dict[str, Any], parser: argparse.ArgumentParser, source: str = "config") -> list[str]:
    """Command-line tokens of ``parser`` that say what ``config`` says.

    Args:
        config (dict): option name (long form, ``_`` or ``-``) → value. Values:
            numbers and strings for plain options, lists for comma-list options,
            ``true``/``false`` for flags, a table (or a list of ``KEY=VALUE``
            strings) for repeated ``KEY=VALUE`` options.
        parser (argparse.ArgumentParser): the command whose options the keys name.
        source (str): the file's name, for error messages.
    """
    actions = {opt: a for a in parser._actions for opt in a.option_strings if opt.startswith("--")}
    known = sorted(o[2:].replace("-", "_") for o in actions if o not in _NOT_IN_FILES)
    out: list[str] = []
    for key, value in config.items():
        opt = "--" + str(key).replace("_", "-")
        action = actions.get(opt)
        if action is None or opt in _NOT_IN_FILES:
            near = difflib.get_close_matches(str(key).replace("-", "_"), known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise GraphclsError(f"{source}: unknown key {key!r}: not an option of this command{hint}")
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise GraphclsError(f"{source}: {key} is a flag: true or false, got {value!r}")
            if value:
                out.append(opt)
            else:  # false: the opposite flag of the same destination, if the command has one
                other = next((o for o, a in actions.items() if a.dest == action.dest and a is not action
                              and type(a) is not type(action)), None)
                if other is not None:
                    out.append(other)
        elif isinstance(action, argparse._AppendAction):
            if isinstance(value, dict):
                items = [f"{k}={json.dumps(v)}" for k, v in value.items()]
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                items = value
            else:
                raise GraphclsError(f"{source}: {key} takes a table of KEY = VALUE, got {value!r}")
            for item in items:
                out += [opt, item]
        elif isinstance(value, list):
            if action.type in (None, int, float, str):
                raise GraphclsError(f"{source}: {key} takes one value, got the list {value!r}")
            if not all(isinstance(v, str) for v in value):
                raise GraphclsError(f"{source}: {key} takes a list of names, got {value!r}")
            out += [opt, ",".join(value) if value else "none"]
        else:
            out += [opt, _scalar(str(key), value, source)]
    return out


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of sub-command ``command`` of ``parser``."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def argv_with_config(parser: argparse.ArgumentParser, argv: Sequence[str], path: str | os.PathLike,
                     command: str = "train") -> list[str]:
    """``argv`` with the options of config file ``path`` inserted right after ``command``, so that
    the options on the command line, which come after them, override the file's."""
    argv = list(argv)
    at = argv.index(command) + 1
    return argv[:at] + config_argv(load_config(path), subparser(parser, command), str(path)) + argv[at:]


def key_values(items: Sequence[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings (of a repeated option such as ``--model-arg``) → a dict; values are
    parsed as JSON when they can be, and a later key wins."""
    kw: dict[str, Any] = {}
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise GraphclsError(f"{option} needs KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            kw[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            kw[k.strip()] = v
    return kw
