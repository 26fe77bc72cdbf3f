"""train.config: config files of graphcls train options, turned into command-line tokens."""
import argparse
import json

import pytest

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.train.config import config_argv, load_config


def _csv(text):
    return [t for t in text.split(",") if t] if text != "none" else []


@pytest.fixture
def parser():
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--n-segments", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--model", default="gcn")
    p.add_argument("--features", type=_csv)
    p.add_argument("--position", action="store_true")
    p.add_argument("--strict", dest="strict", action="store_true", default=None)
    p.add_argument("--no-strict", dest="strict", action="store_false")
    p.add_argument("--model-arg", action="append", default=[])
    return p


def test_load_toml_and_json(tmp_path):
    (tmp_path / "a.toml").write_text('model = "dirconv"\nlr = 0.002\nmodel_arg = { hidden = 8, pool_after = [0, 1] }\n')
    assert load_config(tmp_path / "a.toml") == {"model": "dirconv", "lr": 0.002,
                                                 "model_arg": {"hidden": 8, "pool_after": [0, 1]}}
    (tmp_path / "a.json").write_text(json.dumps({"model": "gat"}))
    assert load_config(tmp_path / "a.json") == {"model": "gat"}
    (tmp_path / "bad.toml").write_text("model = \n")
    with pytest.raises(GraphclsError, match="cannot be read"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(GraphclsError, match="table of options"):
        load_config(tmp_path / "list.json")
    with pytest.raises(GraphclsError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_config_argv_parses_to_the_same_options(parser):
    cfg = {"n_segments": 75, "lr": 0.002, "features": ["mean", "bbox"], "position": True, "strict": False,
           "model-arg": {"paint": "regions", "pool_after": [0, 1]}}
    argv = config_argv(cfg, parser)
    args = parser.parse_args(argv)
    assert args.n_segments == 75 and args.lr == 0.002 and args.features == ["mean", "bbox"]
    assert args.position is True and args.strict is False
    assert [json.loads(v.split("=", 1)[1]) for v in args.model_arg] == ["regions", [0, 1]]
    # the command line after the file wins
    args = parser.parse_args(argv + ["--lr", "0.5", "--model-arg", "paint=\"nearest\""])
    assert args.lr == 0.5 and args.model_arg[-1] == 'paint="nearest"'
    assert parser.parse_args(config_argv({"features": []}, parser)).features == []
    assert config_argv({"position": False}, parser) == []


@pytest.mark.parametrize("cfg,match", [
    ({"n_segment": 75}, "unknown key 'n_segment'.*did you mean 'n_segments'"),
    ({"config": "x.toml"}, "unknown key 'config'"),
    ({"help": True}, "unknown key 'help'"),
    ({"position": 1}, "flag"),
    ({"lr": True}, "number or a string"),
    ({"lr": [0.1]}, "one value"),
    ({"model_arg": 3}, "table"),
])
def test_config_argv_errors_name_the_key(parser, cfg, match):
    with pytest.raises(GraphclsError, match=match):
        config_argv(cfg, parser, "f.toml")


def test_key_values_and_argv_with_config(tmp_path):
    from pyg_graphcls.train.config import argv_with_config, key_values
    assert key_values(["a=1", "b=[0, 1]", "c=regions", "a=2.5"], "--x") == {"a": 2.5, "b": [0, 1], "c": "regions"}
    with pytest.raises(GraphclsError, match="--x needs KEY=VALUE"):
        key_values(["a"], "--x")
    top = argparse.ArgumentParser()
    sub = top.add_subparsers(dest="command")
    p = sub.add_parser("train")
    p.add_argument("--config")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=1)
    (tmp_path / "c.toml").write_text("lr = 0.5\nepochs = 7\n")
    argv = argv_with_config(top, ["train", "--config", str(tmp_path / "c.toml"), "--lr", "0.25"], tmp_path / "c.toml")
    args = top.parse_args(argv)
    assert (args.lr, args.epochs) == (0.25, 7)  # the command line wins, the file fills the rest
