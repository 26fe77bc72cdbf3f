"""Layers, one per file: direction-aware convolution, GatedGCN layer, grid pooling, readouts,
rasterization, GPR propagation, masked label attention."""
from .neighbours import NeighbourGraph, SlotOperator, gat_conv, gcn_operator, neighbour_graph
from .directional_conv import (DirectionalBlock, DirectionalConv, direction_basis, full_grid_layout, neighbour_basis,
                               relative_positions)
from .gated_gcn import GatedGCNLayer
from .gpr import GPRProp
from .grid_pool import grid_pool
from .masked_attention import (MaskedGraphAttention, SparseMaskedGraphAttention, mask_to_edge_index,
                               masked_softmax, multiply_mask_attention)
from .rasterize import rasterize_nearest, rasterize_regions, region_columns
from .readout import READOUTS, MultiScaleReadout, Readout

__all__ = ["NeighbourGraph", "SlotOperator", "neighbour_graph", "gcn_operator", "gat_conv", "neighbour_basis",
           "DirectionalConv", "DirectionalBlock", "direction_basis", "relative_positions", "full_grid_layout",
           "GatedGCNLayer", "GPRProp", "grid_pool", "Readout", "MultiScaleReadout", "READOUTS",
           "rasterize_nearest", "rasterize_regions", "region_columns", "MaskedGraphAttention",
           "SparseMaskedGraphAttention", "masked_softmax", "multiply_mask_attention", "mask_to_edge_index"]
