"""Training curves and the figure helpers shared by the drawing module.

Figures are built with :class:`matplotlib.figure.Figure` and an Agg canvas, so
importing or calling this module never switches the pyplot backend (notebooks
with an inline backend keep working, and a returned figure still displays
there).
"""
from __future__ import annotations

import csv
import io as _io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..errors import GraphclsError

__all__ = ["plot_history", "load_history", "plot_confusion_matrix", "save_figure", "new_figure"]

# Keys of a history row that are bookkeeping, not metrics.
_NON_METRIC_KEYS = {"epoch", "step", "lr", "learning_rate", "seconds", "time", "elapsed", "wall_s"}
_SPLIT_STYLES = {"train": "-", "val": "--", "valid": "--", "test": ":"}


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None,
               dpi: float = 100, squeeze: bool = True, **subplot_kw: Any):
    """A fresh figure with an Agg canvas and its axes (no pyplot state touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if figsize is None:
        figsize = (4.0 * ncols, 4.0 * nrows)
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, subplot_kw=subplot_kw or None)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, dpi: float | None = None, close: bool = True,
                **savefig_kw: Any) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (temp file + rename).

    With ``dpi=None`` the figure's own dpi is used, so the PNG is
    ``figsize * dpi`` pixels. When the figure came from pyplot and ``close`` is
    true it is closed afterwards so pyplot does not keep it alive.
    """
    from ..io import atomic_write

    if fig is None or not hasattr(fig, "savefig"):
        raise GraphclsError(f"save_figure: expected a matplotlib Figure, got {type(fig).__name__}")
    path = Path(path)
    fmt = savefig_kw.pop("format", None) or (path.suffix[1:].lower() if path.suffix else "png")
    buf = _io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi if dpi is not None else fig.dpi, **savefig_kw)
    data = buf.getvalue()
    out = atomic_write(path, lambda f: f.write(data))
    if close:
        _close_if_pyplot(fig)
    return out


def _close_if_pyplot(fig) -> None:
    """Close ``fig`` in pyplot if pyplot manages it (no-op otherwise)."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None and getattr(fig, "number", None) is not None:
        try:
            if plt.fignum_exists(fig.number):
                plt.close(fig)
        except Exception:  # pragma: no cover - defensive
            pass


# ---------------------------------------------------------------------------
# History loading
# ---------------------------------------------------------------------------

def _to_float(v: Any) -> float:
    """A finite-or-NaN float for a history value (None, '', strings, tensors)."""
    if v is None:
        return math.nan
    if hasattr(v, "item") and callable(v.item):
        try:
            v = v.item()
        except Exception:
            return math.nan
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "" or s.lower() in {"none", "null", "nan"}:
            return math.nan
        try:
            return float(s)
        except ValueError:
            return math.nan
    return math.nan


def load_history(history: Any) -> list[dict[str, Any]]:
    """Normalise ``history`` to a list of dicts.

    Accepts a list of dicts, a dict of lists (column form), a dict holding a
    ``"history"`` list, or a path to a ``history.csv`` / ``history.json`` file.
    """
    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        if path.is_dir():
            for name in ("history.json", "history.csv"):
                if (path / name).is_file():
                    path = path / name
                    break
        if not path.is_file():
            raise GraphclsError(f"history file not found: {path}")
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                with open(path, "r", encoding="utf-8") as f:
                    history = json.load(f)
            elif suffix == ".csv":
                with open(path, "r", encoding="utf-8", newline="") as f:
                    history = list(csv.DictReader(f))
            else:
                raise GraphclsError(f"history file {path}: expected a .csv or .json file")
        except (OSError, json.JSONDecodeError, csv.Error, UnicodeDecodeError) as e:
            raise GraphclsError(f"history file {path} could not be read: {e}") from e

    if isinstance(history, Mapping):
        if "history" in history and isinstance(history["history"], (list, tuple)):
            history = history["history"]
        else:
            cols = {k: list(v) for k, v in history.items() if isinstance(v, (list, tuple))}
            if not cols:
                raise GraphclsError("history: expected a list of per-epoch dicts or a dict of lists")
            n = max(len(v) for v in cols.values())
            history = [{k: (v[i] if i < len(v) else None) for k, v in cols.items()} for i in range(n)]

    if not isinstance(history, (list, tuple)):
        raise GraphclsError(f"history: expected a list of per-epoch dicts, got {type(history).__name__}")
    rows = []
    for i, row in enumerate(history):
        if not isinstance(row, Mapping):
            raise GraphclsError(f"history[{i}]: expected a dict, got {type(row).__name__}")
        rows.append(dict(row))
    return rows


def _split_key(key: str) -> tuple[str, str]:
    """``'val_accuracy' -> ('val', 'accuracy')``; keys without a split -> ('', key)."""
    for split in ("train", "val", "valid", "test"):
        if key.startswith(split + "_"):
            return split, key[len(split) + 1:]
    return "", key


def _metric_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys (first-seen order) that hold at least one finite number."""
    keys: list[str] = []
    for row in rows:
        for k in row:
            if k not in keys and str(k).lower() not in _NON_METRIC_KEYS:
                keys.append(k)
    out = []
    for k in keys:
        if any(math.isfinite(_to_float(r.get(k))) for r in rows):
            out.append(k)
    return out


