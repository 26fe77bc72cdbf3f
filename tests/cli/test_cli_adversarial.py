"""Adversarial CLI suite: every bad argument, file or data set gives exit code 2 and one line
``graphcls: error: ...`` (or a defined result), and never changes an earlier run's files.
docs/RELIABILITY.md lists each case with its message."""
import contextlib
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyg_graphcls.cli import main
from pyg_graphcls.datasets import load_idx_dir, sample_dir, write_idx
from pyg_graphcls.errors import GraphclsError

# ------------------------------------------------------------------ shared tiny data (built once)


def _write_idx_set(d: Path, xtr, ytr, xte, yte) -> Path:
    write_idx(d / "train-images-idx3-ubyte", xtr)
    write_idx(d / "train-labels-idx1-ubyte", np.asarray(ytr, np.uint8))
    write_idx(d / "t10k-images-idx3-ubyte", xte)
    write_idx(d / "t10k-labels-idx1-ubyte", np.asarray(yte, np.uint8))
    return d


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny data sets, bad files, and one finished run, shared by the cases of this module."""
    base = tmp_path_factory.mktemp("adv")
    old_home = os.environ.get("PYG_GRAPHCLS_HOME")
    os.environ["PYG_GRAPHCLS_HOME"] = str(base / "home")
    tri, trl, _, _ = load_idx_dir(sample_dir())
    idx = np.concatenate([np.flatnonzero(trl == k)[:2] for k in range(10)])
    x, y = tri[idx], trl[idx]  # 20 images, two of each class
    w = {"base": base}
    w["tiny"] = _write_idx_set(base / "tiny", x[::2], y[::2], x[1::2], y[1::2])           # 10 train, 10 test
    y200 = y[::2].copy()
    y200[3] = 200
    w["l200"] = _write_idx_set(base / "l200", x[::2], y200, x[1::2], y[1::2])
    w["zero"] = _write_idx_set(base / "zero", x[:0], y[:0], x[:4], y[:4])
    w["one"] = _write_idx_set(base / "one", x[-1:], y[-1:], x[-1:], y[-1:])  # one image of class 9
    w["lack"] = _write_idx_set(base / "lack", x[::2][y[::2] < 5], y[::2][y[::2] < 5], x[1::2], y[1::2])
    from PIL import Image
    for name, counts in (("fempty", {"a": 2, "b": 0, "c": 2}), ("fone", {"a": 1}), ("ftwo", {"a": 1, "b": 1})):
        for c, n in counts.items():
            (base / name / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(x[i]).save(base / name / c / f"{i}.png")
        w[name] = base / name
    (base / "empty.pt").write_bytes(b"")
    (base / "random.pt").write_bytes(np.random.default_rng(0).integers(1, 255, 300, dtype=np.uint8).tobytes())
    (base / "pickleish.pt").write_bytes(b"\x80\x02" + bytes(range(100)))
    (base / "a_file").write_text("not a folder\n")
    (base / "a_dir").mkdir()
    run = base / "run"
    w["train"] = ["train", "--dataset", f"idx:{w['tiny']}", "--epochs", "1", "--batch-size", "8", "--hidden", "4",
                  "--layers", "1", "--n-segments", "16", "--workers", "1", "--quiet", "--val-fraction", "0.2"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(w["train"] + ["--out", str(run)]) == 0
    w["run"] = run
    import shutil
    w["other_run"] = shutil.copytree(run, base / "other_run")  # an earlier run no command here names
    yield w
    if old_home is None:
        os.environ.pop("PYG_GRAPHCLS_HOME", None)
    else:
        os.environ["PYG_GRAPHCLS_HOME"] = old_home


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def _fill(argv, w):
    """``{tiny}``-style placeholders → paths of the shared world."""
    return [a.format(**{k: v for k, v in w.items() if isinstance(v, Path)}) if isinstance(a, str) else a
            for a in argv]


# ------------------------------------------------------------------ the cases: argv, expected message
# "T" starts from the shared tiny training command (and --out the finished run's folder)
CASES = [
    # learning and schedule
    ("T", ["--lr", "nan"], "--lr must be a finite number"),
    ("T", ["--lr", "inf"], "--lr must be a finite number"),
    ("T", ["--lr", "0"], "--lr must be > 0"),
    ("T", ["--lr", "-0.1"], "--lr must be > 0"),
    ("T", ["--epochs", "0"], "--epochs must be >= 1"),
    ("T", ["--batch-size", "0"], "--batch-size must be >= 1"),
    ("T", ["--weight-decay", "-1"], "--weight-decay must be >= 0"),
    ("T", ["--weight-decay", "nan"], "--weight-decay must be a finite number"),
    ("T", ["--val-fraction", "1"], "--val-fraction must be in [0, 1)"),
    ("T", ["--val-fraction", "-0.5"], "--val-fraction must be in [0, 1)"),
    ("T", ["--patience", "0"], "--patience must be >= 1"),
    ("T", ["--edge-loss-weight", "nan"], "--edge-loss-weight must be a finite number"),
    ("T", ["--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
    ("T", ["--scheduler", "linear"], "argument --scheduler: invalid choice"),
    ("T", ["--device", "tpu9"], "unknown device 'tpu9'"),
    # model arguments
    ("T", ["--dropout", "2"], "--dropout must be in [0, 1)"),
    ("T", ["--dropout", "1"], "--dropout must be in [0, 1)"),
    ("T", ["--hidden", "0"], "--hidden must be >= 1"),
    ("T", ["--layers", "-1"], "--layers must be >= 0"),
    ("T", ["--model-arg", "hidden=abc"], "--model-arg: model 'dirconv': hidden must be int, got str 'abc'"),
    ("T", ["--model-arg", "hidden=1.5"], "hidden must be int, got float"),
    ("T", ["--model-arg", "dropout=NaN"], "dropout must be finite"),
    ("T", ["--model", "gcn", "--model-arg", "dropout=0.99", "--model-arg", "edge_weight=3.5"],
     "edge_weight must be bool"),
    ("T", ["--model-arg", "nokey"], "--model-arg needs KEY=VALUE"),
    ("T", ["--model-arg", "bogus=1"], "does not take bogus"),
    ("T", ["--model-arg", "in_channels=3"], "in_channels is set from the data"),
    ("T", ["--model", "nope"], "unknown model 'nope'"),
    ("T", ["--model", "head-mlgcn"], "is a multi-label image head"),
    ("T", ["--model", "gcn", "--readout", "median"], "unknown readout 'median'"),
    # graph settings
    ("T", ["--n-segments", "0"], "--n-segments must be >= 2"),
    ("T", ["--n-segments", "1"], "--n-segments must be >= 2"),
    ("T", ["--compactness", "nan"], "--compactness must be a finite number"),
    ("T", ["--compactness", "-1"], "--compactness must be > 0"),
    ("T", ["--compactness", "0"], "--compactness must be > 0"),
    ("T", ["--limit", "-5"], "--limit must be >= 1"),
    ("T", ["--limit", "0"], "--limit must be >= 1"),
    ("T", ["--k", "0"], "--k must be >= 1"),
    ("T", ["--workers", "0"], "--workers must be >= 1"),
    ("T", ["--seed", "-1"], "--seed must be in [0, 2**32)"),
    ("T", ["--features", "mean,colour"], "--features: unknown name 'colour'"),
    ("T", ["--features", "none"], "--features needs at least one of mean, std"),
    ("T", ["--val-fraction", "0.99"], "the training set is empty after the validation split (--val-fraction 0.99"),
    (None, ["train", "--dataset", "idx:{tiny}", "--model", "gpr", "--model-arg", "K=0", "--epochs", "1", "--quiet",
            "--workers", "1", "--n-segments", "16", "--out", "{run}"], "GPRProp needs K >= 1"),
    ("T", ["--edge-attr", "angle"], "--edge-attr: unknown name 'angle'"),
    ("T", ["--edges", "full"], "--edges 'full' is not one of knn, rag, none"),
    ("T", ["--graph", "patches", "--patch-size", "0"], "--patch-size must be >= 1"),
    ("T", ["--graph", "grid", "--n-segments", "10"], "--n-segments does not apply to --graph grid"),
    # paths
    ("T", ["--out", "{a_file}"], "is an existing file, not a folder"),
    ("T", ["--out", "{a_file}/sub"], "cannot be created"),
    ("T", ["--root", "{a_file}"], "--root"),
    (None, ["convert", "--dataset", "idx:{tiny}", "--out", "{a_file}"], "is an existing file, not a folder"),
    (None, ["convert", "--dataset", "idx:{tiny}", "--shard", "3/2"], "shard 3/2"),
    # data sets
    ("T", ["--dataset", "idx:"], "needs a folder"),
    ("T", ["--dataset", "what"], "unknown dataset 'what'"),
    ("T", ["--dataset", "idx:{a_dir}"], "has no train-images-idx3-ubyte"),
    ("T", ["--dataset", "canvas"], "add --task multilabel"),
    ("T", ["--dataset", "idx:{l200}"], "label 200 (train image 3) is outside the classes of the other images (0..9)"),
    ("T", ["--dataset", "idx:{zero}"], "the training IDX files hold 0 images"),
    ("T", ["--dataset", "folder:{fempty}"], "class folder 'b' holds no image file"),
    ("T", ["--dataset", "folder:{fone}"], "1 image file: a folder data set needs at least 2"),
    ("T", ["--task", "multilabel"], "--task multilabel trains on --dataset canvas"),
    (None, ["train", "--task", "multilabel", "--dataset", "canvas", "--label-threshold", "2"],
     "--label-threshold must be in [0, 1]"),
    # checkpoints
    (None, ["evaluate", "{empty_pt}"], "is empty (0 bytes): not a torch file"),
    (None, ["evaluate", "{random_pt}"], "is not a torch file (it starts with bytes"),
    (None, ["evaluate", "{pickleish_pt}"], "truncated or not a torch file"),
    (None, ["evaluate", "{a_dir}"], "is not a file"),
    (None, ["evaluate", "{base}/missing.pt"], "checkpoint not found"),
    (None, ["evaluate", "{run}/checkpoint.pt", "--out", "{a_dir}"], "is a folder; expected a file name"),
    (None, ["evaluate", "{run}/history.csv"], "is not a torch file"),
    # other commands
    (None, ["show", "--index", "-1"], "--index must be >= 0"),
    (None, ["show", "--dataset", "idx:{tiny}", "--index", "99"], "--index 99 is out of range"),
    (None, ["show", "--image", "{base}/nope.png"], "--image"),
    (None, ["show", "-o", "{a_dir}"], "is a folder; expected a file name"),
    (None, ["bench", "--images", "0"], "--images must be >= 1"),
    (None, ["bench", "--epochs", "-2"], "--epochs must be >= 1"),
    (None, ["frobnicate"], "invalid choice: 'frobnicate'"),
    # resuming a run with other settings
    ("T", ["--resume", "--epochs", "6"], "epochs (the schedule's length) 1 -> 6"),
    ("T", ["--resume", "--n-segments", "12"], "graph settings"),
    ("T", ["--resume", "--hidden", "8"], "model argument hidden 4 -> 8"),
    ("T", ["--resume", "--lr", "0.5"], "lr 0.002 -> 0.5"),
]


def _argv(kind, extra, w):
    if kind == "T":
        return w["train"] + ["--out", str(w["run"])] + _fill(extra, w)
    return _fill(extra, w)


@pytest.fixture(scope="module")
def paths(world):
    w = dict(world)
    for name in ("empty.pt", "random.pt", "pickleish.pt", "a_file", "a_dir"):
        w[name.replace(".", "_")] = world["base"] / name
    return w


@pytest.mark.parametrize("kind,extra,msg", CASES, ids=[" ".join(c[1])[:60] for c in CASES])
def test_bad_input_is_one_line_and_changes_no_run(kind, extra, msg, paths):
    before = _snapshot(paths["run"])
    rc, out, err = _run(_argv(kind, extra, paths))
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("graphcls: warning:")]
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("graphcls: error:"), err
    assert msg in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(paths["run"]) == before  # the finished run's files, byte for byte


def test_at_least_forty_cases():
    assert len(CASES) >= 40


# ------------------------------------------------------------------ defined results (exit 0)
def test_one_image_idx_set_trains_with_a_warning(paths, tmp_path):
    rc, out, err = _run(["train", "--dataset", f"idx:{paths['one']}", "--epochs", "1", "--hidden", "4",
                         "--workers", "1", "--quiet", "--out", tmp_path / "r"])
    assert rc == 0, err
    assert "graphcls: warning: idx-one: 9 of 10 classes have no image in either split (0..8)" in err
    assert (tmp_path / "r" / "metrics.json").is_file()


def test_test_class_missing_from_training_is_a_warning(paths):
    rc, out, err = _run(["convert", "--dataset", f"idx:{paths['lack']}", "--workers", "1", "--quiet"])
    assert rc == 0, err
    assert "the test split has 5 class(es) the training set lacks (5, 6, 7, 8, 9)" in err


def test_two_image_folder_converts(paths):
    rc, out, err = _run(["convert", "--dataset", f"folder:{paths['ftwo']}", "--workers", "1", "--quiet"])
    assert rc == 0, err
    assert "1 train + 1 test superpixels graphs" in out


def test_single_graph_chunk_converts(paths, monkeypatch):
    """A chunk that holds exactly one graph (``convert --limit 257`` with chunks of 256)."""
    from pyg_graphcls.datasets import conversion
    monkeypatch.setattr(conversion, "_CHUNK", 4)
    rc, out, err = _run(["convert", "--dataset", f"idx:{paths['tiny']}", "--limit", "5", "--workers", "1",
                         "--quiet", "--n-segments", "12"])
    assert rc == 0, err
    assert "5 train + 10 test superpixels graphs" in out


def test_strict_conversion_does_not_read_a_no_strict_cache(tmp_path, monkeypatch):
    """A NaN image: skipped with --no-strict, and the strict run after it still fails."""
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "home"))
    x = np.random.default_rng(0).random((6, 8, 8)).astype(np.float32)
    x[2, 0, 0] = np.nan
    y = np.arange(6) % 2
    d = _write_idx_set(tmp_path / "nan", x, y, x[3:], y[3:])
    argv = ["convert", "--dataset", f"idx:{d}", "--workers", "1", "--quiet", "--n-segments", "8"]
    rc, out, err = _run(argv + ["--no-strict"])
    assert rc == 0 and "skipped image 2: image contains NaN or Inf values" in out
    rc, out, err = _run(argv)
    assert rc == 2 and "image 2 cannot be converted: image contains NaN or Inf values" in err


def test_cache_home_that_is_a_file(paths, monkeypatch):
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(paths["a_file"]))
    before = _snapshot(paths["run"])
    rc, out, err = _run(paths["train"] + ["--out", paths["run"]])
    assert rc == 2
    assert err.strip() == f"graphcls: error: $PYG_GRAPHCLS_HOME {paths['a_file']} is an existing file, not a folder"
    assert _snapshot(paths["run"]) == before


def test_debug_shows_the_traceback(paths):
    with pytest.raises(GraphclsError, match="--lr must be a finite number"):
        main(["--debug", "train", "--lr", "nan"])
    with pytest.raises(GraphclsError, match="--lr must be a finite number"):
        main(["train", "--lr", "nan", "--debug"])


def test_unexpected_errors_become_one_line(monkeypatch, paths):
    from pyg_graphcls import cli

    def boom(args):
        raise OSError(28, "No space left on device", "/data/cache/x.pt")
    monkeypatch.setattr(cli, "cmd_bench", boom)
    rc, out, err = _run(["bench"])
    assert rc == 2 and err.strip() == "graphcls: error: bench: /data/cache/x.pt: No space left on device"
    monkeypatch.setattr(cli, "cmd_bench", lambda args: [][1])
    rc, out, err = _run(["bench"])
    assert rc == 2 and err.startswith("graphcls: error: bench: IndexError") and "--debug" in err
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ property-based fuzz of the CLI
_VALUES = st.one_of(st.integers(-3, 40).map(str), st.sampled_from(["nan", "inf", "-inf", "0", "0.5", "1", "2", "1e9",
                                                                  "-0.0", "", "x", "mean", "knn", "a=b", "hidden=2"]),
                    st.text(alphabet="ab=,:-0.9/", max_size=6))
_OPTIONS = ["--n-segments", "--compactness", "--limit", "--k", "--epochs", "--batch-size", "--lr", "--dropout",
            "--hidden", "--layers", "--weight-decay", "--val-fraction", "--patience", "--features", "--edges",
            "--edge-attr", "--model-arg", "--readout", "--seed", "--graph", "--model", "--scheduler", "--workers"]
_FLAGS = ["--resume", "--position", "--ward-merge", "--strict", "--no-strict"]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(opts=st.lists(st.tuples(st.sampled_from(_OPTIONS), _VALUES), max_size=3),
       flags=st.lists(st.sampled_from(_FLAGS), max_size=2, unique=True))
def test_fuzzed_arguments_never_a_traceback_never_a_changed_run(opts, flags, paths):
    argv = list(paths["train"])
    for opt, val in opts:
        if opt == "--limit" and val.lstrip("-").isdigit() and int(val) > 10:
            val = "10"  # keep valid runs cheap
        if opt == "--epochs" and val.lstrip("-").isdigit() and int(val) > 1:
            val = "1"
        argv += [opt, val]
    argv += flags + ["--out", str(paths["run"])]
    before, other = _snapshot(paths["run"]), _snapshot(paths["other_run"])
    rc, out, err = _run(argv)
    assert "Traceback" not in err and "Traceback" not in out
    assert rc in (0, 2), (argv, rc, err)
    assert _snapshot(paths["other_run"]) == other  # success or not, no other run is touched
    if rc == 2:
        lines = [ln for ln in err.strip().splitlines() if not ln.startswith("graphcls: warning:")]
        assert len(lines) == 1 and lines[0].startswith("graphcls: error:"), (argv, err)
        assert "internal error" not in lines[0], (argv, err)
        assert _snapshot(paths["run"]) == before, argv


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.one_of(st.binary(max_size=200), st.binary(max_size=120).map(lambda b: b"\x80\x02" + b),
                      st.binary(max_size=120).map(lambda b: b"PK\x03\x04" + b)))
def test_fuzzed_checkpoint_bytes_are_one_line(data, paths):
    p = paths["base"] / "fuzz.pt"
    p.write_bytes(data)
    rc, out, err = _run(["evaluate", p])
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphcls: error:"), err
    if "could run code" in lines[0]:  # refused only as a pickle that names a global it would import
        assert "naming" in lines[0] or "GLOBAL" in lines[0], lines[0]


def test_the_real_command_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "PYG_GRAPHCLS_HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-m", "pyg_graphcls", "train", "--lr", "nan", "--out", str(tmp_path / "r")],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == "graphcls: error: --lr must be a finite number, got nan"
    assert not (tmp_path / "r").exists()
