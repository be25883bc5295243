"""Node-classification graphs: `load_graph(name, data_dir)` returns a `Graph`.

- "cora", "citeseer", "pubmed": the Planetoid files and their public split
  (`keras_slt.data.graphs.planetoid`);
- "ogbn_arxiv": OGB's released CSV files and time split
  (`keras_slt.data.graphs.ogb`).

Without `data_dir` the files are downloaded once with `keras.utils.get_file`
into the Keras cache (`~/.keras/datasets`), checked against their sha256
where one is pinned; a host that does not answer fails the load at once.

Example:

>>> import numpy as np
>>> import keras_slt
>>> from keras_slt.data.graphs import Graph
>>> graph = Graph(name="path", features=np.eye(4, dtype="float32"),  # what load_graph returns
...               edges=np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]], "int32"),
...               labels=np.array([0, 0, 1, 1], "int32"), train=np.array([0, 3], "int32"),
...               validation=np.array([1], "int32"), test=np.array([2], "int32"), num_classes=2)
>>> model = keras_slt.models.get("gin", (graph.num_features,), graph.num_classes, width=8)
>>> tuple(model(graph.inputs()).shape)  # one graph, 4 nodes, 2 classes
(1, 4, 2)
>>> labels, weights = graph.targets("train")  # for fit(inputs, labels, sample_weight=weights)
>>> weights.tolist()  # the loss is over the training nodes 0 and 3
[[2.0, 0.0, 0.0, 2.0]]
"""

import os

from keras_slt.data.errors import DataError
from keras_slt.data.graphs import ogb, planetoid
from keras_slt.data.graphs.graph import Graph
from keras_slt.data.readers import downloads
from keras_slt.utils.validation import check_one_of

NAMES = planetoid.NAMES + (ogb.NAME,)
CACHE_SUBDIR = "keras_slt_graphs"


def _download(name):
    """Fetches the files of `name` into the Keras cache; returns their folder.

    Files already in the cache are not fetched again. A connection that
    stays silent for `downloads.STALL_TIMEOUT_S` seconds fails the download
    (`keras.utils.get_file` would otherwise wait on it without end).
    """
    try:
        with downloads.stall_timeout():
            return _fetch(name)
    except Exception as error:  # network, hash and archive errors alike
        raise DataError(f"{name}: download failed ({error}); pass data_dir with the files") from None


def _fetch(name):
    # Imported here: the graph names are checked (by the command-line tools'
    # flags) without loading Keras.
    import keras

    if name == ogb.NAME:
        path = keras.utils.get_file(
            "arxiv.zip", ogb.URL, file_hash=ogb.SHA256, hash_algorithm="sha256", extract=True, cache_subdir=CACHE_SUBDIR
        )
        return path if os.path.isdir(path) else os.path.dirname(path)
    for file_name in planetoid.file_names(name):
        path = keras.utils.get_file(
            file_name,
            planetoid.URL + file_name,
            file_hash=planetoid.SHA256.get(file_name),
            hash_algorithm="sha256",
            cache_subdir=CACHE_SUBDIR,
        )
    return os.path.dirname(path)


def load_graph(name, data_dir=None):
    """Loads a node-classification graph by name.

    Args:
        name: one of `NAMES`.
        data_dir: folder of the files; None downloads them.

    Returns:
        A `Graph`.

    Raises:
        ValueError: for an unknown name.
        DataError: for missing, malformed or unsafe files (one line).
    """
    check_one_of("graph", name, NAMES)
    if data_dir is None:
        data_dir = _download(name)
    if name == ogb.NAME:
        return ogb.read(os.fspath(data_dir))
    return planetoid.read(name, os.fspath(data_dir))


__all__ = ["Graph", "NAMES", "load_graph"]
