r"""Read multi-label targets from Pascal-VOC XML folders and COCO instances JSON.

Both readers return a :class:`MultiLabelAnnotations` with image ids, file
names, the class names and a multi-hot ``targets`` array :obj:`[N, C]`
(float32). The targets feed
:func:`~pyg_graphcls.graphs.labels.cooccurrence_graph` and the metrics in
:mod:`pyg_graphcls.train.multilabel`.

Safety: XML files are parsed with :mod:`xml.etree.ElementTree` after
refusing any file that declares a DOCTYPE or entities (VOC files never do;
this rules out entity-expansion bombs) or exceeds ``max_bytes``. File names
taken from annotations are only ever joined to a root with :func:`safe_join`,
which refuses absolute paths and ``..`` escapes.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import GraphclsError
from ..io import read_json

__all__ = [
    "MultiLabelAnnotations",
    "VOC_CLASSES",
    "read_voc_annotations",
    "read_coco_annotations",
    "safe_join",
]

#: The 20 Pascal VOC object classes in their usual order.
VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]

_MAX_XML_BYTES = 1 << 20


@dataclass
class MultiLabelAnnotations:
    """Multi-label annotations of an image set.

    Attributes:
        image_ids (list): one id per image (VOC: the XML file stem; COCO: the
            integer image id).
        file_names (list of str): image file names relative to an image root.
        classes (list of str): class names, one per column of ``targets``.
        targets (np.ndarray): :obj:`[N, C]` float32 multi-hot. With
            ``difficult="ignore"`` (VOC) an entry may be ``-1``: only
            difficult instances of that class; see :meth:`valid`.
    """

    image_ids: List[Any]
    file_names: List[str]
    classes: List[str]
    targets: np.ndarray
    extra: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def valid(self) -> np.ndarray:
        """``targets >= 0`` (:obj:`[N, C]` bool): entries to score."""
        return self.targets >= 0

    def paths(self, root: str | os.PathLike) -> List[Path]:
        """Image paths under ``root`` (each checked with :func:`safe_join`)."""
        return [safe_join(root, name) for name in self.file_names]


def safe_join(root: str | os.PathLike, name: str) -> Path:
    """``root / name``, refusing names that are absolute or resolve outside ``root``."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise GraphclsError(f"bad file name {name!r}")
    if os.path.isabs(name) or Path(name).is_absolute() or name.startswith(("/", "\\")):
        raise GraphclsError(f"file name {name!r} is absolute; expected a path inside {root}")
    base = Path(root).resolve()
    path = (base / name).resolve()
    if path != base and base not in path.parents:
        raise GraphclsError(f"file name {name!r} escapes the root {base}")
    return path


def _parse_xml(path: Path, max_bytes: int) -> ET.Element:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise GraphclsError(f"{path} is {size} bytes, more than max_bytes = {max_bytes}")
        raw = path.read_bytes()
    except OSError as e:
        raise GraphclsError(f"cannot read {path}: {e}") from None
    head = raw.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise GraphclsError(f"{path} declares a DOCTYPE/ENTITY; refusing to parse it")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as e:
        raise GraphclsError(f"{path} is not valid XML: {e}") from None


