"""Run every notebook in notebooks/ with small settings: a broken notebook fails the suite.

Each notebook runs in a fresh ``python3`` kernel (nbclient) with
``GRAPHCLS_NB_SMALL=1`` (tiny data, one epoch), its working directory and the
graph cache (``PYG_GRAPHCLS_HOME``) in a temporary folder. Any cell error fails
the test with the cell's traceback. The committed notebooks carry their outputs
(figures as small PNGs, so they show in the repository; ``scripts/run_notebooks.py``
stores them), with no error among them.

The kernel: jupyter_client finds ``python3`` among the installed kernel specs
(ipykernel ships one, and jupyter_client falls back to ipykernel's own when no
spec is on disk). A ``python3`` spec that would start another interpreter
(e.g. a user-level spec of a different Python, without this package) is not
used: a spec launching ``sys.executable`` is installed into a temporary
prefix and put first on ``JUPYTER_PATH`` for the session instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT = 300


def _runs_this_python(argv: list[str]) -> bool:
    """Would this kernel argv start the interpreter running the tests?"""
    if not argv:
        return False
    exe = argv[0]
    # jupyter_client swaps a bare "python"/"python3"/"python3.X" for sys.executable
    bare = {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}
    if exe in bare:
        return True
    try:
        return Path(exe).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False


def install_python3_kernel(prefix: Path) -> Path:
    """Install a ``python3`` kernel spec running ``sys.executable`` under ``prefix``;
    returns the folder to put on ``JUPYTER_PATH``."""
    from ipykernel.kernelspec import install

    install(prefix=str(prefix), kernel_name=KERNEL, display_name="Python 3 (pyg_graphcls tests)")
    return prefix / "share" / "jupyter"


@pytest.fixture(scope="session")
def python3_kernel(tmp_path_factory):
    """Make sure the ``python3`` kernel exists and runs this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        usable = _runs_this_python(spec.argv)
    except NoSuchKernel:
        usable = False
    if usable:
        yield KERNEL
        return
    old = os.environ.get("JUPYTER_PATH")
    path = install_python3_kernel(tmp_path_factory.mktemp("jupyter-prefix"))
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(path)] + ([old] if old else []))
    try:
        assert _runs_this_python(KernelSpecManager().get_kernel_spec(KERNEL).argv)
        yield KERNEL
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def test_notebooks_present_and_committed_with_their_figures():
    names = [p.name for p in NOTEBOOKS]
    assert {"01_image_to_graph.ipynb", "02_superpixel_benchmark.ipynb", "03_label_graphs.ipynb",
            "04_predict_and_explain.ipynb"} <= set(names)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path.name
        for c in code:
            assert c.execution_count is not None, f"{path.name}: a cell was not executed"
            assert not [o for o in c.outputs if o.output_type == "error"], f"{path.name}: stored with an error"
        pngs = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
        assert len(pngs) >= 3, f"{path.name}: only {len(pngs)} stored figures"
        assert path.stat().st_size < 3 * 2 ** 20, f"{path.name}: {path.stat().st_size} bytes"
        # every notebook honours the small-settings switch the tests rely on
        assert any("GRAPHCLS_NB_SMALL" in c.source for c in code), path.name


def test_kernel_spec_fallback_installs_this_python(tmp_path):
    """The fallback the fixture uses when no usable ``python3`` spec exists."""
    from jupyter_client.kernelspec import KernelSpecManager

    path = install_python3_kernel(tmp_path)
    ksm = KernelSpecManager(kernel_dirs=[str(path / "kernels")], ensure_native_kernel=False)
    assert KERNEL in ksm.find_kernel_specs()
    spec = ksm.get_kernel_spec(KERNEL)
    assert _runs_this_python(spec.argv) and spec.argv[0] == sys.executable


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, python3_kernel, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCLS_NB_SMALL", "1")
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the notebooks switch to inline themselves
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=python3_kernel, timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(work)}})
    try:
        client.execute()
    except CellExecutionError as e:  # the traceback of the failing cell, not nbclient's
        pytest.fail(f"{path.name} failed:\n{e}", pytrace=False)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the notebooks are about pictures: each must have drawn some
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 3, f"{path.name}: only {len(pngs)} figures displayed"
