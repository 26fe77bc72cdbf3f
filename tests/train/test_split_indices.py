"""train.split_indices / split_dataset: the one train/validation split."""
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.train import split_dataset, split_indices


def test_split_is_deterministic_and_disjoint():
    tr, va = split_indices(100, 0.1, 0)
    tr2, va2 = split_indices(100, 0.1, 0)
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    assert len(va) == 10 and len(tr) == 90
    assert not set(tr.tolist()) & set(va.tolist())
    assert sorted(tr.tolist() + va.tolist()) == list(range(100))
    assert tr.tolist() == sorted(tr.tolist()) and va.tolist() == sorted(va.tolist())
    assert not torch.equal(split_indices(100, 0.1, 1)[1], va)


def test_split_sizes_and_errors():
    assert [len(t) for t in split_indices(5, 0.01, 0)] == [4, 1]   # at least one for validation
    assert [len(t) for t in split_indices(5, 0.0, 0)] == [5, 0]
    assert [len(t) for t in split_indices(1, 0.5, 0)] == [1, 0]
    try:
        split_indices(10, 1.0, 0)
    except GraphclsError as e:
        assert "val_fraction" in str(e)
    else:
        raise AssertionError("val_fraction 1.0 accepted")


def test_split_dataset_takes_the_split_indices():
    data = [f"item{i}" for i in range(20)]
    train, val = split_dataset(data, 0.25, 3)
    tr, va = split_indices(20, 0.25, 3)
    assert [train[i] for i in range(len(train))] == [f"item{i}" for i in tr.tolist()]
    assert [val[i] for i in range(len(val))] == [f"item{i}" for i in va.tolist()]
    assert split_dataset(data, 0.0, 0)[1] is None
