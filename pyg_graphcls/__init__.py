"""pyg_graphcls: image classification with graph neural networks on PyTorch Geometric."""
from .errors import GraphclsError

__version__ = "0.1.0"
__all__ = ["GraphclsError", "__version__"]
