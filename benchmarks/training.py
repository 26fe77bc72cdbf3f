"""Training speed by model: the dense path vs the sparse PyG path vs plain PyG GCN; accuracy of both paths.

    python -m benchmarks.training [--quick] [--parts speed,accuracy,conversion,scaling,grid] [--threads 1,2]
                                  [--models mlp,gcn,gat,dirconv,gatedgcn] [--graphs 2048] [--rounds 3]

speed: every model of ``--models`` (registry defaults, batch 64, Adam 1e-3)
trained one epoch at a time on the same superpixel graphs (Fashion-MNIST when
installed, else the bundled sample; 75 segments, kNN 8) by (a) the sparse path:
PyG's ``DataLoader`` over a list of ``Data`` (``Batch.from_data_list`` per batch)
and the model's PyG forward, (b) the dense path: :class:`PackedGraphs` batches
(packed once, timed apart) and the model's neighbour-table forward, and (c) plain
PyG GCN as the baseline: ``DataLoader`` + 4 x ``GCNConv`` 64, max ⊕ mean pooling,
linear head, written here with PyG only. One process, rounds interleaved (each
round runs every model on both paths and the baseline), the best round of each
kept (the machine is shared: the best round is the least disturbed); graphs/s
include batching. accuracy: the ``gcn`` trained by the ``Trainer`` on the sample
through both paths, same seed. conversion: the same model (dense path) trained on
graphs from scikit-image's ``slic`` and from the batched SLIC. scaling: seconds per
epoch vs number of graphs and vs graph size (75, 300, 784 segments), both paths.
grid (not in the default parts): ``dirconv-grid`` training steps on 28x28
pixel-grid batches by message passing and by its dense ``conv2d`` path, next to the ``cnn``.
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
from pyg_graphcls.graphs import superpixel_graphs
from pyg_graphcls.graphs.storage import storage_to_list
from pyg_graphcls.models import create_model
from pyg_graphcls.train.fast import PackedGraphs

MODELS = ("mlp", "gcn", "gat", "dirconv", "gatedgcn")


class PlainGCN(torch.nn.Module):
    """Plain PyG GCN, the baseline: 4 x GCNConv 64 + ReLU, global max ⊕ mean pooling, linear head."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 64, layers: int = 4) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv
        self.convs = torch.nn.ModuleList(GCNConv(in_channels if i == 0 else hidden, hidden) for i in range(layers))
        self.head = torch.nn.Linear(2 * hidden, num_classes)

    def forward(self, data):
        from torch_geometric.nn import global_max_pool, global_mean_pool
        h = data.x
        for conv in self.convs:
            h = F.relu(conv(h, data.edge_index))
        return self.head(torch.cat([global_max_pool(h, data.batch), global_mean_pool(h, data.batch)], 1))


def graphs(n: int, n_segments: int = 75, source: str = "fashion-mnist"):
    from pyg_graphcls.datasets import load_images
    try:
        out = load_images(source)
    except Exception:
        out = load_images("sample")
    imgs, labels = out[0][:n], out[1][:n]
    return superpixel_graphs(imgs, labels, n_segments=n_segments, workers=2, chunk=256)


#: the clock of the speed runs: ``time.perf_counter`` (wall) or ``time.process_time`` (``--clock cpu``: the
#: CPU seconds of this process, which other jobs on a shared machine do not inflate; one thread only)
CLOCK = time.perf_counter


