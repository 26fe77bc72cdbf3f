"""Fixtures shared by the test suites of tests/ and references/tests/ (pytest reads this file for both)."""
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)


@pytest.fixture
def digits():
    """40 small real-looking images: the first 4 of each class of the bundled sample."""
    from pyg_graphcls.datasets import load_idx_dir, sample_dir
    tri, trl, _, _ = load_idx_dir(sample_dir())
    idx = np.concatenate([np.flatnonzero(trl == k)[:4] for k in range(10)])
    return tri[idx], trl[idx]


@pytest.fixture
def tiny_idx(tmp_path, digits):
    """A folder with the four IDX files (32 train, 8 test images)."""
    from pyg_graphcls.datasets import write_idx
    x, y = digits
    d = tmp_path / "idx"
    write_idx(d / "train-images-idx3-ubyte.gz", x[:32])
    write_idx(d / "train-labels-idx1-ubyte.gz", y[:32].astype(np.uint8))
    write_idx(d / "t10k-images-idx3-ubyte", x[32:])
    write_idx(d / "t10k-labels-idx1-ubyte", y[32:].astype(np.uint8))
    return d
