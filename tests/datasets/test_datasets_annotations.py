import json

import pytest

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.datasets.annotations import (VOC_CLASSES, read_coco_annotations,
                                               read_voc_annotations, safe_join)


def _voc_xml(filename, objects):
    objs = "".join(f"<object><name>{n}</name><difficult>{int(d)}</difficult></object>" for n, d in objects)
    return f"<annotation><filename>{filename}</filename>{objs}</annotation>"


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "Annotations"
    root.mkdir()
    (root / "000001.xml").write_text(_voc_xml("000001.jpg", [("dog", 0), ("person", 0), ("dog", 0)]))
    (root / "000002.xml").write_text(_voc_xml("000002.jpg", [("cat", 0), ("sofa", 1)]))
    (root / "000003.xml").write_text(_voc_xml("000003.jpg", [("person", 1), ("person", 0)]))
    return root


def test_voc_default_classes_and_difficult(voc):
    ann = read_voc_annotations(voc)
    assert ann.image_ids == ["000001", "000002", "000003"]
    assert ann.file_names[1] == "000002.jpg"
    assert ann.classes == ["cat", "dog", "person", "sofa"]
    assert ann.targets.tolist() == [[0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 1, 0]]
    neg = read_voc_annotations(voc, difficult="negative")
    assert neg.targets[1].tolist() == [1, 0, 0, 0]
    ign = read_voc_annotations(voc, difficult="ignore")
    assert ign.targets[1].tolist() == [1, 0, 0, -1] and ign.targets[2].tolist() == [0, 0, 1, 0]
    assert not ign.valid()[1, 3]


def test_voc_given_classes_ids_and_errors(voc, tmp_path):
    ann = read_voc_annotations(voc, classes=VOC_CLASSES, ids=["000003", "000001"])
    assert ann.targets.shape == (2, 20) and ann.image_ids == ["000003", "000001"]
    assert ann.targets[1, VOC_CLASSES.index("dog")] == 1 and ann.targets[1].sum() == 2
    with pytest.raises(GraphclsError, match="not in classes"):
        read_voc_annotations(voc, classes=["dog", "person"])
    with pytest.raises(GraphclsError, match="escapes"):
        read_voc_annotations(voc, ids=["../outside"])
    with pytest.raises(GraphclsError, match="not found"):
        read_voc_annotations(voc, ids=["999999"])
    (voc / "bomb.xml").write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]><annotation>&x;</annotation>')
    with pytest.raises(GraphclsError, match="DOCTYPE"):
        read_voc_annotations(voc)
    (voc / "bomb.xml").write_text("<annotation><object>")
    with pytest.raises(GraphclsError, match="not valid XML"):
        read_voc_annotations(voc)
    with pytest.raises(GraphclsError, match="not found"):
        read_voc_annotations(tmp_path / "nope")


@pytest.fixture
def coco(tmp_path):
    obj = {
        "images": [{"id": 10, "file_name": "a.jpg"}, {"id": 11, "file_name": "b.jpg"},
                   {"id": 12, "file_name": "empty.jpg"}, {"id": 13, "file_name": "crowd.jpg"}],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 1, "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 18, "iscrowd": 0},
            {"id": 3, "image_id": 10, "category_id": 1, "iscrowd": 0},
            {"id": 4, "image_id": 11, "category_id": 3, "iscrowd": 0},
            {"id": 5, "image_id": 13, "category_id": 3, "iscrowd": 1},
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(obj))
    return path, obj


def test_coco(coco, tmp_path):
    path, obj = coco
    ann = read_coco_annotations(path)
    assert ann.classes == ["person", "car", "dog"] and ann.extra["category_ids"] == [1, 3, 18]
    assert ann.image_ids == [10, 11, 13]
    assert ann.targets.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 0]]
    full = read_coco_annotations(path, keep_empty=True, include_crowd=False)
    assert full.image_ids == [10, 11, 12, 13] and full.targets[2:].sum() == 0
    assert ann.paths(tmp_path)[0] == (tmp_path / "a.jpg").resolve()
    obj["annotations"].append({"image_id": 99, "category_id": 1})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(obj))
    with pytest.raises(GraphclsError, match="unknown image id 99"):
        read_coco_annotations(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(GraphclsError, match="annotations"):
        read_coco_annotations(bad)


def test_safe_join(tmp_path):
    assert safe_join(tmp_path, "sub/x.jpg") == (tmp_path / "sub" / "x.jpg").resolve()
    for name in ("../x.jpg", "/etc/passwd", "a/../../x", ""):
        with pytest.raises(GraphclsError):
            safe_join(tmp_path, name)
