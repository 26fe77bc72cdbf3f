"""Drawing: graphs over images, training curves, label graphs and attention.

Everything draws on :class:`matplotlib.figure.Figure` objects with an Agg
canvas (or on an ``ax`` you pass), so the pyplot backend is never switched;
every function returns the figure and, given ``path``, writes a PNG
atomically.
"""
from .curves import load_history, new_figure, plot_confusion_matrix, plot_history, save_figure
from .explain import draw_explanation, importance_map
from .export import export_graphs, from_networkx_graph, networkx_layout, to_networkx_graph
from .graphs import draw_graph, draw_misclassified, image_array, seg_boundaries, seg_boundary_segments
from .labels import draw_attention, draw_label_graph, label_graph_matrix

__all__ = [
    "plot_history", "load_history", "plot_confusion_matrix", "save_figure", "new_figure",
    "draw_graph", "draw_misclassified", "to_networkx_graph", "from_networkx_graph", "networkx_layout", "export_graphs",
    "image_array", "seg_boundaries", "seg_boundary_segments",
    "draw_explanation", "importance_map", "draw_label_graph", "draw_attention", "label_graph_matrix",
]
