"""The raster family: graph painted on a lattice, then the CNN; named columns; lattice from the image size."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from models_testdata import WARD_COLUMNS
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.models import RasterNet, create_model, model_arguments, model_config, model_from_config

BUDGET = 100_000


def _lattice(model, batch):
    seen = {}
    hook = model.cnn.register_forward_hook(lambda mod, inp, out: seen.__setitem__("x", inp[0]))
    out = model(batch)
    hook.remove()
    return out, seen["x"]


def test_raster_model_per_graph(sp_graphs):
    b = Batch.from_data_list(sp_graphs[:3])
    torch.manual_seed(0)
    m = create_model("raster", in_channels=b.x.size(1), num_classes=10).eval()
    assert sum(p.numel() for p in m.parameters()) <= BUDGET
    alone = m(Batch.from_data_list([sp_graphs[1]]))
    assert torch.allclose(m(b)[1], alone[0], atol=1e-5)
    with pytest.raises(GraphclsError, match="cell"):
        create_model("raster", in_channels=3, num_classes=10, cell=0)
    with pytest.raises(GraphclsError, match="paint"):
        RasterNet(14, 10, paint="exact")


def test_raster_lattice_comes_from_the_image_size(sp_graphs):
    """One lattice cell per `cell` pixels of the image: 14x14 for 28x28 images (image_size or, without it,
    the extent of pos), 28x28 for the same graph stored at 56x56; every graph painted over its own image."""
    torch.manual_seed(0)
    g = sp_graphs[0]
    m = create_model("raster", in_channels=g.x.size(1), num_classes=10).eval()
    out, lat = _lattice(m, Batch.from_data_list([g]))
    assert lat.shape[-2:] == (14, 14)
    g28 = g.clone()
    g28.image_size = torch.tensor([[28, 28]])
    assert torch.equal(_lattice(m, Batch.from_data_list([g28]))[1], lat)
    big = g28.clone()
    big.pos, big.image_size = g.pos * 2 + 0.5, torch.tensor([[56, 56]])  # pixel centres of a 2x upscale
    _, lat_big = _lattice(m, Batch.from_data_list([big]))
    assert lat_big.shape[-2:] == (28, 28)
    m.cell = 4.0  # 4-pixel cells on the 56-pixel image are the 2-pixel cells on the 28-pixel one
    out_big, lat4 = _lattice(m, Batch.from_data_list([big]))
    assert torch.allclose(lat4, lat, atol=1e-5) and torch.allclose(out_big, out, atol=1e-5)


def test_raster_regions_model(ward_graphs):
    """raster-regions on 23-column graphs: budget, per-graph logits, a tiny run that learns, column checks."""
    b = Batch.from_data_list(ward_graphs[:3])
    torch.manual_seed(0)
    m = create_model("raster-regions", in_channels=b.x.size(1), num_classes=10, columns=WARD_COLUMNS).eval()
    assert b.x.size(1) == 23 and sum(p.numel() for p in m.parameters()) <= BUDGET
    out, lat = _lattice(m, b)
    assert lat.shape == (3, 32, 28, 28)
    assert torch.allclose(out[1], m(Batch.from_data_list([ward_graphs[1]]))[0], atol=1e-5)
    cfg = json.loads(json.dumps(model_config(m)))  # the columns survive a JSON config (checkpoints)
    assert cfg["kwargs"]["columns"] == WARD_COLUMNS and "columns" in model_arguments("raster-regions")
    rebuilt = model_from_config(cfg).eval()
    rebuilt.load_state_dict(m.state_dict())
    assert torch.equal(rebuilt(b), out)
    b = Batch.from_data_list(ward_graphs)
    m = create_model("raster-regions", in_channels=23, num_classes=10, columns=WARD_COLUMNS,
                     graph_widths=(16,), cnn_widths=(16, 16))
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(m(b), b.y)
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    no_occ = {k: v for k, v in WARD_COLUMNS.items() if k != "occupancy"}
    with pytest.raises(GraphclsError, match="'occupancy'"):
        create_model("raster-regions", in_channels=23, num_classes=10, columns=no_occ)
    with pytest.raises(GraphclsError, match="columns"):
        create_model("raster-regions", in_channels=23, num_classes=10)
    with pytest.raises(GraphclsError, match="within"):
        create_model("raster-regions", in_channels=14, num_classes=10, columns=WARD_COLUMNS)


def _hand_graph():
    """A 6x6 image of four regions with known means (an L, a 2x2 block, a 3x3 block, the bottom half)."""
    from pyg_graphcls.graphs.superpixels import segment_features
    seg = np.full((6, 6), 3, np.int64)
    seg[:3, :3] = 0
    seg[:2, 1:3] = 1
    seg[:3, 3:] = 2
    values = np.array([0.2, 0.9, 0.5, 0.1])
    img = values[seg][..., None]
    x, pos = segment_features(img, seg, ["mean", "bbox", "occupancy"])
    data = Data(x=torch.as_tensor(x, dtype=torch.float32), pos=torch.as_tensor(pos, dtype=torch.float32),
                edge_index=torch.tensor([[0, 1, 2, 3, 1, 2, 3, 0], [1, 2, 3, 0, 0, 1, 2, 3]]),
                image_size=torch.tensor([[6, 6]]), y=torch.tensor([0]))
    return data, img[..., 0], {"mean": [0, 1], "bbox": [1, 5], "occupancy": [5, 14]}


def test_raster_mean_paints_the_mean_picture(ward_graphs, real_images):
    """raster-mean: no message passing; the CNN reads each region's mean painted over its own shape --
    on a hand-made segmentation exactly the image, on real Ward graphs close to it."""
    data, img, cols = _hand_graph()
    m = create_model("raster-mean", in_channels=14, num_classes=10, columns=cols).eval()
    assert not list(m.blocks)
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in create_model("cnn").parameters())
    _, lat = _lattice(m, Batch.from_data_list([data]))
    assert lat.shape == (1, 1, 6, 6) and torch.allclose(lat[0, 0], torch.as_tensor(img, dtype=torch.float32))
    b = Batch.from_data_list(ward_graphs[:4])
    m = create_model("raster-mean", in_channels=23, num_classes=10, columns=WARD_COLUMNS).eval()
    out, lat = _lattice(m, b)
    assert out.shape == (4, 10) and lat.shape == (4, 1, 28, 28)
    assert np.abs(lat[:, 0].detach().numpy() * 255 - real_images[0][:4]).mean() < 20
    both = create_model("raster-mean", in_channels=23, num_classes=10, columns=WARD_COLUMNS,
                        painted=["mean", "std"]).eval()
    assert _lattice(both, b)[1].shape == (4, 2, 28, 28)
    with pytest.raises(GraphclsError, match="'gradient'"):
        create_model("raster-mean", in_channels=23, num_classes=10, columns=no_group(WARD_COLUMNS, "gradient"),
                     painted=["gradient"])
    with pytest.raises(GraphclsError, match="names"):
        create_model("raster-mean", in_channels=23, num_classes=10, columns=WARD_COLUMNS, painted="mean")


def no_group(columns, name):
    return {k: v for k, v in columns.items() if k != name}


def test_raster_mean_mp_blocks_beside_raw_columns(ward_graphs):
    """raster-mean-mp: the lattice is the raw groups' painting followed by the blocks' output; the blocks
    read the graph_input groups only."""
    b = Batch.from_data_list(ward_graphs[:3])
    torch.manual_seed(0)
    m = create_model("raster-mean-mp", in_channels=23, num_classes=10, columns=WARD_COLUMNS,
                     graph_input=["mean", "std"]).eval()
    plain = create_model("raster-mean", in_channels=23, num_classes=10, columns=WARD_COLUMNS).eval()
    out, lat = _lattice(m, b)
    _, lat_plain = _lattice(plain, b)
    assert out.shape == (3, 10) and lat.shape == (3, 9, 28, 28)
    assert torch.equal(lat[:, :1], lat_plain)                 # channel 0: the mean picture, untouched
    assert lat[:, 1:].abs().sum() > 0
    b2 = b.clone()
    b2.x = b.x.clone()
    b2.x[:, 4] += 5.0                                          # area: read by nothing
    assert torch.allclose(m(b2), out)
    b2.x[:, 1] += 0.5                                          # std: read by the blocks
    assert not torch.allclose(m(b2), out)
    out.sum().backward()
    assert m.embed[0].weight.grad is not None and m.embed[0].weight.shape == (8, 2)
    with pytest.raises(GraphclsError, match="graph_widths"):
        create_model("raster-mean-mp", in_channels=23, num_classes=10, columns=WARD_COLUMNS, graph_widths=())
