r"""Which superpixels (nodes) and edges drove a prediction, through PyG's ``Explainer``.

PyG's :class:`torch_geometric.explain.Explainer` calls a model as
``model(x, edge_index, **kwargs)``; the toolkit's graph models take one
``Data``/``Batch``. :class:`ExplainAdapter` is the thin bridge between the two,
so every algorithm of ``torch_geometric.explain`` (GNNExplainer, PGExplainer,
CaptumExplainer where Captum is installed) runs on our models unchanged.

:class:`GradientSaliency` is a gradient method that needs no Captum: the node
importance is the absolute gradient of the explained logit with respect to each
node feature,

.. math::
    M_{i,f} = \left| \frac{\partial z_c}{\partial x_{i,f}} \right|,

and, for models built of ``MessagePassing`` layers (``gcn``, ``gat``, ``gpr``),
the edge importance is the absolute gradient with respect to a multiplicative
mask on each message (all ones, so the prediction is unchanged). Models whose
layers are not ``MessagePassing`` get node importance only.

:func:`explain_graph` runs one of them on a single graph and returns the
:class:`~torch_geometric.explain.Explanation` (``node_mask [N, F]``,
``edge_mask [E]`` or ``None``); :func:`node_importance` sums it to one number
per node.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch_geometric.explain import Explanation
from torch_geometric.explain.algorithm import ExplainerAlgorithm
from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
from torch_geometric.explain.config import MaskType

from .errors import GraphclsError

__all__ = ["ExplainAdapter", "GradientSaliency", "explain_graph", "node_importance", "has_message_passing",
           "EXPLAIN_METHODS"]

EXPLAIN_METHODS = ("saliency", "gnnexplainer", "integrated-gradients")
#: graph attributes handed to the model besides x and edge_index
_PASS_KEYS = ("pos", "edge_attr", "image_size", "batch")


class ExplainAdapter(nn.Module):
    """``adapter(x, edge_index, **kwargs)`` calls ``model(Data(x, edge_index, **kwargs))``.

    Args:
        model (nn.Module): a toolkit graph model (takes a ``Data``/``Batch``,
            returns logits ``[num_graphs, C]``).

    The other arguments are graph attributes (``pos``, ``edge_attr``,
    ``image_size``, ``batch``, in this order); without ``batch`` all nodes
    form one graph.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, edge_index: Tensor, pos: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                image_size: Optional[Tensor] = None, batch: Optional[Tensor] = None) -> Tensor:
        # a fixed argument order: Captum hands extra arguments on by position
        from torch_geometric.data import Data

        extra = {"pos": pos, "edge_attr": edge_attr, "image_size": image_size}
        data = Data(x=x, edge_index=edge_index, **{k: v for k, v in extra.items() if v is not None})
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        data.batch = batch
        data.num_graphs = int(batch.max()) + 1 if batch.numel() else 1
        return self.model(data)


def has_message_passing(model: nn.Module) -> bool:
    """Whether edge masks of ``torch_geometric.explain`` reach ``model`` (it has ``MessagePassing`` layers)."""
    from torch_geometric.nn import MessagePassing

    return any(isinstance(m, MessagePassing) for m in model.modules())


class GradientSaliency(ExplainerAlgorithm):
    """Gradient saliency as a ``torch_geometric.explain`` algorithm (see the module docstring)."""

    def forward(self, model: nn.Module, x: Tensor, edge_index: Tensor, *, target: Tensor,
                index: Optional[Any] = None, **kwargs: Any) -> Explanation:
        x = x.detach().clone().requires_grad_(True)
        edge_mask = None
        if self.explainer_config.edge_mask_type is not None:
            edge_mask = torch.ones(edge_index.size(1), device=x.device, requires_grad=True)
            set_masks(model, edge_mask, edge_index, apply_sigmoid=False)
        try:
            out = model(x, edge_index, **kwargs)
        finally:
            if edge_mask is not None:
                clear_masks(model)
        rows = torch.arange(out.size(0), device=out.device)
        cls = target.view(-1).to(out.device).expand(out.size(0)) if target.numel() == 1 else target.view(-1)
        score = out[rows, cls].sum()
        inputs = [x] + ([edge_mask] if edge_mask is not None else [])
        grads = torch.autograd.grad(score, inputs, allow_unused=True)
        node_mask = grads[0].abs() if grads[0] is not None else torch.zeros_like(x)
        emask = None
        if edge_mask is not None:
            emask = grads[1].abs() if grads[1] is not None else torch.zeros_like(edge_mask)
        if emask is None:
            return Explanation(node_mask=node_mask.detach())
        return Explanation(node_mask=node_mask.detach(), edge_mask=emask.detach())

    def supports(self) -> bool:
        return self.explainer_config.node_mask_type in (None, MaskType.attributes)


