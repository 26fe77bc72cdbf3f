"""Layers PyG lacks: readouts, GPR propagation, masked label attention."""
from .gpr import GPRProp
from .masked_attention import (MaskedGraphAttention, SparseMaskedGraphAttention, mask_to_edge_index,
                               masked_softmax, multiply_mask_attention)
from .readout import READOUTS, Readout

__all__ = ["GPRProp", "Readout", "READOUTS", "MaskedGraphAttention", "SparseMaskedGraphAttention",
           "masked_softmax", "multiply_mask_attention", "mask_to_edge_index"]
