"""Names of a package imported from their module on first use (module ``__getattr__``, PEP 562).

The graph builders and the conversion do not need PyG; the names that import it (the transforms,
the PyG data sets) are resolved only when asked for, so ``graphcls convert`` never loads PyG."""
from __future__ import annotations

from importlib import import_module
from typing import Callable


def lazy_names(package: str, namespace: dict, on_use: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: a name of ``on_use`` (name -> relative module) is
    imported from its module on first use and kept in ``namespace`` (the package's globals)."""

    def __getattr__(name: str):
        if name not in on_use:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(on_use[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(on_use))

    return __getattr__, __dir__
