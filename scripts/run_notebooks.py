"""Execute the notebooks in notebooks/ and store them with their outputs (figures as small PNGs).

    python scripts/run_notebooks.py                 # full settings, every notebook
    python scripts/run_notebooks.py --small 01 04   # GRAPHCLS_NB_SMALL=1, only the named ones

Each notebook runs in a fresh python3 kernel (nbclient) in a temporary working folder with its own
graph cache, as tests/test_notebooks.py runs them; the executed notebook replaces the stored one.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def shrink_png(data: str, max_side: int = 900, budget: int = 120_000) -> str:
    """A stored figure as a small PNG: at most ``max_side`` pixels wide or high, 256 colours when large."""
    import base64
    import io

    from PIL import Image

    raw = base64.b64decode(data)
    if len(raw) <= budget:
        return data
    im = Image.open(io.BytesIO(raw)).convert("RGB")
    im.thumbnail((max_side, max_side))
    im = im.quantize(colors=256)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


def run(path: Path, small: bool, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as work:
        os.environ.update({"GRAPHCLS_NB_SMALL": "1" if small else "0", "MPLBACKEND": "Agg",
                           "PYG_GRAPHCLS_HOME": os.environ.get("PYG_GRAPHCLS_HOME", str(Path(work) / "cache"))})
        NotebookClient(nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": work}}).execute()
    for cell in nb.cells:  # no machine-specific paths or library warnings in the stored outputs; figures small
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if not (o.get("name") == "stderr" and "Warning" in o["text"])]
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = out["text"].replace(tempfile.gettempdir(), "/tmp")
            if "image/png" in out.get("data", {}):
                out["data"]["image/png"] = shrink_png(out["data"]["image/png"])
    nbformat.write(nb, path)
    print(f"{path.name}: {sum(len(c.get('outputs', [])) for c in nb.cells)} outputs, {path.stat().st_size / 1024:.0f} KiB")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    p.add_argument("--small", action="store_true", help="GRAPHCLS_NB_SMALL=1 (tiny data, seconds)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = p.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.names:
        paths = [q for q in paths if any(q.name.startswith(n) for n in args.names)]
    if not paths:
        sys.exit("no notebook matches")
    for q in paths:
        run(q, args.small, args.timeout)


if __name__ == "__main__":
    main()
