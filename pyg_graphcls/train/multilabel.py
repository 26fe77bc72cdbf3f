r"""Multi-label metrics as reported by ML-GCN and its successors.

* :func:`average_precision`: per-class AP. Samples are sorted by score and
  precision is taken at every positive,

  .. math::
      \mathrm{AP}_c = \frac{1}{|P_c|} \sum_{k \in P_c} \mathrm{Prec}@k.

  Tied scores are treated as one block (all tied samples are counted
  together, precision taken at the end of the block), which makes the value
  independent of how ties are ordered and equal to
  :func:`sklearn.metrics.average_precision_score`; without ties it is
  exactly the formula above.
* :func:`mean_average_precision`: mean over classes with at least one
  positive.
* :func:`multilabel_scores`: with :math:`N^c_c` correct, :math:`N^p_c`
  predicted and :math:`N^g_c` ground-truth positives of class :math:`c`,

  .. math::
      \mathrm{OP} = \frac{\sum_c N^c_c}{\sum_c N^p_c},\quad
      \mathrm{OR} = \frac{\sum_c N^c_c}{\sum_c N^g_c},\quad
      \mathrm{CP} = \frac{1}{C}\sum_c \frac{N^c_c}{N^p_c},\quad
      \mathrm{CR} = \frac{1}{C}\sum_c \frac{N^c_c}{N^g_c},

  and F1 as the harmonic mean of each pair (CF1 from CP and CR, not the mean
  of per-class F1s). A prediction is ``score >= threshold`` (0 for logits);
  ``top_k=k`` additionally keeps only each sample's ``k`` highest scores.

All values are fractions in :math:`[0, 1]` (multiply by 100 for the usual
tables).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from ..errors import GraphclsError

__all__ = ["average_precision", "mean_average_precision", "multilabel_scores", "evaluate_multilabel"]


def _as_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        x = x.numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise GraphclsError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def _prepare(scores: Any, targets: Any, valid: Any = None) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    s = _as_array(scores, "scores").astype(np.float64)
    t = _as_array(targets, "targets")
    if s.ndim == 1:
        s = s[:, None]
    if t.ndim == 1:
        t = t[:, None]
    if s.ndim != 2:
        raise GraphclsError(f"scores must have shape [N, C], got {tuple(s.shape)}")
    if t.shape != s.shape:
        raise GraphclsError(f"targets must have the shape of scores [N, C] = {tuple(s.shape)}, "
                            f"got {tuple(t.shape)}")
    if not np.isfinite(s).all():
        raise GraphclsError("scores contain NaN or Inf")
    if not np.isin(t, (0, 1)).all():
        raise GraphclsError("targets must be 0/1 multi-hot; for ML-GCN-style {-1, 0, 1} targets "
                            "pass targets=(t > 0) and valid=(t != 0)")
    v = None
    if valid is not None:
        v = _as_array(valid, "valid").astype(bool)
        if v.ndim == 1:
            v = v[:, None]
        if v.shape != s.shape:
            raise GraphclsError(f"valid must have the shape of scores {tuple(s.shape)}, got {tuple(v.shape)}")
    return s, t.astype(bool), v


def _ap_one(s: np.ndarray, t: np.ndarray) -> float:
    npos = int(t.sum())
    if npos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each tie block
    tp = np.cumsum(t)[ends].astype(np.float64)
    precision = tp / (ends + 1)
    recall_gain = np.diff(np.r_[0.0, tp]) / npos
    return float(np.sum(recall_gain * precision))


def average_precision(scores: Any, targets: Any, valid: Any = None) -> np.ndarray:
    r"""Average precision of every class.

    Args:
        scores (array or tensor): :obj:`[N, C]` (or :obj:`[N]`), higher =
            more likely; logits or probabilities.
        targets (array or tensor): :obj:`[N, C]` in :math:`\{0, 1\}`.
        valid (array, optional): :obj:`[N, C]` bool; :obj:`False` entries are
            left out (e.g. VOC "difficult" objects).

    Returns:
        ``np.ndarray`` :obj:`[C]` float64. A class with no positive (among the
        valid entries) has no defined AP and gets ``NaN``.
    """
    s, t, v = _prepare(scores, targets, valid)
    out = np.empty(s.shape[1], dtype=np.float64)
    for c in range(s.shape[1]):
        if v is None:
            out[c] = _ap_one(s[:, c], t[:, c])
        else:
            out[c] = _ap_one(s[v[:, c], c], t[v[:, c], c])
    return out


def mean_average_precision(scores: Any, targets: Any, valid: Any = None) -> float:
    """Mean of :func:`average_precision` over the classes that have a positive
    (NaN entries are excluded); ``NaN`` when no class has one."""
    ap = average_precision(scores, targets, valid)
    ok = ~np.isnan(ap)
    return float(ap[ok].mean()) if ok.any() else float("nan")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def multilabel_scores(scores: Any, targets: Any, threshold: Optional[float] = 0.0,
                      top_k: Optional[int] = None) -> Dict[str, float]:
    r"""CP, CR, CF1, OP, OR, OF1 (see the module doc).

    Args:
        scores, targets: as :func:`average_precision`.
        threshold (float, optional): a class is predicted when its score is
            :math:`\ge` ``threshold`` (default :obj:`0.0`, i.e. logits
            :math:`\ge 0`). :obj:`None` with ``top_k`` predicts exactly the
            top ``k``.
        top_k (int, optional): predict only among each sample's ``k`` highest
            scores (ties broken by class index), as in ML-GCN's top-3 rows:
            a class is predicted when it is in the top ``k`` **and** reaches
            the threshold.

    Divisions by zero count as 0: a class never predicted has precision 0,
    a class with no ground-truth positive has recall 0 (as scikit-learn's
    ``zero_division=0``; ML-GCN's code would give NaN instead).

    Returns:
        dict with float values for ``"CP", "CR", "CF1", "OP", "OR", "OF1"``.
    """
    s, t, _ = _prepare(scores, targets)
    if threshold is None and top_k is None:
        raise GraphclsError("give a threshold, a top_k, or both")
    pred = np.ones_like(t) if threshold is None else s >= float(threshold)
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise GraphclsError(f"top_k must be a positive int, got {top_k!r}")
        k = min(top_k, s.shape[1])
        idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
        top = np.zeros_like(t)
        np.put_along_axis(top, idx, True, axis=1)
        pred = pred & top
    nc = (pred & t).sum(axis=0).astype(np.float64)
    npred = pred.sum(axis=0).astype(np.float64)
    ngt = t.sum(axis=0).astype(np.float64)
    per_p = np.divide(nc, npred, out=np.zeros_like(nc), where=npred > 0)
    per_r = np.divide(nc, ngt, out=np.zeros_like(nc), where=ngt > 0)
    cp, cr = float(per_p.mean()), float(per_r.mean())
    op = float(nc.sum() / npred.sum()) if npred.sum() > 0 else 0.0
    orr = float(nc.sum() / ngt.sum()) if ngt.sum() > 0 else 0.0
    return {"CP": cp, "CR": cr, "CF1": _f1(cp, cr), "OP": op, "OR": orr, "OF1": _f1(op, orr)}


def evaluate_multilabel(scores: Any, targets: Any, threshold: float = 0.0, top_k: int = 3,
                        valid: Any = None) -> Dict[str, float]:
    """mAP plus :func:`multilabel_scores` for all classes and for the top ``k``
    (keys suffixed ``_top3`` for ``k = 3``). ``valid`` only affects mAP."""
    out = {"mAP": mean_average_precision(scores, targets, valid)}
    out.update(multilabel_scores(scores, targets, threshold=threshold))
    out.update({f"{k}_top{top_k}": v for k, v in
                multilabel_scores(scores, targets, threshold=threshold, top_k=top_k).items()})
    return out
