"""``graphcls predict`` and ``graphcls explain``: using a trained checkpoint on new images.

Argument parsing and dispatch only; the work is in :mod:`pyg_graphcls.predict`,
:mod:`pyg_graphcls.explain` and :mod:`pyg_graphcls.viz`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import GraphclsError

__all__ = ["add_parsers", "cmd_predict", "cmd_explain"]


def _add_model_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pretrained", default=None, metavar="NAME",
                   help="a checkpoint shipped with the package instead of CHECKPOINT (fashion-mnist)")
    p.add_argument("--device", default="cpu")


def add_parsers(sub) -> None:
    p = sub.add_parser("predict", help="classify image files with a checkpoint (or --pretrained NAME)")
    p.add_argument("inputs", nargs="+", metavar="CHECKPOINT|IMAGE",
                   help="CHECKPOINT then images, folders or glob patterns (with --pretrained: images only)")
    _add_model_source(p)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--out", default=None, help="write one record per image to FILE.json or FILE.csv")
    p.add_argument("--show", default=None, metavar="DIR", help="write a picture per image (graph + class) to DIR")

    p = sub.add_parser("explain", help="which superpixels drove a prediction: a picture of node importance")
    p.add_argument("inputs", nargs="+", metavar="CHECKPOINT|IMAGE", help="CHECKPOINT then one image")
    _add_model_source(p)
    p.add_argument("--method", default="saliency", choices=["saliency", "gnnexplainer", "integrated-gradients"])
    p.add_argument("--target", type=int, default=None, help="class index to explain (default: the predicted one)")
    p.add_argument("--epochs", type=int, default=100, help="gnnexplainer optimisation steps")
    p.add_argument("-o", "--output", default="explanation.png")


def _load(args):
    from .predict import Predictor

    inputs = list(args.inputs)
    if args.pretrained is None:
        if len(inputs) < 2:
            raise GraphclsError("give CHECKPOINT and at least one image (or --pretrained NAME and images)")
        ckpt, inputs = inputs[0], inputs[1:]
        if not Path(ckpt).is_file():
            raise GraphclsError(f"checkpoint {ckpt} not found")
        return Predictor.load(checkpoint=ckpt, device=args.device), inputs
    return Predictor.load(pretrained=args.pretrained, device=args.device), inputs


def cmd_predict(args) -> int:
    from .predict import collect_images, write_predictions

    pred, inputs = _load(args)
    files = collect_images(inputs)
    records = pred.predict(files, top_k=args.top_k)
    bad = 0
    for r in records:
        if "error" in r:
            bad += 1
            print(f"graphcls: cannot use {r['image']}: {r['error']}", file=sys.stderr)
        else:
            tops = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top_k"])
            print(f"{r['image']}: {r['class']} ({tops})")
    if args.out:
        write_predictions(records, args.out)
        print(f"wrote {len(records)} records -> {args.out}")
    if args.show:
        _show(pred, files, records, Path(args.show))
    if bad == len(records):
        raise GraphclsError("no image could be classified")
    return 0


def _show(pred, files, records, out: Path) -> None:
    from .viz import draw_graph, save_figure

    graphs, _ = pred.graphs(files, [str(f) for f in files], return_seg=True)
    out.mkdir(parents=True, exist_ok=True)
    for i, (f, g, r) in enumerate(zip(files, graphs, records)):
        if g is None or "class" not in r:
            continue
        g.img = _image_tensor(pred.prepare(f))
        fig = draw_graph(g, title=f"{Path(f).name}: {r['class']} ({r['probability']:.2f})")
        save_figure(fig, out / f"{i:04d}_{Path(f).stem}.png")
    print(f"pictures -> {out}")


def _image_tensor(img):
    import torch
    return torch.as_tensor(img).permute(2, 0, 1).unsqueeze(0)


def cmd_explain(args) -> int:
    from .explain import explain_graph, node_importance
    from .viz import draw_explanation

    pred, inputs = _load(args)
    if len(inputs) != 1:
        raise GraphclsError(f"explain takes one image, got {len(inputs)}")
    (g,), fails = pred.graphs(inputs, inputs, return_seg=True)
    if g is None:
        raise GraphclsError(fails[0][1] if fails else f"cannot convert {inputs[0]}")
    img = pred.prepare(inputs[0])
    expl = explain_graph(pred.model, g, args.method, target=args.target, epochs=args.epochs)
    cls = int(expl.target[0])
    prob = float(expl.prediction[0, cls])
    g.img = _image_tensor(img)
    draw_explanation(g, node_importance(expl), getattr(expl, "edge_mask", None),
                     title=f"{Path(inputs[0]).name}: {pred.class_names[cls]} ({prob:.2f}), {args.method}",
                     path=args.output)
    print(f"{inputs[0]}: {pred.class_names[cls]} ({prob:.3f}); explanation -> {args.output}")
    return 0
