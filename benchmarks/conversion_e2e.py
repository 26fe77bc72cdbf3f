"""End-to-end conversion, timed as a user times it, and where the time goes.

    python -m benchmarks.conversion --end-to-end [--ref-n 5000] [--photos-e2e 256,1024]

Part of ``benchmarks/conversion.py`` (``--end-to-end``). Two data sets:

- Fashion-MNIST (70,000 28x28 images, ``--dataset fashion-mnist``);
- 224x224 RGB photos: random crops of scikit-image's sample photos written as JPEG files
  (quality 90) into a class-per-folder tree (``--dataset folder:DIR``), so reading and
  decoding are part of the run; at each count of ``--photos-e2e`` (default 256 and 1,024: the
  command's fixed start-up is a large share of a few hundred photos).

For each, ``graphcls convert`` with default settings runs as a subprocess into a fresh cache
folder and is timed from launch to exit (start-up, reading, conversion, cache written). The
reference is PyG's ``ToSLIC(n_segments=75)`` + kNN(8) on one thread in this process, on the first
``--ref-n`` images of the same set (for the photos: read and decoded with PIL in the loop, as the
command reads them), extrapolated to the whole set at its measured rate. The ratio is
(images / command seconds) / (reference images per second).

The phase table comes from cProfile of the same command in process with ``--workers 1``
(a fresh subprocess), each function's own time given to a phase by its file or name, and the
time of library calls (``torch.cat``, numpy, ...) given to the phase of their callers.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHASES = ("start-up (imports, compiled module)", "read/decode", "segment (SLIC)", "connectivity",
          "features", "kNN + edge features", "collate/merge", "hash", "write (chunks, cache)", "other (Python glue)")

_RULES = [  # (phase, substrings of "file:function"), first match wins
    ("connectivity", ("connect_regions", "graphs/connectivity.py", "graphs/merge.py")),
    ("segment (SLIC)", ("slic_labels", "pixel_features", "graphs/batched_slic.py", "skimage/segmentation",
                        "regular_grid", "rgb_to_lab")),
    ("features", ("segment_sums", "graphs/features.py")),
    ("kNN + edge features", ("knn_small", "graphs/edges.py", "knn_graph")),
    ("hash", ("_fingerprint", "cache_key", "_hashlib", "hashlib")),
    ("write (chunks, cache)", ("pyg_graphcls/io.py", "torch/serialization.py", "write_record", "fsync", "posix.unlink",
                               "posix.rename", "posix.replace", "save_chunk", "load_chunk", "chunk_summary",
                               "write_index", "datasets/cache.py", "_weights_only_unpickler",
                               "get_storage_from_record", "zipfile", "shutil.py")),
    ("read/decode", ("datasets/idx.py", "datasets/folder.py", "PIL/", "graphs/image.py", "gzip.py", "zlib",
                     "_load_item", "_target_channels", "datasets/__init__.py:load_images")),
    ("collate/merge", ("graphs/storage.py", "torch_geometric/data/collate", "segments_to_storage",
                       "_convert_chunk_batched", "merge_storage")),
    ("start-up (imports, compiled module)", ("importlib", "marshal.loads", "create_dynamic", "exec_module",
                                             "cpp_extension", "graphs/_compiled.py", "builtins.exec",
                                             "_imp.", "<frozen")),
]


def _phase_of(key: tuple) -> str | None:
    name = f"{key[0]}:{key[2]}"
    for phase, subs in _RULES:
        if any(s in name for s in subs):
            return phase
    return None


def phase_table(stats) -> dict:
    """Seconds per phase from a :class:`pstats.Stats`: each function's own time goes to its phase;
    a function without one passes its own time to its callers' phases (in proportion to the time
    spent under each caller), up to six levels."""
    raw = stats.stats
    memo: dict = {}

    def shares(key, depth):  # key -> {phase: fraction}
        if key in memo:
            return memo[key]
        ph = _phase_of(key)
        if ph is not None:
            out = {ph: 1.0}
        elif depth >= 6 or not raw.get(key, (0, 0, 0, 0, {}))[4]:
            out = {"other (Python glue)": 1.0}
        else:
            callers = raw[key][4]
            tot = sum(v[3] for v in callers.values()) or 1.0
            out = {}
            for ck, v in callers.items():
                for p, f in shares(ck, depth + 1).items():
                    out[p] = out.get(p, 0.0) + f * v[3] / tot
        memo[key] = out
        return out

    table = {p: 0.0 for p in PHASES}
    for key, (_, _, tt, _, _) in raw.items():
        for p, f in shares(key, 0).items():
            table[p] += tt * f
    return table


def profile_convert(argv: list[str]) -> dict:
    """In this process: cProfile of ``graphcls convert`` with ``argv``; phases and wall seconds."""
    import cProfile
    import io
    import pstats

    t0 = time.perf_counter()
    pr = cProfile.Profile()
    pr.enable()
    from pyg_graphcls.cli import main
    rc = main(["convert"] + argv)
    pr.disable()
    wall = time.perf_counter() - t0
    s = pstats.Stats(pr, stream=io.StringIO())
    return {"rc": rc, "wall": wall, "phases": phase_table(s)}


def write_photo_folder(root: Path, n: int, size: int = 224) -> None:
    """``n`` JPEG photos (crops of scikit-image's samples) in 4 class folders under ``root``."""
    from PIL import Image

    from benchmarks.conversion import photos

    imgs = photos(n, size)
    for i, im in enumerate(imgs):
        d = root / f"class{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(d / f"{i:05d}.jpg", quality=90)


def reference_rate(dataset: str, n: int) -> float:
    """Images per second of ToSLIC(75) + kNN(8), one thread, on the first ``n`` images of ``dataset``
    (paths are read and decoded with PIL inside the timed loop)."""
    import torch
    from torch_geometric.transforms import ToSLIC

    from pyg_graphcls.datasets import load_images, read_image
    from pyg_graphcls.graphs.edges import knn_graph

    torch.set_num_threads(1)
    tri, _, tei, _, _, _ = load_images(dataset)
    items = list(tri[:n]) + list(tei[:max(0, n - len(tri))])
    c = 0.1 if np.asarray(read_image(items[0]) if isinstance(items[0], (str, os.PathLike)) else items[0]).ndim == 2 \
        else 10.0
    tf = ToSLIC(n_segments=75, compactness=c)

    def run(batch):
        for it in batch:
            im = read_image(it) if isinstance(it, (str, os.PathLike)) else it
            chw = torch.from_numpy(np.ascontiguousarray(im)).float().div_(255.0)
            chw = chw.unsqueeze(0) if chw.dim() == 2 else chw.permute(2, 0, 1)
            data = tf(chw)
            data.edge_index = knn_graph(data.pos, 8)

    run(items[:20])
    t = time.perf_counter()
    run(items)
    return len(items) / (time.perf_counter() - t)


def command_seconds(dataset: str, extra: list[str] = ()) -> tuple[float, str]:
    """Wall seconds of ``python -m pyg_graphcls convert --dataset DATASET`` into a fresh cache folder."""
    out = tempfile.mkdtemp(prefix="e2e-cache-")
    try:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pyg_graphcls", "convert", "--dataset", dataset, "--out", out,
                            "--quiet", *extra], capture_output=True, text=True)
        sec = time.perf_counter() - t
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return sec, r.stdout.strip().splitlines()[0]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def profile_in_subprocess(dataset: str) -> dict:
    out = tempfile.mkdtemp(prefix="e2e-prof-")
    try:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "benchmarks.conversion", "--profile-convert", dataset, out],
                           capture_output=True, text=True, check=True)
        total = time.perf_counter() - t
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["phases"]["start-up (imports, compiled module)"] += max(0.0, total - res["wall"])  # interpreter, exit
        res["total"] = total
        return res
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _photo_counts(photo_n) -> list[int]:
    """``--photos-e2e``: one count or a comma list (``256,1024``)."""
    if isinstance(photo_n, int):
        return [photo_n]
    return sorted({int(t) for t in str(photo_n).split(",") if t.strip()})