def run_epoch(model, batches, opt, max_batches=None, amp: bool = False) -> tuple[float, int]:
    """Train one pass over ``batches`` (a PyG DataLoader or a PackedLoader); seconds include batching.
    ``amp``: the forward under bfloat16 autocast, loss in float32 (what the Trainer does with mixed precision)."""
    model.train()
    t, n = CLOCK(), 0
    for i, b in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(b)
        loss = F.cross_entropy(out.float(), b.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += b.num_graphs
    return CLOCK() - t, n


def pyg_epoch(model, data_list, opt, batch_size=64, max_batches=None, amp=False) -> tuple[float, int]:
    from torch_geometric.loader import DataLoader
    return run_epoch(model, DataLoader(data_list, batch_size=batch_size, shuffle=True), opt, max_batches, amp)


def fast_epoch(model, packed, opt, batch_size=64, max_batches=None, amp=False) -> tuple[float, int]:
    return run_epoch(model, packed.loader(batch_size, shuffle=True), opt, max_batches, amp)


def speed(store, threads: int, rounds: int, max_batches=None, models: Sequence[str] = MODELS,
          amp: bool = False) -> dict:
    """graphs/s of every model on the sparse and the dense path, and of plain PyG GCN, rounds interleaved.
    ``amp``: also the dense path under bfloat16 autocast (the Trainer's default on a CPU with native
    bfloat16) and plain PyG GCN under the same autocast."""
    torch.set_num_threads(threads)
    data_list = storage_to_list(*store)
    t0 = time.perf_counter()
    packed = PackedGraphs(store)
    t_pack = time.perf_counter() - t0
    nets, opts = {}, {}
    for name in ("plain-pyg-gcn",) + tuple(models):
        torch.manual_seed(0)
        nets[name] = (PlainGCN(packed.num_features, 10) if name == "plain-pyg-gcn" else
                      create_model(name, in_channels=packed.num_features, num_classes=10))
        opts[name] = torch.optim.Adam(nets[name].parameters(), 1e-3)
    sides = ("sparse", "dense", "dense-amp") if amp else ("sparse", "dense")
    rates = {"plain-pyg-gcn": [], **({"plain-pyg-gcn-amp": []} if amp else {})}
    rates.update({f"{m}/{side}": [] for m in models for side in sides})
    for r in range(rounds):
        s, n = pyg_epoch(nets["plain-pyg-gcn"], data_list, opts["plain-pyg-gcn"], max_batches=max_batches)
        rates["plain-pyg-gcn"].append(n / s)
        if amp:
            s, n = pyg_epoch(nets["plain-pyg-gcn"], data_list, opts["plain-pyg-gcn"], max_batches=max_batches,
                             amp=True)
            rates["plain-pyg-gcn-amp"].append(n / s)
        for m in models:
            s, n = pyg_epoch(nets[m], data_list, opts[m], max_batches=max_batches)
            rates[f"{m}/sparse"].append(n / s)
            s, n = fast_epoch(nets[m], packed, opts[m], max_batches=max_batches)
            rates[f"{m}/dense"].append(n / s)
            if amp:
                s, n = fast_epoch(nets[m], packed, opts[m], max_batches=max_batches, amp=True)
                rates[f"{m}/dense-amp"].append(n / s)
        print(f"  threads {threads} round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items()),
              flush=True)
    best = {k: max(v) for k, v in rates.items()}
    base = best["plain-pyg-gcn"]
    rows = [{"model": m, "sparse_graphs_s": best[f"{m}/sparse"], "dense_graphs_s": best[f"{m}/dense"],
             "dense_vs_sparse": best[f"{m}/dense"] / best[f"{m}/sparse"],
             "dense_vs_plain_gcn": best[f"{m}/dense"] / base,
             **({"dense_amp_graphs_s": best[f"{m}/dense-amp"],
                 "dense_amp_vs_sparse": best[f"{m}/dense-amp"] / best[f"{m}/sparse"],
                 "dense_amp_vs_plain_gcn": best[f"{m}/dense-amp"] / base} if amp else {})} for m in models]
    return {"graphs": len(data_list), "threads": threads, "nodes_max": packed.max_nodes, "k": packed.max_degree,
            "nodes_mean": float(packed.num_nodes.float().mean()), "pack_seconds": t_pack,
            "plain_pyg_gcn_graphs_s": base, "plain_pyg_gcn_amp_graphs_s": best.get("plain-pyg-gcn-amp"),
            "rows": rows, "rounds": rates}


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
        r = speed(store, threads, 1, max_batches=4 if seg > 75 else None, models=("gcn",))
        g = r["rows"][0]
        rows.append({"kind": "size", "graphs": r["graphs"], "nodes": seg, "nodes_max": r["nodes_max"],
                     "pyg_graphs_s": g["sparse_graphs_s"], "fast_graphs_s": g["dense_graphs_s"],
                     "ratio": g["dense_vs_sparse"]})
        print("scaling", rows[-1], flush=True)
    return {"rows": rows}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="speed,accuracy,conversion,scaling")
    ap.add_argument("--graphs", type=int, default=2048, help="graphs per speed epoch")
    ap.add_argument("--models", default=",".join(MODELS), help="models of the speed part")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="speed is measured at each; the other parts use the fewest")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: time the speed part by this process's CPU seconds (with --threads 1)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the conversion-accuracy part")
    ap.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                    help="speed: also time the dense path under bfloat16 autocast (auto: when the CPU has native "
                         "bfloat16, as the Trainer decides)")
    args = ap.parse_args(argv)
    if args.quick:
        args.graphs, args.rounds, args.epochs = 1024, 2, 2
    parts = args.parts.split(",")
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    threads = [int(t) for t in args.threads.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}",
          flush=True)
    res = {}
    if "speed" in parts:
        store = graphs(args.graphs)
        from pyg_graphcls.train.trainer import cpu_has_bf16
        amp = args.amp == "on" or (args.amp == "auto" and cpu_has_bf16())
        res["speed"] = [speed(store, th, args.rounds, models=args.models.split(","), amp=amp) for th in threads]
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
        r0 = res["speed"][0]
        print(f"\n{r0['graphs']:,} graphs, nodes mean {r0['nodes_mean']:.1f} / max {r0['nodes_max']}, k {r0['k']}, "
              f"batch 64; best of {args.rounds} interleaved rounds; packing once: {r0['pack_seconds']:.2f} s")
        print_md_table(["threads", "model", "sparse PyG path (graphs/s)", "dense path (graphs/s)", "dense / sparse",
                        "plain PyG GCN (graphs/s)", "dense / plain PyG GCN"],
                       [[r["threads"], row["model"], f"{row['sparse_graphs_s']:,.0f}", f"{row['dense_graphs_s']:,.0f}",
                         f"{row['dense_vs_sparse']:.2f}x", f"{r['plain_pyg_gcn_graphs_s']:,.0f}",
                         f"{row['dense_vs_plain_gcn']:.2f}x"] for r in res["speed"] for row in r["rows"]])
        if "dense_amp_graphs_s" in r0["rows"][0]:
            print("\nMixed precision (the Trainer's default on this CPU): the dense path under bfloat16 autocast; "
                  "plain PyG GCN as written (float32) and under the same autocast")
            print_md_table(["threads", "model", "sparse PyG path, float32 (graphs/s)", "dense path, bf16 (graphs/s)",
                            "dense bf16 / sparse", "plain PyG GCN float32 / bf16 (graphs/s)",
                            "dense bf16 / plain PyG GCN float32"],
                           [[r["threads"], row["model"], f"{row['sparse_graphs_s']:,.0f}",
                             f"{row['dense_amp_graphs_s']:,.0f}", f"{row['dense_amp_vs_sparse']:.2f}x",
                             f"{r['plain_pyg_gcn_graphs_s']:,.0f} / {r['plain_pyg_gcn_amp_graphs_s']:,.0f}",
                             f"{row['dense_amp_vs_plain_gcn']:.2f}x"] for r in res["speed"] for row in r["rows"]])
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
