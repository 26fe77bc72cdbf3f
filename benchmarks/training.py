"""Training speed and accuracy: the packed dense GCN path vs plain PyG (DataLoader + GCNConv).

    python -m benchmarks.training [--quick] [--parts speed,accuracy,conversion,scaling,grid] [--threads 2,1]

speed: the registry ``gcn`` (4 x GCNConv 64, max ⊕ mean, batch 64, Adam) trained
one epoch at a time on the same superpixel graphs (Fashion-MNIST, 75 segments,
kNN 8) by (a) PyG's ``DataLoader`` over a list of ``Data`` (``Batch.from_data_list``
per batch) and the model's PyG forward, (b) :class:`PackedGraphs` batches and
the model's dense forward. Same model object, rounds interleaved, best round of
each side, graphs/s include batching. accuracy: the same model trained by the
``Trainer`` on the bundled sample (5000/1000) through both paths, same seed.
conversion: the same model (fast path) trained on graphs from scikit-image's
``slic`` and from the batched SLIC. scaling: seconds per epoch vs number of
graphs (75 nodes) and vs graph size (75, 300, 784 segments), both paths.
grid (not in the default parts): ``dirconv-grid`` training steps on 28x28 pixel-grid
batches by message passing and by its dense ``conv2d`` path, next to the ``cnn``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from benchmarks import print_md_table
from pyg_graphcls.graphs.storage import storage_to_list
from pyg_graphcls.graphs.superpixels import superpixel_graphs
from pyg_graphcls.models import create_model
from pyg_graphcls.train.fast import PackedGraphs


def graphs(n: int, n_segments: int = 75, source: str = "fashion-mnist"):
    from pyg_graphcls.datasets import load_images
    try:
        out = load_images(source)
    except Exception:
        out = load_images("sample")
    imgs, labels = out[0][:n], out[1][:n]
    return superpixel_graphs(imgs, labels, n_segments=n_segments, workers=2, chunk=256)


def run_epoch(model, batches, opt, max_batches=None) -> tuple[float, int]:
    """Train one pass over ``batches`` (a PyG DataLoader or a PackedLoader); seconds include batching."""
    model.train()
    t, n = time.perf_counter(), 0
    for i, b in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        loss = F.cross_entropy(model(b), b.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += b.num_graphs
    return time.perf_counter() - t, n


def pyg_epoch(model, data_list, opt, batch_size=64, max_batches=None) -> tuple[float, int]:
    from torch_geometric.loader import DataLoader
    return run_epoch(model, DataLoader(data_list, batch_size=batch_size, shuffle=True), opt, max_batches)


def fast_epoch(model, packed, opt, batch_size=64, max_batches=None) -> tuple[float, int]:
    return run_epoch(model, packed.loader(batch_size, shuffle=True), opt, max_batches)


def speed(store, threads: int, rounds: int, max_batches=None) -> dict:
    torch.set_num_threads(threads)
    data_list = storage_to_list(*store)
    t0 = time.perf_counter()
    packed = PackedGraphs(store)
    t_pack = time.perf_counter() - t0
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=packed.num_features, num_classes=10)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    ref, fast = [], []
    for _ in range(rounds):
        s, n = pyg_epoch(model, data_list, opt, max_batches=max_batches)
        ref.append(n / s)
        s, n = fast_epoch(model, packed, opt, max_batches=max_batches)
        fast.append(n / s)
    return {"graphs": len(data_list), "threads": threads, "nodes_max": packed.max_nodes,
            "nodes_mean": float(packed.num_nodes.float().mean()), "pack_seconds": t_pack,
            "pyg_graphs_s": max(ref), "fast_graphs_s": max(fast), "ratio": max(fast) / max(ref),
            "pyg_rounds": ref, "fast_rounds": fast}


def grid_speed(n: int, threads: int, rounds: int) -> dict:
    """``dirconv-grid`` training steps on 28x28 8-neighbour grid batches: message passing vs the dense
    ``conv2d`` path (same model object, same batches, rounds interleaved), and the ``cnn`` of the same
    layout on the raw images as the reference; graphs/s exclude batching, which is timed apart."""
    import numpy as np
    from torch_geometric.data import Batch
    from pyg_graphcls.datasets import load_images
    from pyg_graphcls.graphs import pixel_grid_graph
    GRID_GRAPH = {"connectivity": 8, "position": True}  # references/configs/dirconv-grid.toml
    torch.set_num_threads(threads)
    imgs, labels = load_images("fashion-mnist")[:2]
    imgs, labels = imgs[:n], labels[:n].astype(np.int64)
    t0 = time.perf_counter()
    batches = [Batch.from_data_list([pixel_grid_graph(im, y=int(lab), **GRID_GRAPH)
                                     for im, lab in zip(imgs[i:i + 64], labels[i:i + 64])])
               for i in range(0, n, 64)]
    t_build = time.perf_counter() - t0
    images = [(torch.from_numpy(imgs[i:i + 64]).float().div(255).unsqueeze(1), torch.from_numpy(labels[i:i + 64]))
              for i in range(0, n, 64)]
    torch.manual_seed(0)
    model = create_model("dirconv-grid", in_channels=batches[0].x.size(1), num_classes=10)
    cnn = create_model("cnn", in_channels=1, num_classes=10)
    opts = {"model": torch.optim.Adam(model.parameters(), 1e-3), "cnn": torch.optim.Adam(cnn.parameters(), 1e-3)}

    def steps(net, opt, items) -> float:
        net.train()
        t = time.perf_counter()
        for inp, y in items:
            loss = F.cross_entropy(net(inp), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return n / (time.perf_counter() - t)

    rates = {"message_passing": [], "dense": [], "cnn": []}
    for _ in range(rounds):
        for side in ("message_passing", "dense"):
            model.dense_grid = side == "dense"
            rates[side].append(steps(model, opts["model"], [(b, b.y) for b in batches]))
        rates["cnn"].append(steps(cnn, opts["cnn"], images))
    best = {k: max(v) for k, v in rates.items()}
    return {"graphs": n, "threads": threads, "build_collate_graphs_s": n / t_build, **{f"{k}_graphs_s": v for k, v in
            best.items()}, "ratio_dense_vs_mp": best["dense"] / best["message_passing"],
            "ratio_dense_vs_cnn": best["dense"] / best["cnn"], "rounds": rates}


def accuracy(epochs: int, seed: int = 0, threads: int = 2) -> dict:
    """The Trainer on the sample through the PyG path and the packed path (same seed, same split)."""
    from pyg_graphcls.datasets import load_dataset
    from pyg_graphcls.train import Trainer, split_dataset

    torch.set_num_threads(threads)
    splits = load_dataset("sample", progress=False)
    out = {}
    for name in ("pyg", "fast"):
        tr, va = split_dataset(splits.train, 0.1, seed)
        test = splits.test
        if name == "fast":
            tr, va, test = PackedGraphs(tr), PackedGraphs(va), PackedGraphs(test)
        torch.manual_seed(seed)
        model = create_model("gcn", in_channels=splits.num_features, num_classes=splits.num_classes)
        t = Trainer(model, epochs=epochs, lr=1e-2, seed=seed, progress=False, eval_train_size=0)
        s = time.perf_counter()
        t.fit(tr, va)
        out[name] = {"test_accuracy": t.evaluate(test)["accuracy"], "fit_seconds": time.perf_counter() - s}
    out["difference_points"] = 100 * (out["fast"]["test_accuracy"] - out["pyg"]["test_accuracy"])
    return out


def conversion_accuracy(epochs: int, seeds: Sequence[int] = (0,), threads: int = 2) -> dict:
    """The same model (packed path) on scikit-image SLIC graphs vs batched-SLIC graphs of the sample,
    for each seed (split, initialisation and batch order follow the seed; both sides share it)."""
    runs = [_conversion_accuracy_one(epochs, s, threads) for s in seeds]
    out = {"seeds": list(seeds), "runs": runs}
    for name in ("skimage", "fast"):
        acc = [100 * r[name]["test_accuracy"] for r in runs]
        out[name] = {"mean": statistics.mean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else 0.0}
    out["difference_points"] = out["fast"]["mean"] - out["skimage"]["mean"]
    return out


def _conversion_accuracy_one(epochs: int, seed: int, threads: int) -> dict:
    from pyg_graphcls.datasets import load_dataset, load_images
    from pyg_graphcls.train import Trainer, split_dataset

    torch.set_num_threads(threads)
    splits = load_dataset("sample", progress=False)
    tr_img, tr_y, te_img, te_y = load_images("sample")[:4]
    fast_tr = superpixel_graphs(tr_img, tr_y, workers=2, chunk=256)
    fast_te = superpixel_graphs(te_img, te_y, workers=2, chunk=256)
    out = {}
    for name, train, test in (("skimage", PackedGraphs(splits.train), PackedGraphs(splits.test)),
                              ("fast", PackedGraphs(fast_tr), PackedGraphs(fast_te))):
        tr, va = split_dataset(train, 0.1, seed)
        torch.manual_seed(seed)
        model = create_model("gcn", in_channels=train.num_features, num_classes=10)
        t = Trainer(model, epochs=epochs, lr=1e-2, seed=seed, progress=False, eval_train_size=0)
        t.fit(tr, va)
        out[name] = {"test_accuracy": t.evaluate(test)["accuracy"], "nodes_mean": float(train.num_nodes.float().mean())}
    out["difference_points"] = 100 * (out["fast"]["test_accuracy"] - out["skimage"]["test_accuracy"])
    return out


def scaling(threads: int, quick: bool) -> dict:
    torch.set_num_threads(threads)
    rows = []
    for n in ((1000, 4000) if quick else (1000, 10000, 60000)):
        store = graphs(n)
        packed = PackedGraphs(store)
        torch.manual_seed(0)
        model = create_model("gcn", in_channels=packed.num_features, num_classes=10)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        s, _ = fast_epoch(model, packed, opt)
        rows.append({"kind": "graphs", "graphs": n, "nodes": 75, "fast_epoch_s": s})
        print("scaling", rows[-1], flush=True)
    for seg in (75, 300, 784):
        store = graphs(1024, n_segments=seg)
        r = speed(store, threads, 1, max_batches=4 if seg > 75 else None)
        rows.append({"kind": "size", "graphs": r["graphs"], "nodes": seg, "nodes_max": r["nodes_max"],
                     "pyg_graphs_s": r["pyg_graphs_s"], "fast_graphs_s": r["fast_graphs_s"], "ratio": r["ratio"]})
        print("scaling", rows[-1], flush=True)
    return {"rows": rows}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="speed,accuracy,conversion,scaling")
    ap.add_argument("--graphs", type=int, default=4096, help="graphs per speed epoch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="2,1", help="speed is measured at each; the other parts use the fewest")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the conversion-accuracy part")
    args = ap.parse_args(argv)
    if args.quick:
        args.graphs, args.rounds, args.epochs = 1024, 2, 2
    parts = args.parts.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}",
          flush=True)
    res = {}
    if "speed" in parts:
        store = graphs(args.graphs)
        res["speed"] = [speed(store, th, args.rounds) for th in threads]
        for r in res["speed"]:
            print("speed", json.dumps(r), flush=True)
    if "accuracy" in parts:
        res["accuracy"] = accuracy(args.epochs, threads=min(threads))
        print("accuracy", json.dumps(res["accuracy"]), flush=True)
    if "conversion" in parts:
        res["conversion"] = conversion_accuracy(args.epochs, range(args.seeds), threads=min(threads))
        print("conversion accuracy", json.dumps(res["conversion"]), flush=True)
    if "scaling" in parts:
        res["scaling"] = scaling(min(threads), args.quick)
    if "grid" in parts:
        res["grid"] = [grid_speed(min(args.graphs, 2048), th, args.rounds) for th in threads]
        for r in res["grid"]:
            print("grid", json.dumps(r), flush=True)
    if "speed" in res:
        print()
        print_md_table(["threads", "graphs", "nodes (mean / max)", "PyG DataLoader + GCNConv (graphs/s)",
                        "packed dense (graphs/s)", "ratio"],
                       [[r["threads"], f"{r['graphs']:,}", f"{r['nodes_mean']:.1f} / {r['nodes_max']}",
                         f"{r['pyg_graphs_s']:,.0f}", f"{r['fast_graphs_s']:,.0f}", f"{r['ratio']:.2f}x"]
                        for r in res["speed"]])
    if "accuracy" in res:
        a = res["accuracy"]
        print(f"\nsample, {args.epochs} epochs, seed 0: test accuracy PyG path {100 * a['pyg']['test_accuracy']:.2f} %, "
              f"packed path {100 * a['fast']['test_accuracy']:.2f} % ({a['difference_points']:+.2f} points); "
              f"fit {a['pyg']['fit_seconds']:.0f} s vs {a['fast']['fit_seconds']:.0f} s")
    if "conversion" in res:
        c = res["conversion"]
        print(f"graphs from skimage slic: {c['skimage']['mean']:.2f} ± {c['skimage']['std']:.2f} %, from batched "
              f"SLIC: {c['fast']['mean']:.2f} ± {c['fast']['std']:.2f} % ({c['difference_points']:+.2f} points; "
              f"seeds {c['seeds']})")
    if "grid" in res:
        print()
        print_md_table(["threads", "28x28 grids", "message passing (graphs/s)", "dense conv2d path (graphs/s)",
                        "ratio", "cnn on images (graphs/s)", "dense / cnn", "grid build + collate (graphs/s)"],
                       [[r["threads"], f"{r['graphs']:,}", f"{r['message_passing_graphs_s']:,.0f}",
                         f"{r['dense_graphs_s']:,.0f}", f"{r['ratio_dense_vs_mp']:.2f}x", f"{r['cnn_graphs_s']:,.0f}",
                         f"{r['ratio_dense_vs_cnn']:.2f}", f"{r['build_collate_graphs_s']:,.0f}"]
                        for r in res["grid"]])
    if "scaling" in res:
        print("\n| graphs | nodes | PyG (graphs/s) | packed (graphs/s) | ratio | packed s/epoch |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in res["scaling"]["rows"]:
            if r["kind"] == "graphs":
                print(f"| {r['graphs']:,} | 75 | | | | {r['fast_epoch_s']:.1f} |")
            else:
                print(f"| {r['graphs']:,} | {r['nodes']} (max {r['nodes_max']}) | {r['pyg_graphs_s']:,.0f} | "
                      f"{r['fast_graphs_s']:,.0f} | {r['ratio']:.2f}x | |")


if __name__ == "__main__":
    main()
