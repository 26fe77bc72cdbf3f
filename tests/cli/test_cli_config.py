"""graphcls train --config FILE: a stored set of train options; the command line overrides it."""
import json

from pyg_graphcls.cli import main
from pyg_graphcls.models import create_model


def _write(path, text):
    path.write_text(text)
    return path


def test_train_config_with_an_overriding_flag(tiny_idx, tmp_path):
    cfg = _write(tmp_path / "run.toml", f'''
dataset = "idx:{tiny_idx}"
graph = "superpixels"
n_segments = 20
features = ["mean", "centroid", "area"]
model = "gcn"
model_arg = {{ hidden = 8, readout = "max" }}
epochs = 3
lr = 0.01
batch_size = 8
val_fraction = 0.25
split_seed = 5
eval_train_size = 0
''')
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--model-arg", "hidden=4", "--root",
                 str(tmp_path / "cache"), "--workers", "1", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    for name in ("run.json", "metrics.json", "history.csv", "history.json", "checkpoint.pt", "last.pt",
                 "curves.png", "confusion.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert metrics["epochs"] == 1 and run["args"]["epochs"] == 1              # the flag won
    assert run["args"]["lr"] == 0.01 and run["args"]["n_segments"] == 20      # the file's values
    assert run["args"]["config"] == str(cfg)
    assert (metrics["train"], metrics["val"], metrics["test"]) == (24, 8, 8)  # val_fraction from the file
    ref = create_model("gcn", in_channels=4, num_classes=10, hidden=4, readout="max")  # hidden from the flag
    assert metrics["parameters"] == sum(p.numel() for p in ref.parameters())
    assert "train_eval_accuracy" not in json.loads((out / "history.json").read_text())[0]


def test_train_config_unknown_key_is_one_line(tmp_path, capsys):
    cfg = _write(tmp_path / "bad.toml", 'model = "gcn"\nlearning_rate = 0.1\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("graphcls: error:") and "'learning_rate'" in err[0]
    assert not (tmp_path / "run").exists()


def test_train_without_recipe_option(capsys):
    assert main(["train", "--recipe", "dirconv"]) == 2  # argparse's error, as one line
    assert "unrecognized arguments: --recipe" in capsys.readouterr().err


def test_train_and_evaluate_the_image_form(tiny_idx, tmp_path):
    """--graph image (raw pixels for cnn, area-averaged by --image-size), --augment flip; evaluate reads
    the checkpoint's data form back."""
    out = tmp_path / "cnn"
    assert main(["train", "--dataset", f"idx:{tiny_idx}", "--graph", "image", "--image-size", "14", "--model", "cnn",
                 "--augment", "flip=0.5", "--epochs", "1", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "cnn" and metrics["test"] == 8
    assert main(["evaluate", str(out / "checkpoint.pt"), "--device", "cpu", "--out", str(tmp_path / "ev.json")]) == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["accuracy"] == metrics["test_accuracy"]
    assert main(["train", "--dataset", f"idx:{tiny_idx}", "--graph", "image", "--n-segments", "20", "--model", "cnn",
                 "--out", str(tmp_path / "bad")]) == 2


def test_train_options_that_do_not_apply_fail(tmp_path, capsys):
    assert main(["train", "--task", "multilabel", "--dataset", "canvas", "--augment", "flip=1",
                 "--out", str(tmp_path / "ml")]) == 2
    assert "--augment does not apply to --task multilabel" in capsys.readouterr().err