def _plot_keys(ax, x: list[float], rows: Sequence[Mapping[str, Any]], keys: Iterable[str],
               colours: dict[str, Any]) -> int:
    n = 0
    for key in keys:
        split, base = _split_key(key)
        pts = [(xi, _to_float(r.get(key))) for xi, r in zip(x, rows)]
        pts = [(a, b) for a, b in pts if math.isfinite(a) and math.isfinite(b)]
        if not pts:
            continue
        if base not in colours:
            colours[base] = f"C{len(colours) % 10}"
        xs, ys = zip(*pts)
        ax.plot(xs, ys, linestyle=_SPLIT_STYLES.get(split, "-."), color=colours[base],
                marker="o" if len(pts) <= 30 else None, markersize=3, label=key)
        n += 1
    return n


def plot_history(history: Any, path: str | os.PathLike | None = None, ax=None):
    """Plot per-epoch losses (left panel) and other metrics (right panel).

    ``history`` is a list of per-epoch dicts (or a path to ``history.csv`` /
    ``history.json``). Every key containing ``"loss"`` goes on the loss panel,
    every other numeric key except bookkeeping (``epoch``, ``lr``,
    ``seconds``...) on the metric panel. Train/val/test share a colour per
    metric and differ in line style (solid/dashed/dotted). None/NaN values are
    skipped. ``ax`` may be one axes (everything drawn there) or a pair of axes.
    When ``path`` is given the PNG is written atomically and the figure closed.
    Returns the figure.
    """
    rows = load_history(history)
    if not rows:
        raise GraphclsError("history is empty: no epochs to plot")
    x = []
    for i, r in enumerate(rows):
        e = _to_float(r.get("epoch")) if "epoch" in r else math.nan
        x.append(e if math.isfinite(e) else float(i + 1))
    keys = _metric_keys(rows)
    loss_keys = [k for k in keys if "loss" in str(k).lower()]
    other_keys = [k for k in keys if k not in loss_keys]

    if ax is None:
        ncols = 2 if (loss_keys and other_keys) else 1
        fig, axes = new_figure(1, ncols, figsize=(5.5 * ncols, 4.0), squeeze=False)
        axes = list(axes[0])
        loss_ax = axes[0] if loss_keys else None
        metric_ax = axes[-1] if other_keys else None
        if not loss_keys and not other_keys:
            loss_ax = axes[0]
    else:
        if isinstance(ax, (list, tuple)) or hasattr(ax, "flat"):
            axs = list(ax.flat) if hasattr(ax, "flat") else list(ax)
            loss_ax, metric_ax = axs[0], (axs[1] if len(axs) > 1 else axs[0])
        else:
            loss_ax = metric_ax = ax
        fig = loss_ax.figure

    colours: dict[str, Any] = {}
    if loss_ax is not None and loss_keys:
        _plot_keys(loss_ax, x, rows, loss_keys, colours)
        loss_ax.set_title("loss")
        loss_ax.set_ylabel("loss")
    if metric_ax is not None and other_keys:
        _plot_keys(metric_ax, x, rows, other_keys, colours)
        metric_ax.set_title("metrics" if metric_ax is not loss_ax else "loss and metrics")
        metric_ax.set_ylabel("value")
    for a in {id(a): a for a in (loss_ax, metric_ax) if a is not None}.values():
        a.set_xlabel("epoch")
        a.grid(True, alpha=0.3)
        if a.get_lines():
            a.legend(fontsize="small")
        else:
            a.text(0.5, 0.5, "no metrics recorded", ha="center", va="center", transform=a.transAxes)
    if ax is None:
        fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_confusion_matrix(cm: Any, class_names: Optional[Sequence[str]] = None, ax=None,
                          normalize: Any = False, cmap: str = "Blues", annotate: Optional[bool] = None,
                          colorbar: bool = True, path: str | os.PathLike | None = None,
                          figsize: Optional[tuple[float, float]] = None):
    """Heatmap of a confusion matrix ``cm[true, pred]`` (counts).

    ``normalize``: False (counts), True or ``'true'`` (rows sum to 1: recall
    per class), ``'pred'`` (columns sum to 1: precision) or ``'all'``. Empty
    rows/columns stay 0. Cells are annotated when there are at most 20
    classes (or ``annotate=True``). Returns the figure.
    """
    import numpy as np

    if hasattr(cm, "detach"):
        cm = cm.detach().cpu().numpy()
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise GraphclsError(f"confusion matrix must be square [C, C], got shape {tuple(m.shape)}")
    c = m.shape[0]
    if class_names is not None:
        class_names = [str(s) for s in class_names]
        if len(class_names) != c:
            raise GraphclsError(f"class_names has {len(class_names)} entries, expected {c}")
    else:
        class_names = [str(i) for i in range(c)]
    mode = "true" if normalize is True else (normalize or None)
    if mode not in (None, "true", "pred", "all"):
        raise GraphclsError(f"normalize must be False, True, 'true', 'pred' or 'all', got {normalize!r}")
    if mode == "true":
        s = m.sum(axis=1, keepdims=True)
        m = np.divide(m, s, out=np.zeros_like(m), where=s > 0)
    elif mode == "pred":
        s = m.sum(axis=0, keepdims=True)
        m = np.divide(m, s, out=np.zeros_like(m), where=s > 0)
    elif mode == "all":
        s = m.sum()
        m = m / s if s > 0 else m

    if ax is None:
        side = min(max(4.0, 0.45 * c + 2.0), 14.0) if figsize is None else None
        fig, ax = new_figure(1, 1, figsize=figsize or (side + 1.0, side))
    else:
        fig = ax.figure
    im = ax.imshow(m, cmap=cmap, interpolation="nearest", vmin=0.0,
                   vmax=1.0 if mode else max(float(m.max()), 1.0))
    im.set_label("confusion")
    if c <= 50:
        ax.set_xticks(range(c))
        ax.set_xticklabels(class_names, rotation=90 if c > 6 else 0, fontsize=8)
        ax.set_yticks(range(c))
        ax.set_yticklabels(class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (f" (normalized over {mode})" if mode else ""))
    if annotate is None:
        annotate = c <= 20
    if annotate:
        thresh = 0.5 * (m.max() if m.size else 0.0)
        for i in range(c):
            for j in range(c):
                txt = f"{m[i, j]:.2f}" if mode else f"{int(round(m[i, j]))}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > thresh else "black")
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if path is not None:
        save_figure(fig, path)
    return fig
