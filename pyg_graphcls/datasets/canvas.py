r"""A small multi-label dataset made from a single-label image set.

:class:`MultiLabelCanvas` pastes 2-4 objects (e.g. Fashion-MNIST 28x28 items)
onto a larger black canvas (56x56 by default). Which classes appear together
is drawn from *scene templates* (lists of classes that tend to co-occur), with
some noise, so the labels have a co-occurrence structure that a label graph
can pick up — a CPU-sized stand-in for COCO / VOC.

Everything random (class choice, source image, position) is drawn once, at
construction, from ``numpy.random.default_rng(seed)``: the dataset is a pure
function of its arguments, ``dataset[i]`` is the same in any order and any
worker, and ``dataset.targets`` is available without rendering anything.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import GraphclsError

__all__ = ["MultiLabelCanvas", "default_templates"]


def default_templates(num_classes: int, size: int = 3, stride: int = 2) -> List[List[int]]:
    r"""Overlapping windows of consecutive classes, wrapping around:
    ``[[0, 1, 2], [2, 3, 4], ...]`` for ``size=3, stride=2``. Neighbouring
    templates share a class, which gives a connected co-occurrence graph."""
    if num_classes <= size:
        return [list(range(num_classes))]
    starts = range(0, num_classes, stride)
    return [[(s + k) % num_classes for k in range(size)] for s in starts]


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:
        raise GraphclsError(f"{name} cannot be read as an array: {e}") from None


class MultiLabelCanvas(Dataset):
    r"""Compose several single-label images into one multi-label canvas.

    For sample :math:`n`: draw the number of objects :math:`m` uniformly from
    ``objects``; draw a template uniformly; take :math:`m` classes from it
    (without replacement while it has enough, then with); replace each with a
    uniformly random class with probability ``noise``; for each class pick a
    random source image of that class; place the objects in distinct cells of
    a grid of object-sized cells when there are enough cells (else at random
    positions), with a random offset inside the spare room. Overlapping
    pixels take the maximum. The label is the set of classes present.

    Args:
        images (array or tensor): :obj:`[M, H, W]` or :obj:`[M, 1, H, W]`;
            uint8 (divided by 255) or float in :math:`[0, 1]`.
        labels (array or tensor): :obj:`[M]` integer class ids.
        num_samples (int): dataset length.
        canvas_size (int): side :math:`S` of the square canvas, at least the
            object size. (default: :obj:`56`)
        objects (int or (int, int)): objects per canvas, inclusive range.
            (default: :obj:`(2, 4)`)
        templates (list of list of int, optional): scenes. Default:
            :func:`default_templates`.
        noise (float): probability that an object's class is replaced by a
            uniformly random one. (default: :obj:`0.1`)
        seed (int): seed of all random choices. (default: :obj:`0`)
        num_classes (int, optional): :math:`C`; default ``labels.max() + 1``.
        placement (str): ``"grid"`` (distinct cells as above, objects never
            overlap while there are enough cells) or ``"random"`` (uniform
            positions anywhere on the canvas: objects may overlap and hide
            each other). (default: :obj:`"grid"`)
        occlusion (float): side of a black square cut out of every object,
            as a fraction of the object size, at a random place inside it
            (``0.5`` hides a quarter of each object). (default: :obj:`0.0`)
        pixel_noise (float): standard deviation of Gaussian noise added to
            the whole canvas (then clipped to :math:`[0, 1]`). (default:
            :obj:`0.0`)

    The extra options draw from their own random streams (derived from
    ``seed``), so with their defaults the dataset is exactly the one built
    without them. The noise of ``pixel_noise`` is a function of
    ``(seed, index)``: rendering stays order-independent.

    ``dataset[i]`` is ``(image [1, S, S] float32 in [0, 1], target [C] float32)``.

    Attributes:
        targets (torch.Tensor): :obj:`[N, C]` float32, all multi-hot labels.
        object_classes, object_sources, object_positions, object_occlusions:
            the drawn layout (lists of arrays, one per sample; occlusions are
            ``(y, x, height, width)`` rows inside each object, all zero
            without ``occlusion``).
    """

    def __init__(self, images: Any, labels: Any, num_samples: int, canvas_size: int = 56,
                 objects: Union[int, Tuple[int, int]] = (2, 4),
                 templates: Optional[Sequence[Sequence[int]]] = None, noise: float = 0.1,
                 seed: int = 0, num_classes: Optional[int] = None, placement: str = "grid",
                 occlusion: float = 0.0, pixel_noise: float = 0.0):
        imgs = _to_numpy(images, "images")
        if imgs.ndim == 4 and imgs.shape[1] == 1:
            imgs = imgs[:, 0]
        if imgs.ndim != 3 or imgs.shape[0] == 0:
            raise GraphclsError(f"images must have shape [M, H, W] or [M, 1, H, W], got {tuple(imgs.shape)}")
        if imgs.dtype == np.uint8:
            imgs = imgs.astype(np.float32) / 255.0
        elif imgs.dtype.kind == "f":
            imgs = imgs.astype(np.float32)
            if not np.isfinite(imgs).all() or imgs.min() < 0 or imgs.max() > 1:
                raise GraphclsError("float images must be finite and in [0, 1]")
        else:
            raise GraphclsError(f"images must be uint8 or float in [0, 1], got dtype {imgs.dtype}")
        labs = _to_numpy(labels, "labels")
        if labs.ndim != 1 or labs.shape[0] != imgs.shape[0] or labs.dtype.kind not in "iu":
            raise GraphclsError(f"labels must be [M] = [{imgs.shape[0]}] integer class ids, "
                                f"got shape {tuple(labs.shape)} dtype {labs.dtype}")
        if labs.min() < 0:
            raise GraphclsError("labels must be non-negative class ids")
        c = int(labs.max()) + 1 if num_classes is None else int(num_classes)
        if c < 1 or labs.max() >= c:
            raise GraphclsError(f"num_classes = {num_classes} is too small for labels up to {labs.max()}")
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 0:
            raise GraphclsError(f"num_samples must be a non-negative int, got {num_samples!r}")
        h, w = imgs.shape[1:]
        s = int(canvas_size)
        if s < max(h, w):
            raise GraphclsError(f"canvas_size = {s} is smaller than the images ({h}x{w})")
        if isinstance(objects, int):
            objects = (objects, objects)
        try:
            lo, hi = (int(objects[0]), int(objects[1]))
        except (TypeError, IndexError, ValueError):
            raise GraphclsError(f"objects must be an int or a (min, max) pair, got {objects!r}") from None
        if not 1 <= lo <= hi:
            raise GraphclsError(f"objects must satisfy 1 <= min <= max, got {objects!r}")
        if not 0.0 <= float(noise) <= 1.0:
            raise GraphclsError(f"noise must be in [0, 1], got {noise!r}")
        if placement not in ("grid", "random"):
            raise GraphclsError(f"placement must be 'grid' or 'random', got {placement!r}")
        try:
            occlusion, pixel_noise = float(occlusion), float(pixel_noise)
        except (TypeError, ValueError):
            raise GraphclsError(f"occlusion and pixel_noise must be numbers, got {occlusion!r}, "
                                f"{pixel_noise!r}") from None
        if not 0.0 <= occlusion < 1.0:
            raise GraphclsError(f"occlusion must be in [0, 1), got {occlusion!r}")
        if not (np.isfinite(pixel_noise) and pixel_noise >= 0.0):
            raise GraphclsError(f"pixel_noise must be a finite number >= 0, got {pixel_noise!r}")
        if templates is None:
            templates = default_templates(c)
        tmpl = []
        for t in templates:
            t = [int(k) for k in t]
            if not t or min(t) < 0 or max(t) >= c:
                raise GraphclsError(f"each template must be a non-empty list of class ids in [0, {c}), got {t}")
            tmpl.append(t)
        if not tmpl:
            raise GraphclsError("templates is empty")
        by_class = [np.nonzero(labs == k)[0] for k in range(c)]
        needed = set(k for t in tmpl for k in t) if noise == 0 else set(range(c))
        missing = sorted(k for k in needed if by_class[k].size == 0)
        if missing:
            raise GraphclsError(f"no source image for class(es) {missing}; they are used by the "
                                f"templates{' or noise' if noise > 0 else ''}")

        self.images, self.labels = imgs, labs
        self.num_classes, self.canvas_size = c, s
        self.objects, self.templates, self.noise, self.seed = (lo, hi), tmpl, float(noise), seed
        self.placement, self.occlusion, self.pixel_noise = placement, occlusion, pixel_noise
        occ_h, occ_w = int(round(occlusion * h)), int(round(occlusion * w))
        extra = np.random.default_rng([int(seed), 1])  # separate stream: defaults unchanged

        rng = np.random.default_rng(seed)
        gy, gx = s // h, s // w
        cells = [(r, q) for r in range(gy) for q in range(gx)]
        cell_h, cell_w = s // gy, s // gx
        self.object_classes: List[np.ndarray] = []
        self.object_sources: List[np.ndarray] = []
        self.object_positions: List[np.ndarray] = []
        self.object_occlusions: List[np.ndarray] = []
        targets = np.zeros((num_samples, c), dtype=np.float32)
        for n in range(num_samples):
            m = int(rng.integers(lo, hi + 1))
            t = tmpl[int(rng.integers(len(tmpl)))]
            if m <= len(t):
                cls = rng.choice(t, size=m, replace=False)
            else:
                cls = np.concatenate([rng.permutation(t), rng.choice(t, size=m - len(t))])
            flip = rng.random(m) < self.noise
            cls = np.where(flip, rng.integers(0, c, size=m), cls).astype(np.int64)
            src = np.array([by_class[k][rng.integers(by_class[k].size)] for k in cls], dtype=np.int64)
            if m <= len(cells):
                chosen = rng.permutation(len(cells))[:m]
                pos = np.array([[cells[i][0] * cell_h + rng.integers(cell_h - h + 1),
                                 cells[i][1] * cell_w + rng.integers(cell_w - w + 1)] for i in chosen],
                               dtype=np.int64)
            else:
                pos = np.stack([rng.integers(0, s - h + 1, size=m), rng.integers(0, s - w + 1, size=m)], 1)
            if placement == "random":
                # the grid draws above are still made (and dropped) so that the main stream, hence
                # the classes and source images, are the same as with "grid"
                pos = np.stack([extra.integers(0, s - h + 1, size=m), extra.integers(0, s - w + 1, size=m)], 1)
            occ = np.zeros((m, 4), dtype=np.int64)  # (y, x, height, width) inside the object
            if occ_h > 0 and occ_w > 0:
                occ[:, 0] = extra.integers(0, h - occ_h + 1, size=m)
                occ[:, 1] = extra.integers(0, w - occ_w + 1, size=m)
                occ[:, 2], occ[:, 3] = occ_h, occ_w
            targets[n, cls] = 1.0
            self.object_occlusions.append(occ)
            self.object_classes.append(cls)
            self.object_sources.append(src)
            self.object_positions.append(pos.astype(np.int64))
        self.targets = torch.from_numpy(targets)

    def __len__(self) -> int:
        return self.targets.shape[0]

    def render(self, index: int) -> np.ndarray:
        """The :obj:`[S, S]` float32 canvas of sample ``index``."""
        h, w = self.images.shape[1:]
        canvas = np.zeros((self.canvas_size, self.canvas_size), dtype=np.float32)
        for src, (y, x), (oy, ox, oh, ow) in zip(self.object_sources[index], self.object_positions[index],
                                                 self.object_occlusions[index]):
            obj = self.images[src]
            if oh > 0 and ow > 0:
                obj = obj.copy()
                obj[oy:oy + oh, ox:ox + ow] = 0.0
            np.maximum(canvas[y:y + h, x:x + w], obj, out=canvas[y:y + h, x:x + w])
        if self.pixel_noise > 0:
            rng = np.random.default_rng([int(self.seed), 2, int(index)])
            canvas += rng.normal(0.0, self.pixel_noise, size=canvas.shape).astype(np.float32)
            np.clip(canvas, 0.0, 1.0, out=canvas)
        return canvas

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index = index % len(self)
        return torch.from_numpy(self.render(index)).unsqueeze(0), self.targets[index].clone()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)}, num_classes={self.num_classes}, "
                f"canvas_size={self.canvas_size}, objects={self.objects}, noise={self.noise}"
                + (f", placement={self.placement!r}" if self.placement != "grid" else "")
                + (f", occlusion={self.occlusion}" if self.occlusion else "")
                + (f", pixel_noise={self.pixel_noise}" if self.pixel_noise else "") + ")")
