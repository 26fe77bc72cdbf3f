"""Graph builder arguments and feature columns shared by the model tests."""

#: superpixel graphs as the accuracy recipes build them: 75 SLIC regions, 9 columns, kNN-8
SUPERPIXEL_GRAPH = {"n_segments": 75, "features": ["mean", "std", "centroid", "area", "bbox"], "edges": "knn",
                    "k": 8, "edge_attr": ["distance", "cartesian"]}
#: the same with moments, gradient and occupancy (23 columns), regions merged by Ward's criterion
SUPERPIXEL_WARD_GRAPH = {**SUPERPIXEL_GRAPH, "merge": "ward",
                         "features": SUPERPIXEL_GRAPH["features"] + ["moments", "gradient", "occupancy"]}
#: feature group -> [start, stop) of SUPERPIXEL_WARD_GRAPH's columns (one channel), written out by hand
WARD_COLUMNS = {"mean": [0, 1], "std": [1, 2], "centroid": [2, 4], "area": [4, 5], "bbox": [5, 9],
                "moments": [9, 12], "gradient": [12, 14], "occupancy": [14, 23]}
