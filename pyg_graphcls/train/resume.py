"""What must match between a ``last.pt`` and the run that wants to resume from it.

:func:`resume_differences` compares the stored schedule, model config and the
data recorded with the state (fingerprint of the converted graphs, data set,
``limit``, graph kind and settings, task, multi-label canvas settings) with the current ones and returns one
short phrase per difference. Keys missing on either side (states written by
older versions) are not compared.
"""
from __future__ import annotations

import json
from typing import Any, Optional

__all__ = ["resume_differences", "DATA_KEYS"]

DATA_KEYS = (("data_fingerprint", "data fingerprint"), ("dataset", "data set"), ("limit", "--limit"),
             ("graph", "graph kind"), ("graph_kwargs", "graph settings"), ("task", "task"),
             ("canvas", "canvas settings"))


def _norm(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any, n: int = 60) -> str:
    text = _norm(v)
    if isinstance(v, str) and len(v) == 40 and all(c in "0123456789abcdef" for c in v):
        return v[:12]
    return text if len(text) <= n else text[:n - 3] + "..."


def resume_differences(state: dict, *, schedule: dict, extra: dict,
                       model_config: Optional[dict] = None) -> list[str]:
    """Phrases ``"<what> <stored> -> <now>"`` for everything that differs (empty: may resume)."""
    diffs: list[str] = []
    for key, what in DATA_KEYS:
        if key in state and key in extra and _norm(state[key]) != _norm(extra[key]):
            diffs.append(f"{what} {_short(state[key])} -> {_short(extra[key])}")
    stored_cfg = state.get("model_config")
    if model_config is not None and isinstance(stored_cfg, dict):
        if stored_cfg.get("name") != model_config.get("name"):
            diffs.append(f"model {stored_cfg.get('name')!r} -> {model_config.get('name')!r}")
        else:
            old, new = stored_cfg.get("kwargs", {}), model_config.get("kwargs", {})
            for k in sorted(set(old) | set(new)):
                if _norm(old.get(k)) != _norm(new.get(k)):
                    diffs.append(f"model argument {k} {_short(old.get(k))} -> {_short(new.get(k))}")
    stored = state.get("schedule")
    if isinstance(stored, dict):
        for k, v in stored.items():
            if k in schedule and _norm(v) != _norm(schedule[k]):
                what = "epochs (the schedule's length)" if k == "epochs" else k
                diffs.append(f"{what} {_short(v)} -> {_short(schedule[k])}")
    return diffs
