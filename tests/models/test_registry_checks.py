"""Model arguments are checked against the registered builder's signature before it runs."""
import numpy as np
import pytest

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.models import create_model
from pyg_graphcls.models.registry import check_model_kwargs


@pytest.mark.parametrize("name,kw,msg", [
    ("gcn", {"hidden": "abc"}, "model 'gcn': hidden must be int, got str 'abc'"),
    ("gcn", {"hidden": 2.5}, "hidden must be int, got float 2.5"),
    ("gcn", {"hidden": True}, "hidden must be int, got bool"),
    ("gcn", {"hidden": 0}, "hidden must be >= 1, got 0"),
    ("gcn", {"num_layers": -1}, "num_layers must be >= 0"),
    ("gcn", {"dropout": 1.0}, "dropout must be in [0, 1)"),
    ("gcn", {"dropout": float("nan")}, "dropout must be finite"),
    ("gcn", {"readout": 3}, "readout must be str, got int 3"),
    ("gcn", {"edge_weight": 3}, "edge_weight must be bool, got int 3"),
    ("gcn", {"nope": 1}, "does not take nope"),
    ("dirconv", {"pool_after": "x"}, "pool_after must be Sequence[int], got str 'x'"),
    ("dirconv", {"radii": [1.0, "a"]}, "radii must be Sequence[float]"),
    ("nosuch", {}, "unknown model 'nosuch'"),
])
def test_bad_model_arguments(name, kw, msg):
    with pytest.raises(GraphclsError) as e:
        check_model_kwargs(name, kw)
    assert msg in str(e.value)
    with pytest.raises(GraphclsError):
        create_model(name, in_channels=3, num_classes=2, **kw)


def test_good_model_arguments_pass():
    check_model_kwargs("gcn", {"hidden": np.int64(8), "dropout": 0, "edge_weight": True, "readout": "mean"})
    check_model_kwargs("dirconv", {"pool_after": (0, 1), "radii": [1, 2.5]})
    m = create_model("gcn", in_channels=3, num_classes=2, hidden=8, num_layers=1)
    assert m._graphcls_config["kwargs"]["hidden"] == 8


def test_builder_errors_become_one_clear_error():
    with pytest.raises(GraphclsError, match="hidden \\(6\\) must be divisible by heads \\(4\\)"):
        create_model("gat", in_channels=3, num_classes=2, hidden=6)
