"""Reader of OGBN-Arxiv in the layout of OGB's released zip.

`arxiv.zip` unpacks to `arxiv/raw/` (gzip-compressed CSV files without
header: `node-feat.csv.gz` one row of 128 floats per node, `edge.csv.gz` one
"source,target" citation per row, `node-label.csv.gz` one label per node)
and `arxiv/split/time/` (`train.csv.gz`, `valid.csv.gz`, `test.csv.gz`: node
indices, split by publication year). The citations are made undirected;
features are used as given.
"""

import gzip
import os
import zlib

import numpy as np

from keras_slt.data.errors import DataError
from keras_slt.data.graphs.graph import Graph, check_labels, check_split, undirected_edges

NAME = "ogbn_arxiv"
NUM_CLASSES = 40
URL = "https://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip"
SHA256 = "49f85c801589ecdcc52cfaca99693aaea7b8af16a9ac3f41dd85a5f3193fe276"
RAW = ("node-feat.csv.gz", "edge.csv.gz", "node-label.csv.gz")
SPLITS = ("train.csv.gz", "valid.csv.gz", "test.csv.gz")


def root_of(data_dir):
    """The `arxiv` folder inside `data_dir`, or `data_dir` itself if it is one."""
    nested = os.path.join(data_dir, "arxiv")
    return nested if os.path.isdir(nested) else data_dir


def _read_csv(path, dtype, columns):
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)
    except FileNotFoundError:
        raise DataError(
            f"{path} does not exist; OGBN-Arxiv needs raw/{', raw/'.join(RAW)} "
            f"and split/time/{', split/time/'.join(SPLITS)} (from {URL})"
        ) from None
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise DataError(f"{path}: not a gzip-compressed CSV of numbers ({error})") from None
    if columns is not None and table.shape[1] != columns:
        raise DataError(f"{path}: expected {columns} columns, got {table.shape[1]}")
    return table


def read(data_dir):
    """Reads OGBN-Arxiv from `data_dir` (the `arxiv` folder or its parent).

    Returns:
        A `Graph` with OGB's time split (90,941 / 29,799 / 48,603 nodes).

    Raises:
        DataError: one line, for missing or malformed files, labels outside
            [0, 40), or edges pointing past the node count.

    Example:

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> def write(name, rows):
    ...     os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    ...     with gzip.open(os.path.join(root, name), "wt") as f:
    ...         np.savetxt(f, rows, delimiter=",", fmt="%g")
    >>> write("raw/node-feat.csv.gz", [[0.5, 1.0], [0.0, 2.0], [1.0, 0.0]])
    >>> write("raw/edge.csv.gz", [[0, 1], [1, 2]])
    >>> write("raw/node-label.csv.gz", [[0], [39], [7]])
    >>> for name, nodes in zip(SPLITS, ([0], [1], [2])):
    ...     write("split/time/" + name, [nodes])
    >>> graph = read(root)
    >>> graph.num_nodes, graph.num_features, graph.num_edges  # both directions
    (3, 2, 4)
    """
    root = root_of(data_dir)
    raw = os.path.join(root, "raw")
    features = _read_csv(os.path.join(raw, RAW[0]), np.float32, None)
    num_nodes = features.shape[0]
    edge_path = os.path.join(raw, RAW[1])
    edges = _read_csv(edge_path, np.int64, 2)
    label_path = os.path.join(raw, RAW[2])
    labels = _read_csv(label_path, np.int64, 1)[:, 0]
    if labels.shape[0] != num_nodes:
        raise DataError(f"{label_path}: {labels.shape[0]} labels for {num_nodes} nodes")
    check_labels(labels, NUM_CLASSES, label_path)
    splits = []
    for name in SPLITS:
        path = os.path.join(root, "split", "time", name)
        nodes = _read_csv(path, np.int64, 1)[:, 0]
        check_split(nodes, num_nodes, path)
        splits.append(nodes.astype(np.int32))
    return Graph(
        NAME,
        features,
        undirected_edges(edges[:, 0], edges[:, 1], num_nodes, edge_path),
        labels.astype(np.int32),
        *splits,
        num_classes=NUM_CLASSES,
    )
