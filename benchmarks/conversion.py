"""Conversion speed and quality: batched SLIC (``superpixel_graphs``) vs PyG ``ToSLIC`` + kNN(8).

    python -m benchmarks.conversion [--quick] [--n 10000] [--workers 2] [--rounds 2] [--scaling]
    python -m benchmarks.conversion --merge 1000
    python -m benchmarks.conversion --quality [--quality-n 1000]
    python -m benchmarks.conversion --end-to-end [--ref-n 5000] [--photos-e2e 256,1024]

Both sides run in this process on the same images, alternating rounds; the
best round of each counts. Reference: ``torch_geometric.transforms.ToSLIC``
(``n_segments=75``; compactness 0.1 for grayscale, scikit-image's 10 for RGB,
the package defaults) then ``knn_graph(pos, 8)`` (our kNN: torch-cluster is
not installed), one image per call, one torch thread. Fast path:
:func:`pyg_graphcls.graphs.superpixels.superpixel_graphs` with one thread and
with ``--workers`` processes. Quality: per-image segment counts, boundary
recall (tolerance 1 and 2 px) and under-segmentation error of the fast
segmentation against scikit-image's ``slic`` on the same images, next to a
plain regular grid (no clustering) as the floor. ``--scaling`` converts 1k,
10k and 70k Fashion-MNIST images, each in a fresh process, and reports time
and peak resident memory.

``--merge N`` only compares, on N Fashion-MNIST test images, scikit-image's SLIC as the
superpixel recipes run it (its connectivity step) with ``merge="ward"`` (connected pieces
merged by Ward's criterion to 75, :mod:`pyg_graphcls.graphs.merge`) and with the raw SLIC labels
(no connectivity at all): regions and connected pieces per image, the mean-colour picture's
RMSE (grey levels) and explained variation, and milliseconds per image (segmentation only).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from pyg_graphcls.graphs.edges import knn_graph
from pyg_graphcls.graphs.batched_slic import _COARSE_MIN, _grid, batched_slic
from pyg_graphcls.graphs.superpixels import superpixel_graphs
from pyg_graphcls.graphs.quality import boundary_recall, segment_count, undersegmentation_error
from pyg_graphcls.graphs.superpixels import slic_segments


def fashion(n: int):
    from pyg_graphcls.datasets import load_images
    try:
        out = load_images("fashion-mnist")
    except Exception:
        out = load_images("sample")
    imgs = np.concatenate([out[0], out[2]])[:n]
    labels = np.concatenate([out[1], out[3]])[:n]
    return imgs, labels


def photos(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """``n`` RGB ``size x size`` crops (random scale, position, flip) of scikit-image's sample photos."""
    import skimage.data as d
    from skimage.transform import resize

    srcs = [getattr(d, name)() for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                                            "hubble_deep_field", "colorwheel", "cat")]
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        src = srcs[i % len(srcs)][..., :3]
        h, w = src.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = src[y0:y0 + side, x0:x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = (resize(crop, (size, size), anti_aliasing=True) * 255).round().astype(np.uint8)
    return out


def reference(imgs: np.ndarray, compactness: float) -> float:
    """Seconds for ToSLIC + kNN(8) over all images, one per call."""
    from torch_geometric.transforms import ToSLIC

    tf = ToSLIC(n_segments=75, compactness=compactness)
    t = time.perf_counter()
    for im in imgs:
        chw = torch.from_numpy(im).float().div_(255.0)
        chw = chw.unsqueeze(0) if chw.dim() == 2 else chw.permute(2, 0, 1)
        data = tf(chw)
        data.edge_index = knn_graph(data.pos, 8)
    return time.perf_counter() - t


def fast(imgs: np.ndarray, workers: int) -> float:
    t = time.perf_counter()
    superpixel_graphs(imgs, n_segments=75, workers=workers, chunk=256)
    return time.perf_counter() - t


def speed(imgs: np.ndarray, compactness: float, workers: int, rounds: int) -> dict:
    torch.set_num_threads(1)
    fast(imgs[:64], 1)  # build/load the compiled kernel, warm caches
    ref, f1, fw = [], [], []
    for _ in range(rounds):  # interleaved rounds, best of each side
        ref.append(reference(imgs, compactness))
        f1.append(fast(imgs, 1))
        fw.append(fast(imgs, workers))
    n = len(imgs)
    r = {"n": n, "ref_img_s": n / min(ref), "fast1_img_s": n / min(f1), "fastw_img_s": n / min(fw),
         "workers": workers, "rounds": rounds}
    r["ratio_1thread"] = r["fast1_img_s"] / r["ref_img_s"]
    r["ratio_workers"] = r["fastw_img_s"] / r["ref_img_s"]
    return r


def _grid_labels(h: int, w: int, n: int) -> np.ndarray:
    cy, cx, _, cand = _grid(h, w, n)
    return cand[:, 4].reshape(h, w)  # the home cell of each pixel: a regular grid


def quality(imgs: np.ndarray, compactness: float) -> dict:
    lab, cnt = batched_slic(imgs, 75, compactness)
    lab = lab.numpy()
    grid = _grid_labels(imgs.shape[1], imgs.shape[2], 75)
    rows = {"fast": [], "grid": []}
    counts_ref = []
    for i, im in enumerate(imgs):
        f = im.astype(np.float64) / 255.0
        f = f[..., None] if f.ndim == 2 else f
        ref = slic_segments(f, 75, compactness)
        counts_ref.append(segment_count(ref))
        for name, seg in (("fast", lab[i]), ("grid", grid)):
            rows[name].append((segment_count(seg), boundary_recall(seg, ref, 1), boundary_recall(seg, ref, 2),
                               undersegmentation_error(seg, ref)))
    out = {"n": len(imgs), "skimage_segments_median": statistics.median(counts_ref)}
    for name, r in rows.items():
        a = np.array(r)
        out[name] = {"segments_median": float(np.median(a[:, 0])), "segments_min": int(a[:, 0].min()),
                     "segments_max": int(a[:, 0].max()), "boundary_recall_1px": float(a[:, 1].mean()),
                     "boundary_recall_2px": float(a[:, 2].mean()), "undersegmentation_error": float(a[:, 3].mean())}
    return out


def tone_regions(imgs: np.ndarray) -> np.ndarray:
    """A reference segmentation of grey images: 4-connected pieces of 4 tone bands (0, 1-85, 86-170,
    171-255): the object's outline against the background and its main tone changes."""
    from skimage.measure import label
    bands = np.digitize(imgs, [1, 86, 171])
    return np.stack([label(b + 1, connectivity=1, background=0) for b in bands])


def collages(n: int, size: int = 224, cells: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` RGB images whose exact segmentation is known: the Voronoi cells of ``cells`` random
    points, each filled with its own photo crop (:func:`photos`); and the cell index of every pixel."""
    rng = np.random.default_rng(seed)
    src = photos(n * cells, size, seed=seed)
    yy, xx = np.mgrid[:size, :size]
    imgs = np.empty((n, size, size, 3), np.uint8)
    gts = np.empty((n, size, size), np.int64)
    for i in range(n):
        pts = rng.uniform(0, size, (cells, 2))
        gt = ((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2).argmin(-1)
        imgs[i] = src[i * cells:(i + 1) * cells][gt, yy, xx]
        gts[i] = gt
    return imgs, gts


FULL_RES = "batched, full-resolution rounds, connected"


def seg_quality(imgs: np.ndarray, gts: np.ndarray, compactness: float, n_segments: int = 75) -> dict:
    """Each segmentation of ``imgs`` side by side against the reference ``gts``: regions per image,
    connected pieces per region, under-segmentation error, boundary recall (1 and 2 px), explained
    variation of the mean-colour picture, and ms per image (segmentation only, one thread)."""
    from pyg_graphcls.graphs.merge import connected_pieces
    from pyg_graphcls.graphs.quality import explained_variation

    torch.set_num_threads(1)
    batched_slic(imgs[:4], n_segments, compactness)  # build/load the compiled kernel
    segs = {}
    t = time.perf_counter()
    segs["skimage slic (reference)"] = np.stack([
        slic_segments((im.astype(np.float64) / 255.0)[..., None] if im.ndim == 2 else im.astype(np.float64) / 255.0,
                      n_segments, compactness) for im in imgs])
    ms = {"skimage slic (reference)": 1000 * (time.perf_counter() - t) / len(imgs)}
    runs = [("batched, connected (default)", True, None), ("batched, raw clusters", False, None)]
    if _grid(imgs.shape[1], imgs.shape[2], n_segments)[2] >= _COARSE_MIN:  # the default runs coarse to fine
        runs += [(FULL_RES, True, False), ("batched, full-resolution rounds, raw clusters", False, False)]
    for name, conn, coarse in runs:
        t = time.perf_counter()
        segs[name] = batched_slic(imgs, n_segments, compactness, connectivity=conn, coarse=coarse)[0].numpy()
        ms[name] = 1000 * (time.perf_counter() - t) / len(imgs)
    segs["regular grid (floor)"] = np.broadcast_to(_grid_labels(imgs.shape[1], imgs.shape[2], n_segments),
                                                   imgs.shape[:3])
    ms["regular grid (floor)"] = 0.0
    out = {}
    for name, seg in segs.items():
        rows = []
        for im, gt, sg in zip(imgs, gts, seg):
            k = segment_count(sg)
            rows.append((k, (int(connected_pieces(sg).max()) + 1) / k, undersegmentation_error(sg, gt),
                         boundary_recall(sg, gt, 1), boundary_recall(sg, gt, 2), explained_variation(sg, im)))
        a = np.array(rows)
        out[name] = {"regions_mean": a[:, 0].mean(), "regions_min": int(a[:, 0].min()),
                     "regions_max": int(a[:, 0].max()), "pieces_per_region": a[:, 1].mean(),
                     "use": a[:, 2].mean(), "br1": a[:, 3].mean(), "br2": a[:, 4].mean(), "ev": a[:, 5].mean(),
                     "ms": ms[name], "per_image": a[:, 2:]}
    return out


def print_seg_quality(title: str, q: dict) -> None:
    print(f"\n{title}\n")
    print("| segmentation | regions (mean, min-max) | pieces per region | under-segmentation error | "
          "boundary recall 1 px / 2 px | explained variation | ms/image (1 thread) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in q.items():
        print(f"| {name} | {r['regions_mean']:.1f} ({r['regions_min']}-{r['regions_max']}) | "
              f"{r['pieces_per_region']:.2f} | {r['use']:.4f} | {r['br1']:.3f} / {r['br2']:.3f} | {r['ev']:.3f} | "
              f"{r['ms']:.2f} |")
    if FULL_RES in q:  # the default (coarse to fine) minus the full-resolution rounds, image by image
        d = q["batched, connected (default)"]["per_image"] - q[FULL_RES]["per_image"]
        se = d.std(0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.zeros(d.shape[1])
        print("\ndefault (coarse to fine) minus full-resolution rounds, both connected, paired over images (mean ± "
              "standard error): " + ", ".join(f"{n} {m:+.4f} ± {e:.4f}" for n, m, e in
                                              zip(("under-segmentation error", "boundary recall 1 px", "2 px",
                                                   "explained variation"), d.mean(0), se)))


def merge_quality(imgs: np.ndarray, n_segments: int = 75, compactness: float = 0.1) -> dict:
    """Per-segmentation means over ``imgs`` (uint8 ``[N, H, W]``): regions, pieces, RMSE, EV, ms/img."""
    from pyg_graphcls.graphs.merge import connected_pieces, ward_merge
    from pyg_graphcls.graphs.quality import explained_variation, mean_colour_rmse

    def skimage_default(f):
        return slic_segments(f, n_segments, compactness)

    def ward(f):
        return ward_merge(slic_segments(f, n_segments, compactness, enforce_connectivity=False), f, n_segments)

    def raw(f):
        return slic_segments(f, n_segments, compactness, enforce_connectivity=False)

    out = {}
    for name, fn in (("skimage (connectivity step)", skimage_default), ("ward merge", ward),
                     ("raw SLIC labels (not connected)", raw)):
        rows, sec = [], 0.0
        for im in imgs:
            f = (im.astype(np.float64) / 255.0)[..., None]
            t = time.perf_counter()
            seg = fn(f)
            sec += time.perf_counter() - t
            rows.append((segment_count(seg), int(connected_pieces(seg).max()) + 1, mean_colour_rmse(seg, im),
                         explained_variation(seg, im)))
        a = np.array(rows, dtype=np.float64)
        out[name] = {"regions_mean": a[:, 0].mean(), "regions_min": int(a[:, 0].min()),
                     "regions_max": int(a[:, 0].max()), "pieces_mean": a[:, 1].mean(),
                     "rmse": float(np.sqrt((a[:, 2] ** 2).mean())), "explained_variation": a[:, 3].mean(),
                     "ms_per_image": 1000 * sec / len(imgs)}
    return out


def scale_one(n: int, workers: int) -> dict:
    imgs, labels = fashion(n)
    imgs = np.resize(imgs, (n,) + imgs.shape[1:]) if len(imgs) < n else imgs
    labels = np.resize(labels, n)
    torch.set_num_threads(1)
    superpixel_graphs(imgs[:64], n_segments=75)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    data, slices = superpixel_graphs(imgs, labels, n_segments=75, workers=workers, chunk=256)
    sec = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    stored = sum(v.numel() * v.element_size() for v in list(data.values()) + list(slices.values()))
    return {"n": n, "seconds": sec, "img_s": n / sec, "peak_rss_mb": peak / 1024, "rss_before_mb": base / 1024,
            "worker_peak_rss_mb": kids / 1024, "storage_mb": stored / 2 ** 20, "input_mb": imgs.nbytes / 2 ** 20}


def _header() -> None:
    import os
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}; "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}; {os.cpu_count()} CPUs", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 small images, 16 photos, 1 round")
    ap.add_argument("--n", type=int, default=10000, help="28x28 images timed")
    ap.add_argument("--photos", type=int, default=48, help="224x224 photos timed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quality-n", type=int, default=1000)
    ap.add_argument("--scaling", action="store_true", help="also 1k/10k/70k time and memory (fresh processes)")
    ap.add_argument("--scale-one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--merge", type=int, default=0, metavar="N",
                    help="only compare SLIC's connectivity step with Ward merging on N test images")
    ap.add_argument("--quality", action="store_true",
                    help="only segmentation quality, batched (connected / raw; for photos also the full-resolution "
                         "rounds beside the coarse-to-fine default) vs scikit-image vs a grid, against reference "
                         "segmentations (--quality-n Fashion-MNIST images, --collages photo collages)")
    ap.add_argument("--collages", type=int, default=100, help="--quality: 224x224 collages")
    ap.add_argument("--end-to-end", action="store_true",
                    help="only `graphcls convert` as a subprocess vs ToSLIC+kNN, and the phase table "
                         "(benchmarks/conversion_e2e.py)")
    ap.add_argument("--ref-n", type=int, default=5000, help="--end-to-end: reference images timed")
    ap.add_argument("--photos-e2e", default="256,1024",
                    help="--end-to-end: 224x224 JPEG photos converted, one count or a comma list (each timed)")
    ap.add_argument("--no-profile", action="store_true", help="--end-to-end: skip the phase table")
    ap.add_argument("--profile-convert", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.profile_convert:
        from benchmarks.conversion_e2e import profile_convert
        ds, out = args.profile_convert
        print(json.dumps(profile_convert(["--dataset", ds, "--out", out, "--quiet", "--workers", "1"])))
        return
    if args.quality:
        _header()
        small = fashion(70000)[0][-args.quality_n:]  # Fashion-MNIST test images
        print_seg_quality(f"Fashion-MNIST 28x28, {len(small)} test images, n_segments 75, compactness 0.1; "
                          "reference: 4-connected pieces of 4 tone bands", seg_quality(small, tone_regions(small), 0.1))
        imgs, gts = collages(args.collages)
        print_seg_quality(f"224x224 RGB photo collages, {len(imgs)} images (6 Voronoi cells, each its own photo "
                          "crop), n_segments 75, compactness 10; reference: the cells",
                          seg_quality(imgs, gts, 10.0))
        return
    if args.end_to_end:
        from benchmarks.conversion_e2e import end_to_end, print_tables
        _header()
        print_tables(end_to_end(args.ref_n, args.photos_e2e, not args.no_profile))
        return
    if args.merge:
        from pyg_graphcls.datasets import load_images
        imgs = load_images("fashion-mnist")[2][:args.merge]
        print(f"{len(imgs)} Fashion-MNIST test images, n_segments 75, compactness 0.1")
        print("| segmentation | regions (mean, min-max) | connected pieces | RMSE of the mean-colour picture | "
              "explained variation | ms/image |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, r in merge_quality(imgs).items():
            print(f"| {name} | {r['regions_mean']:.1f} ({r['regions_min']}-{r['regions_max']}) | "
                  f"{r['pieces_mean']:.1f} | {r['rmse']:.2f} | {r['explained_variation']:.3f} | "
                  f"{r['ms_per_image']:.2f} |")
        return
    if args.scale_one is not None:
        print(json.dumps(scale_one(args.scale_one, args.workers)))
        return
    if args.quick:
        args.n, args.photos, args.rounds, args.quality_n = 1000, 16, 1, 200
    _header()
    small, _ = fashion(args.n)
    big = photos(args.photos)
    results = {}
    results["fmnist_28"] = speed(small, 0.1, args.workers, args.rounds)
    print("28x28 grayscale", json.dumps(results["fmnist_28"]), flush=True)
    results["photo_224"] = speed(big, 10.0, args.workers, args.rounds)
    print("224x224 RGB", json.dumps(results["photo_224"]), flush=True)
    results["quality_28"] = quality(small[:args.quality_n], 0.1)
    print("quality 28x28", json.dumps(results["quality_28"]), flush=True)
    results["quality_224"] = quality(big[:min(len(big), 32)], 10.0)
    print("quality 224x224", json.dumps(results["quality_224"]), flush=True)
    if args.scaling:
        results["scaling"] = []
        for n in (1000, 10000, 70000):
            out = subprocess.run([sys.executable, "-m", "benchmarks.conversion", "--scale-one", str(n),
                                  "--workers", str(args.workers)], capture_output=True, text=True, check=True)
            results["scaling"].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print("scaling", results["scaling"][-1], flush=True)
    print("\n| images | reference ToSLIC+kNN (img/s, 1 thread) | fast, 1 thread (img/s) | ratio | "
          f"fast, {args.workers} workers (img/s) | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key, name in (("fmnist_28", "Fashion-MNIST 28x28 gray"), ("photo_224", "photos 224x224 RGB")):
        r = results[key]
        print(f"| {name}, {r['n']:,} | {r['ref_img_s']:,.0f} | {r['fast1_img_s']:,.0f} | {r['ratio_1thread']:.1f}x | "
              f"{r['fastw_img_s']:,.0f} | {r['ratio_workers']:.1f}x |")
    print("\n| images | segmentation | segments (median, min-max; skimage median) | boundary recall 1 px / 2 px | "
          "under-segmentation error |")
    print("| --- | --- | --- | --- | --- |")
    for key, name in (("quality_28", "28x28"), ("quality_224", "224x224")):
        q = results[key]
        for seg in ("fast", "grid"):
            s = q[seg]
            print(f"| {name} ({q['n']}) | {seg} | {s['segments_median']:.0f} ({s['segments_min']}-{s['segments_max']}; "
                  f"{q['skimage_segments_median']:.0f}) | {s['boundary_recall_1px']:.3f} / "
                  f"{s['boundary_recall_2px']:.3f} | {s['undersegmentation_error']:.3f} |")
    if args.scaling:
        print("\n| images | seconds | img/s | peak RSS main (MB) | peak RSS worker (MB) | stored graphs (MB) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in results["scaling"]:
            print(f"| {r['n']:,} | {r['seconds']:.1f} | {r['img_s']:,.0f} | {r['peak_rss_mb']:.0f} | "
                  f"{r['worker_peak_rss_mb']:.0f} | {r['storage_mb']:.1f} |")


if __name__ == "__main__":
    main()
