"""One registry for every model: ``create_model(name, **kwargs)``.

Register a builder with ``@register_model("name")``; the builder is any callable
(usually the model class) whose keyword arguments all have defaults that work on
the bundled sample, except the data-dependent ones (``in_channels``,
``num_classes``) which the caller passes.

Arguments are checked against the builder's signature before it runs
(:func:`check_model_kwargs`): unknown names, values of the wrong type (by the
annotation, else by the type of the default), non-finite floats, and the
usual domains (``hidden``/``heads`` >= 1, ``num_layers`` >= 0, ``dropout`` in
[0, 1)) raise :class:`GraphclsError` naming the argument.
"""
from __future__ import annotations

import collections.abc
import inspect
import math
import numbers
import types
import typing
from typing import Any, Callable, Dict

import torch

from ..errors import GraphclsError

__all__ = ["register_model", "create_model", "list_models", "model_arguments", "model_config", "model_from_config",
           "check_model_kwargs"]

_REGISTRY: Dict[str, Callable[..., torch.nn.Module]] = {}


def register_model(name: str) -> Callable:
    def deco(fn: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise GraphclsError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn
    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_arguments(name: str) -> list[str]:
    """The keyword arguments the builder registered as ``name`` takes (e.g. whether it reads ``columns``)."""
    return [p for p in inspect.signature(_builder(name)).parameters if p != "self"]


def _builder(name: str) -> Callable[..., torch.nn.Module]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphclsError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}") from None


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _conforms(value: Any, tp: Any) -> bool:
    """Whether ``value`` fits the annotation ``tp`` (lenient where the annotation is exotic)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(_conforms(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is type(None) or tp is None:
        return value is None
    if tp is bool:
        return isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1))
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        if isinstance(value, str):
            return bool(args) and args[0] is str
        if not isinstance(value, (list, tuple)):
            return hasattr(value, "__len__") and hasattr(value, "__getitem__")  # arrays, tensors
        item = args[0] if args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)) else None
        return item is None or all(_conforms(v, item) for v in value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    if isinstance(tp, type):
        try:
            return isinstance(value, tp)
        except TypeError:
            return True
    return True


def _hints(builder: Callable) -> dict:
    target = builder.__init__ if isinstance(builder, type) else builder
    try:
        return typing.get_type_hints(target)
    except Exception:  # annotations that do not resolve: fall back to the defaults' types
        return {}


_AT_LEAST_ONE = ("hidden", "heads")


def check_model_kwargs(name: str, kwargs: dict, *, prefix: str = "") -> None:
    """Check ``kwargs`` against the signature of the builder registered as ``name``.

    Raises :class:`GraphclsError` for an unknown model or argument, a value of
    the wrong type, a non-finite float, or a value outside the usual domain.
    ``prefix`` starts each message (the CLI passes the option it came from).
    """
    builder = _builder(name)
    params = inspect.signature(builder).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise GraphclsError(
                f"{prefix}model {name!r} does not take {', '.join(unknown)}; it takes: "
                f"{', '.join(p for p in params if p != 'self')}")
    hints = _hints(builder)
    for key, value in kwargs.items():
        p = params.get(key)
        if p is None:
            continue
        tp = hints.get(key, inspect.Parameter.empty)
        if tp is inspect.Parameter.empty and p.default is not inspect.Parameter.empty and p.default is not None:
            tp = float if isinstance(p.default, float) else type(p.default)
            if tp in (list, tuple):
                tp = typing.Sequence
        if not _conforms(value, tp):
            raise GraphclsError(f"{prefix}model {name!r}: {key} must be {_type_name(tp)}, "
                                f"got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise GraphclsError(f"{prefix}model {name!r}: {key} must be finite, got {value}")
        bad = None
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if key in _AT_LEAST_ONE and value < 1:
                bad = ">= 1"
            elif key == "num_layers" and value < 0:
                bad = ">= 0"
            elif key == "dropout" and not 0 <= value < 1:
                bad = "in [0, 1)"
        if bad:
            raise GraphclsError(f"{prefix}model {name!r}: {key} must be {bad}, got {value}")


def create_model(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build the model registered as ``name``; unknown names or arguments, or arguments of
    the wrong type, raise :class:`GraphclsError` listing what is accepted."""
    builder = _builder(name)
    check_model_kwargs(name, kwargs)
    try:
        model = builder(**kwargs)
    except (TypeError, ValueError, RuntimeError) as e:
        if isinstance(e, GraphclsError):
            raise
        raise GraphclsError(f"model {name!r} cannot be built with these arguments: "
                            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    # remembered so that a checkpoint can rebuild the same model
    model._graphcls_config = {"name": name, "kwargs": dict(kwargs)}
    return model


def model_config(model: torch.nn.Module) -> dict:
    cfg = getattr(model, "_graphcls_config", None)
    if cfg is None:
        raise GraphclsError("model was not built with create_model(); its config is unknown")
    return cfg


def model_from_config(config: dict) -> torch.nn.Module:
    return create_model(config["name"], **config.get("kwargs", {}))
