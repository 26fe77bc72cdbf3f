"""Classify new images with a trained checkpoint (or a pretrained one shipped with the package).

A checkpoint written by ``graphcls train`` stores how its graphs were made
(``graph``, ``graph_kwargs``), the class names, and the input its model saw
(``input``: image size and channel count). :class:`Predictor` recovers that
conversion the way timm's ``resolve_data_config`` recovers preprocessing: each
new image is brought to the training channel count (gray ↔ colour) and, when
its size differs, resized to the training size (anti-aliased), then converted
with the stored settings through the same pipeline as the training data
(batched where the settings allow) and classified.

Pretrained checkpoints live in ``pyg_graphcls/pretrained/`` as package data:
``Predictor.load(pretrained="fashion-mnist")``; each has a model card beside it.
"""
from __future__ import annotations

import csv
import glob
import io
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .errors import GraphclsError

__all__ = ["Predictor", "collect_images", "write_predictions", "pretrained_path", "PRETRAINED"]

#: name → checkpoint file in ``pyg_graphcls/pretrained/`` (a model card ``<stem>.md`` beside each)
PRETRAINED = {"fashion-mnist": "fashion-mnist.pt"}


def pretrained_path(name: str) -> Path:
    """The file of a pretrained checkpoint shipped in the package."""
    if name not in PRETRAINED:
        raise GraphclsError(f"no pretrained model {name!r}; available: {', '.join(sorted(PRETRAINED))}")
    path = Path(str(resources.files("pyg_graphcls") / "pretrained" / PRETRAINED[name]))
    if not path.is_file():
        raise GraphclsError(f"pretrained model {name!r} is not installed ({path} is missing)")
    return path