def _algorithm(method: str, epochs: int):
    from torch_geometric.explain.algorithm import GNNExplainer

    if method == "saliency":
        return GradientSaliency()
    if method == "gnnexplainer":
        return GNNExplainer(epochs=epochs)
    if method == "integrated-gradients":
        try:
            from torch_geometric.explain.algorithm import CaptumExplainer
            import captum  # noqa: F401
        except ImportError:
            raise GraphclsError("method 'integrated-gradients' needs Captum: pip install captum "
                                "(or use --method saliency)") from None
        return CaptumExplainer("IntegratedGradients")
    raise GraphclsError(f"explanation method must be one of {', '.join(EXPLAIN_METHODS)}, got {method!r}")


def explain_graph(model: nn.Module, data: Any, method: str = "saliency", target: Optional[int] = None,
                  epochs: int = 100):
    """Explain ``model``'s prediction on one graph.

    Args:
        model (nn.Module): a toolkit graph model, in eval mode or not (it is
            put in eval mode and restored).
        data (Data): one graph (``x``, ``edge_index`` and whatever the model
            reads: ``pos``, ``edge_attr``, ``image_size``).
        method (str): ``"saliency"`` (:class:`GradientSaliency`),
            ``"gnnexplainer"`` (PyG's GNNExplainer, ``epochs`` steps) or
            ``"integrated-gradients"`` (PyG's CaptumExplainer; needs Captum).
        target (int, optional): the class to explain; default the predicted one.

    Returns:
        :class:`torch_geometric.explain.Explanation` with ``node_mask [N, F]``,
        ``edge_mask [E]`` (absent for models without ``MessagePassing``
        layers, and for integrated gradients), ``target`` and ``prediction`` (the class probabilities).
    """
    from torch_geometric.explain import Explainer

    if getattr(data, "x", None) is None or getattr(data, "edge_index", None) is None:
        raise GraphclsError("explain_graph: the graph needs x and edge_index")
    if epochs < 1:
        raise GraphclsError(f"explain_graph: epochs must be >= 1, got {epochs}")
    algorithm = _algorithm(method, epochs)
    # Captum's integrated gradients here gives node attributions only (its edge path fails on our adapter)
    edge_mask_type = "object" if has_message_passing(model) and method != "integrated-gradients" else None
    adapter = ExplainAdapter(model)
    was_training = model.training
    model.eval()
    try:
        explainer = Explainer(model=adapter, algorithm=algorithm, explanation_type="phenomenon",
                              node_mask_type="attributes", edge_mask_type=edge_mask_type,
                              model_config=dict(mode="multiclass_classification", task_level="graph",
                                                return_type="raw"))
        x = data.x.float()
        kwargs = {k: getattr(data, k, None) for k in _PASS_KEYS}  # all, in the adapter's order
        with torch.no_grad():
            logits = adapter(x, data.edge_index, **kwargs)
        cls = int(logits.argmax(-1)[0]) if target is None else int(target)
        if not 0 <= cls < logits.size(-1):
            raise GraphclsError(f"explain_graph: target {cls} is not a class of a {logits.size(-1)}-class model")
        expl = explainer(x, data.edge_index, target=torch.tensor([cls], device=x.device), **kwargs)
    finally:
        model.train(was_training)
    expl.prediction = logits.softmax(-1).detach()
    expl.target = torch.tensor([cls])
    return expl


def node_importance(explanation: Any) -> Tensor:
    """``[N]``: the node mask summed over features (absolute values), one number per node."""
    mask = getattr(explanation, "node_mask", None)
    if mask is None:
        raise GraphclsError("the explanation has no node_mask")
    return mask.detach().abs().reshape(mask.size(0), -1).sum(-1)