def end_to_end(ref_n: int = 5000, photo_n="256,1024", profile: bool = True) -> dict:
    """Fashion-MNIST, then the photo folder at each count of ``photo_n``: the command's fixed start-up
    weighs less the more photos it converts, so the ratio is given at every count. The photos of a
    smaller count are the first ones of the largest (hard links); the reference rate is measured once,
    on the first ``min(ref_n, largest count)`` photos, and shared by the counts."""
    from pyg_graphcls.datasets import load_images

    counts = _photo_counts(photo_n)
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="e2e-photos-"))
    try:
        write_photo_folder(tmp / "photos", max(counts))
        sets = [("fashion-mnist", "fashion-mnist")]
        for c in counts:
            folder = tmp / "photos" if c == max(counts) else tmp / f"photos-{c}"
            if c != max(counts):
                files = sorted((tmp / "photos").rglob("*.jpg"), key=lambda f: f.name)[:c]
                for f in files:
                    (folder / f.parent.name).mkdir(parents=True, exist_ok=True)
                    os.link(f, folder / f.parent.name / f.name)
            sets.append((f"photos-224 ({c})" if len(counts) > 1 else "photos-224", f"folder:{folder}"))
        photo_ref = None
        for key, ds in sets:
            tri, _, tei, _, _, _ = load_images(ds)
            n = len(tri) + len(tei)
            sec, line = command_seconds(ds)
            if ds.startswith("folder:"):
                if photo_ref is None:
                    big = f"folder:{tmp / 'photos'}"
                    photo_ref = (reference_rate(big, min(ref_n, max(counts))), min(ref_n, max(counts)))
                ref, timed = photo_ref
            else:
                ref, timed = reference_rate(ds, min(ref_n, n)), min(ref_n, n)
            r = {"images": n, "command_s": sec, "command_img_s": n / sec, "ref_img_s": ref,
                 "ref_n": timed, "ratio": n / sec / ref, "output": line}
            if profile:
                r["profile"] = profile_in_subprocess(ds)
            results[key] = r
            print(key, json.dumps(r), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def print_tables(results: dict) -> None:
    print("\n| data set | images | `graphcls convert` (s, start to cache written) | img/s | "
          "ToSLIC(75)+kNN-8, 1 thread (img/s; images timed) | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key, r in results.items():
        print(f"| {key} | {r['images']:,} | {r['command_s']:.1f} | {r['command_img_s']:,.0f} | "
              f"{r['ref_img_s']:,.0f} ({r['ref_n']:,}) | {r['ratio']:.1f}x |")
    prof = {k: r["profile"] for k, r in results.items() if "profile" in r}
    if prof:
        print("\nWhere the time goes (cProfile, `--workers 1`, seconds and share):\n")
        print("| phase | " + " | ".join(prof) + " |")
        print("| --- |" + " --- |" * len(prof))
        for p in PHASES:
            cells = [f"{v['phases'][p]:.2f} ({100 * v['phases'][p] / v['total']:.0f} %)" for v in prof.values()]
            print(f"| {p} | " + " | ".join(cells) + " |")
        print("| total (process) | " + " | ".join(f"{v['total']:.2f}" for v in prof.values()) + " |")