def read_voc_annotations(
    root: str | os.PathLike,
    classes: Optional[Sequence[str]] = None,
    ids: Optional[Sequence[str]] = None,
    difficult: str = "positive",
    max_bytes: int = _MAX_XML_BYTES,
) -> MultiLabelAnnotations:
    r"""Multi-hot targets from a folder of Pascal-VOC XML files.

    Each file ``<id>.xml`` holds ``<annotation>`` with a ``<filename>`` and
    ``<object>`` entries, each with a ``<name>`` and optionally
    ``<difficult>``.

    Args:
        root (path): the ``Annotations`` folder.
        classes (list of str, optional): column order. Default: the sorted
            set of names found (pass :data:`VOC_CLASSES` for VOC's order).
            With a given list, an unknown object name raises.
        ids (list of str, optional): read only ``<id>.xml`` for these ids
            (e.g. from ``ImageSets/Main/trainval.txt``), in this order;
            default: every ``*.xml`` in ``root``, sorted.
        difficult (str): how a class seen only as "difficult" counts:
            ``"positive"`` (1, as ML-GCN trains), ``"negative"`` (0, dropped)
            or ``"ignore"`` (-1, to be left out of scoring via
            :meth:`MultiLabelAnnotations.valid`). (default: ``"positive"``)
        max_bytes (int): refuse larger XML files. (default: 1 MiB)
    """
    if difficult not in ("positive", "negative", "ignore"):
        raise GraphclsError(f"difficult must be 'positive', 'negative' or 'ignore', got {difficult!r}")
    base = Path(root)
    if not base.is_dir():
        raise GraphclsError(f"VOC annotation folder not found: {base}")
    if ids is None:
        files = sorted(p for p in base.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
    else:
        files = [safe_join(base, f"{i}.xml") for i in ids]
    if not files:
        raise GraphclsError(f"no .xml files in {base}")

    records = []
    for path in files:
        if not path.is_file():
            raise GraphclsError(f"annotation file not found: {path}")
        tree = _parse_xml(path, max_bytes)
        if tree.tag != "annotation":
            raise GraphclsError(f"{path}: root element is <{tree.tag}>, expected <annotation>")
        fname = (tree.findtext("filename") or "").strip() or f"{path.stem}.jpg"
        objs = []
        for obj in tree.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if not name:
                raise GraphclsError(f"{path}: an <object> has no <name>")
            diff = (obj.findtext("difficult") or "0").strip()
            objs.append((name, diff not in ("0", "", "false", "False")))
        records.append((path.stem, fname, objs))

    if classes is None:
        classes = sorted({n for _, _, objs in records for n, _ in objs})
        if not classes:
            raise GraphclsError(f"no <object> names found in {base}")
    classes = [str(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise GraphclsError("classes has duplicate names")
    col = {c: i for i, c in enumerate(classes)}
    targets = np.zeros((len(records), len(classes)), dtype=np.float32)
    for r, (stem, _, objs) in enumerate(records):
        for name, is_diff in objs:
            if name not in col:
                raise GraphclsError(f"{stem}.xml: object name {name!r} is not in classes")
            j = col[name]
            if not is_diff:
                targets[r, j] = 1.0
            elif difficult == "positive":
                targets[r, j] = 1.0
            elif difficult == "ignore" and targets[r, j] == 0.0:
                targets[r, j] = -1.0
    return MultiLabelAnnotations(image_ids=[s for s, _, _ in records],
                                 file_names=[f for _, f, _ in records],
                                 classes=classes, targets=targets)


def read_coco_annotations(
    path: str | os.PathLike,
    keep_empty: bool = False,
    include_crowd: bool = True,
) -> MultiLabelAnnotations:
    r"""Multi-hot targets from a COCO ``instances_*.json``.

    Columns follow the categories sorted by their ``id`` (COCO's usual
    order; ids are not contiguous, see ``extra["category_ids"]``). Rows
    follow the ``images`` list.

    Args:
        path (path): the JSON file with ``images`` (``id``, ``file_name``),
            ``annotations`` (``image_id``, ``category_id``, optional
            ``iscrowd``) and ``categories`` (``id``, ``name``).
        keep_empty (bool): keep images without any annotation (all-zero
            rows). ML-GCN's lists leave them out. (default: :obj:`False`)
        include_crowd (bool): count ``iscrowd = 1`` annotations.
            (default: :obj:`True`)
    """
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise GraphclsError(f"{path}: expected a JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(obj.get(key), list):
            raise GraphclsError(f"{path}: missing list {key!r}")
    try:
        cats = sorted(((int(c["id"]), str(c["name"])) for c in obj["categories"]), key=lambda x: x[0])
        images = [(int(im["id"]), str(im.get("file_name", im["id"]))) for im in obj["images"]]
    except (KeyError, TypeError, ValueError) as e:
        raise GraphclsError(f"{path}: malformed categories/images entry ({e!r})") from None
    if not cats:
        raise GraphclsError(f"{path}: no categories")
    cat_col = {cid: j for j, (cid, _) in enumerate(cats)}
    if len(cat_col) != len(cats):
        raise GraphclsError(f"{path}: duplicate category ids")
    row = {}
    for r, (iid, _) in enumerate(images):
        if iid in row:
            raise GraphclsError(f"{path}: duplicate image id {iid}")
        row[iid] = r
    targets = np.zeros((len(images), len(cats)), dtype=np.float32)
    for a in obj["annotations"]:
        try:
            iid, cid = int(a["image_id"]), int(a["category_id"])
            crowd = int(a.get("iscrowd", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise GraphclsError(f"{path}: malformed annotation entry ({e!r})") from None
        if iid not in row:
            raise GraphclsError(f"{path}: annotation refers to unknown image id {iid}")
        if cid not in cat_col:
            raise GraphclsError(f"{path}: annotation refers to unknown category id {cid}")
        if crowd and not include_crowd:
            continue
        targets[row[iid], cat_col[cid]] = 1.0
    keep = np.ones(len(images), dtype=bool) if keep_empty else targets.sum(axis=1) > 0
    idx = np.nonzero(keep)[0]
    return MultiLabelAnnotations(
        image_ids=[images[i][0] for i in idx],
        file_names=[images[i][1] for i in idx],
        classes=[name for _, name in cats],
        targets=targets[idx],
        extra={"category_ids": [cid for cid, _ in cats]},
    )