def collect_images(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files named by ``specs``: files, folders (their image files, recursively, sorted) or glob patterns.

    A spec that names nothing is an error; duplicates are kept once, in order.
    """
    from .datasets.folder import IMAGE_EXTENSIONS

    out: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise GraphclsError(f"{p} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
        elif p.is_file():
            found = [p]
        elif any(ch in str(spec) for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(str(spec), recursive=True) if Path(q).is_file())
            if not found:
                raise GraphclsError(f"no file matches {spec}")
        else:
            raise GraphclsError(f"{spec}: no such file or folder")
        out.extend(found)
    seen: set = set()
    return [p for p in out if not (p in seen or seen.add(p))]


class Predictor:
    """A trained graph classifier plus the conversion its checkpoint records.

    Args:
        model (nn.Module): the model (eval mode is set here).
        checkpoint (dict): the checkpoint dict (``graph``, ``graph_kwargs``,
            ``class_names``, ``input``).
        device (str): where to run the model.
    """

    def __init__(self, model: torch.nn.Module, checkpoint: dict, device: str = "cpu") -> None:
        if checkpoint.get("task", "single") != "single" or "graph" not in checkpoint:
            raise GraphclsError("this checkpoint is not a single-label graph classifier (no graph settings stored)")
        self.model = model.to(device).eval()
        self.device = device
        self.graph = str(checkpoint["graph"])
        self.graph_kwargs = dict(checkpoint.get("graph_kwargs") or {})
        num_classes = int(checkpoint["model_config"]["kwargs"].get("num_classes", 0))
        names = list(checkpoint.get("class_names") or [])
        self.class_names = names if len(names) == num_classes else [str(i) for i in range(num_classes)]
        inp = checkpoint.get("input") or {}
        self.size = tuple(int(v) for v in inp["size"]) if inp.get("size") else None
        self.channels = int(inp["channels"]) if inp.get("channels") else None

    @classmethod
    def load(cls, checkpoint: Optional[str | os.PathLike] = None, pretrained: Optional[str] = None,
             device: str = "cpu") -> "Predictor":
        """From a checkpoint file or a pretrained name (exactly one of them)."""
        from .train.checkpoint import load_model

        if (checkpoint is None) == (pretrained is None):
            raise GraphclsError("give a checkpoint file or --pretrained NAME (one of them)")
        path = pretrained_path(pretrained) if pretrained is not None else Path(checkpoint)
        model, ckpt = load_model(path)
        return cls(model, ckpt, device)

    def prepare(self, image: Any, name: str = "image") -> np.ndarray:
        """``image`` (array or path) as float ``[H, W, C]`` in [0, 1] with the training channels and size."""
        from .datasets.folder import read_image
        from .graphs.image import as_image, match_channels

        if isinstance(image, (str, os.PathLike)):
            name, image = str(image), read_image(image)
        img = as_image(image, name)
        if self.channels is not None and img.shape[-1] != self.channels:
            if self.channels == 1 and img.shape[-1] == 3:
                from skimage.color import rgb2gray
                img = rgb2gray(img)[..., None].astype(np.float32)
            else:
                img = match_channels(img, self.channels, name)
        if self.size is not None and img.shape[:2] != self.size:
            from skimage.transform import resize
            img = resize(img, self.size + (img.shape[-1],), anti_aliasing=True, preserve_range=True).astype(np.float32)
        return img

    def graphs(self, images: Sequence[Any], names: Optional[Sequence[str]] = None,
               return_seg: bool = False) -> tuple[list, list[tuple[int, str]]]:
        """Convert ``images`` with the stored settings: ``(graphs, failures)``; ``graphs[i]`` is ``None`` for an
        image that failed, ``failures`` lists ``(index, reason)``."""
        from .datasets.conversion import convert_images
        from .graphs import build_graph
        from .graphs.storage import storage_to_list

        names = list(names) if names is not None else [str(i) for i in range(len(images))]
        prepared, failures, keep = [], [], []
        for i, (im, nm) in enumerate(zip(images, names)):
            try:
                prepared.append(self.prepare(im, nm))
                keep.append(i)
            except GraphclsError as e:
                failures.append((i, str(e)))
        out: list = [None] * len(images)
        if not prepared:
            return out, failures
        if return_seg:  # pictures need the segmentation: convert one by one
            for i, img in zip(keep, prepared):
                try:
                    out[i] = build_graph(self.graph, img, return_seg=True, **self.graph_kwargs)
                except GraphclsError as e:
                    failures.append((i, f"{names[i]}: {e}"))
            return out, sorted(failures)
        data, slices, fails = convert_images(prepared, np.zeros(len(prepared), np.int64), self.graph,
                                             self.graph_kwargs, workers=1, progress=False)
        failed = {j for j, _ in fails}
        failures.extend((keep[j], f"{names[keep[j]]}: {r}") for j, r in fails)
        converted = storage_to_list(data, slices) if data is not None else []
        it = iter(converted)
        for j, i in enumerate(keep):
            if j not in failed:
                out[i] = next(it)
        return out, sorted(failures)

    @torch.no_grad()
    def predict(self, images: Sequence[Any], names: Optional[Sequence[str]] = None, top_k: int = 3,
                batch_size: int = 256) -> list[dict]:
        """One record per image: ``image``, ``class``, ``index``, ``probability``, ``top_k`` (or ``error``)."""
        from torch_geometric.data import Batch

        if top_k < 1:
            raise GraphclsError(f"top_k must be >= 1, got {top_k}")
        names = [str(n) for n in names] if names is not None else [
            str(im) if isinstance(im, (str, os.PathLike)) else f"image {i}" for i, im in enumerate(images)]
        graphs, failures = self.graphs(images, names)
        records: list[dict] = [{"image": n} for n in names]
        for i, reason in failures:
            records[i]["error"] = reason
        ok = [i for i, g in enumerate(graphs) if g is not None]
        k = min(top_k, len(self.class_names))
        for s in range(0, len(ok), batch_size):
            idx = ok[s:s + batch_size]
            batch = Batch.from_data_list([graphs[i] for i in idx]).to(self.device)
            prob = self.model(batch).float().softmax(-1).cpu()
            top_p, top_i = prob.topk(k, dim=-1)
            for row, i in enumerate(idx):
                c = int(top_i[row, 0])
                records[i].update({"class": self.class_names[c], "index": c, "probability": float(top_p[row, 0]),
                                   "top_k": [{"class": self.class_names[int(j)], "index": int(j), "probability": float(p)}
                                             for p, j in zip(top_p[row], top_i[row])]})
        return records


def write_predictions(records: Sequence[dict], path: str | os.PathLike) -> Path:
    """Write records as ``.json`` (a list) or ``.csv`` (image, class, index, probability, error), atomically."""
    from .io import atomic_write

    path = Path(path)
    if path.suffix.lower() == ".json":
        return atomic_write(path, lambda f: json.dump(list(records), f, indent=1), mode="w")
    if path.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["image", "class", "index", "probability", "error"], extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow(r)
        return atomic_write(path, lambda f: f.write(buf.getvalue()), mode="w")
    raise GraphclsError(f"--out must end in .json or .csv, got {path.name}")
