import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_score, recall_score

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.train.multilabel import (average_precision, evaluate_multilabel,
                                           mean_average_precision, multilabel_scores)


def _data(n=60, c=5, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    t = (rng.random((n, c)) < 0.3).astype(int)
    t[0] = 1  # every class has a positive
    s = rng.normal(size=(n, c)) + 1.5 * t
    if ties:
        s = np.round(s)
    return s, t


def test_hand_computed_ap():
    # ranks: +, -, +, -  -> precision at positives 1/1 and 2/3
    ap = average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])
    assert ap.shape == (1,) and ap[0] == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("ties", [False, True])
def test_ap_matches_sklearn(ties):
    s, t = _data(ties=ties)
    ap = average_precision(torch.from_numpy(s), torch.from_numpy(t))
    ref = [average_precision_score(t[:, c], s[:, c]) for c in range(t.shape[1])]
    assert np.allclose(ap, ref)
    assert mean_average_precision(s, t) == pytest.approx(np.mean(ref))


def test_class_without_positive_is_nan_and_excluded():
    s, t = _data()
    t[:, 2] = 0
    ap = average_precision(s, t)
    assert np.isnan(ap[2]) and not np.isnan(np.delete(ap, 2)).any()
    assert mean_average_precision(s, t) == pytest.approx(np.nanmean(ap))
    assert np.isnan(mean_average_precision(s, np.zeros_like(t)))


def test_valid_mask_and_target_check():
    s, t = _data()
    valid = np.ones_like(t, dtype=bool)
    valid[:10, 0] = False
    ap = average_precision(s, t, valid=valid)
    assert ap[0] == pytest.approx(average_precision_score(t[10:, 0], s[10:, 0]))
    with pytest.raises(GraphclsError, match="valid"):
        average_precision(s, np.where(t > 0, 1, -1))
    with pytest.raises(GraphclsError, match="shape"):
        average_precision(s, t[:, :3])
    with pytest.raises(GraphclsError, match="NaN"):
        average_precision(np.full_like(s, np.nan), t)


def test_scores_hand_example():
    scores = np.array([[2.0, -1.0, 0.5],
                       [-0.5, 1.0, 3.0],
                       [1.0, 0.0, -2.0]])
    targets = np.array([[1, 1, 0],
                        [0, 1, 1],
                        [0, 0, 1]])
    # predicted (>= 0): [1,0,1], [0,1,1], [1,1,0]
    # per class: Nc = [1, 1, 1], Np = [2, 2, 2], Ng = [1, 2, 2]
    r = multilabel_scores(scores, targets)
    assert r["OP"] == pytest.approx(3 / 6) and r["OR"] == pytest.approx(3 / 5)
    assert r["CP"] == pytest.approx(0.5) and r["CR"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert r["OF1"] == pytest.approx(2 * 0.5 * 0.6 / 1.1)
    assert r["CF1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # top-1: [0], [2], [0] -> Nc = [1, 0, 1], Np = [2, 0, 1], Ng = [1, 2, 2]
    r1 = multilabel_scores(scores, targets, top_k=1)
    assert r1["OP"] == pytest.approx(2 / 3) and r1["OR"] == pytest.approx(2 / 5)
    assert r1["CP"] == pytest.approx((0.5 + 0 + 1) / 3)


@pytest.mark.parametrize("top_k", [None, 3])
def test_scores_match_sklearn(top_k):
    s, t = _data(n=80, c=8, seed=1)
    r = multilabel_scores(s, t, threshold=0.5, top_k=top_k)
    pred = s >= 0.5
    if top_k:
        keep = np.zeros_like(pred)
        np.put_along_axis(keep, np.argsort(-s, axis=1)[:, :top_k], True, axis=1)
        pred &= keep
    kw = dict(zero_division=0)
    assert r["OP"] == pytest.approx(precision_score(t, pred, average="micro", **kw))
    assert r["OR"] == pytest.approx(recall_score(t, pred, average="micro", **kw))
    assert r["CP"] == pytest.approx(precision_score(t, pred, average="macro", **kw))
    assert r["CR"] == pytest.approx(recall_score(t, pred, average="macro", **kw))


def test_evaluate_multilabel_keys():
    s, t = _data()
    out = evaluate_multilabel(s, t)
    assert set(out) == {"mAP", "CP", "CR", "CF1", "OP", "OR", "OF1", "CP_top3", "CR_top3", "CF1_top3",
                        "OP_top3", "OR_top3", "OF1_top3"}
    assert all(0.0 <= v <= 1.0 for v in out.values())
