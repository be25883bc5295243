"""Reader of the Planetoid citation graphs (Cora, CiteSeer, PubMed).

The Planetoid authors' `ind.<name>.*` files are Python pickles: `allx`/`ally`
(features as a SciPy CSR matrix, one-hot labels) of the nodes that are not
test nodes, `tx`/`ty` of the test nodes, `x`/`y` of the labelled training
nodes (the first rows of `allx`), `graph` (a dict of adjacency lists) and
`test.index` (text: the graph position of each row of `tx`). They are read
with `safe_pickle`, which admits only the classes these files hold; SciPy is
not needed (a CSR matrix is rebuilt from its three arrays).

The public split: the first len(y) nodes train (140 for Cora), the next 500
validate, the 1000 nodes of `test.index` test. Features are row-normalized
(each row sums to 1, as the official code and the GCN papers do).
"""

import os

import numpy as np

from keras_slt.data.errors import DataError
from keras_slt.data.graphs.graph import Graph, check_split, undirected_edges
from keras_slt.data.readers import safe_pickle
from keras_slt.utils import budget

NAMES = ("cora", "citeseer", "pubmed")
PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
NUM_VALIDATION = 500
# Most feature columns a matrix may declare: CiteSeer's 3703 words are the
# most of the three; the dense features of a larger vocabulary would not
# fit a graph this reader is for.
MAX_FEATURES = 1 << 16
URL = "https://github.com/kimiyoung/planetoid/raw/master/data/"
# sha256 of the files keras.utils.get_file downloads (Cora's; the other
# graphs are downloaded unchecked: no pinned hash is available here).
SHA256 = {
    "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    "ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    "ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    "ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    "ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
}


class _CSRMatrix:
    """Stands in for scipy.sparse.csr_matrix while unpickling: keeps its state."""

    def __setstate__(self, state):
        self.state = state


def _allowed():
    """The globals the Planetoid pickles name (Python 2 spellings included)."""
    import collections

    return {
        **safe_pickle.NUMPY_ARRAYS,
        ("scipy.sparse.csr", "csr_matrix"): _CSRMatrix,
        ("scipy.sparse._csr", "csr_matrix"): _CSRMatrix,
        ("collections", "defaultdict"): collections.defaultdict,
        ("__builtin__", "list"): list,
        ("builtins", "list"): list,
    }


def file_names(name):
    """The names of the eight Planetoid files of graph `name`."""
    return [f"ind.{name}.{part}" for part in PARTS]


def _dense(value, path):
    """A 2-D float32 array from a pickled CSR matrix or array."""
    if isinstance(value, _CSRMatrix):
        try:
            rows, cols = (int(n) for n in value.state["_shape"])
            indptr = np.asarray(value.state["indptr"], np.int64)
            indices = np.asarray(value.state["indices"], np.int64)
            data = np.asarray(value.state["data"], np.float32)
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{path}: malformed CSR matrix ({error})") from None
        # The rows are backed by indptr; the columns by nothing but the
        # bound (the dense matrix is made from the declared shape).
        if rows < 0 or not 0 <= cols <= MAX_FEATURES:
            raise DataError(f"{path}: CSR matrix of shape ({rows}, {cols}); at most {MAX_FEATURES} columns")
        if (
            indptr.shape != (rows + 1,)
            or indices.shape != data.shape
            or indptr[0] != 0
            or indptr[-1] != len(data)
            or np.any(np.diff(indptr) < 0)
            or (indices.size and (indices.min() < 0 or indices.max() >= cols))
        ):
            raise DataError(f"{path}: malformed CSR matrix (inconsistent indptr/indices)")
        budget.check(
            f"{path}: a CSR matrix of shape ({rows}, {cols}) read as dense float32 features", 4 * rows * cols, DataError
        )
        dense = np.zeros((rows, cols), np.float32)
        dense[np.repeat(np.arange(rows), np.diff(indptr)), indices] = data
        return dense
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype.kind in "biuf":
        budget.check(
            f"{path}: a {value.dtype} matrix of shape {value.shape} read as float32", 4 * value.size, DataError
        )
        return value.astype(np.float32)
    raise DataError(f"{path}: expected a matrix, got {type(value).__name__}")


def read(name, data_dir):
    """Reads one Planetoid graph from `data_dir`.

    Args:
        name: "cora", "citeseer" or "pubmed".
        data_dir: the folder holding `ind.<name>.*`.

    Returns:
        A `Graph` with the public split.

    Raises:
        DataError: one line, for a missing, malformed or unsafe file.

    Example:

    >>> import tempfile
    >>> read("cora", tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    keras_slt.data.errors.DataError: .../ind.cora.x does not exist; cora needs ind.cora.x, ind.cora.y, ind.cora.tx, ind.cora.ty, ind.cora.allx, ind.cora.ally, ind.cora.graph, ind.cora.test.index
    """
    paths = {part: os.path.join(data_dir, f"ind.{name}.{part}") for part in PARTS}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise DataError(f"{missing[0]} does not exist; {name} needs {', '.join(file_names(name))}")
    allowed = _allowed()
    loaded = {part: safe_pickle.load(paths[part], allowed) for part in PARTS if part != "test.index"}
    x, y, tx, ty, allx, ally = (_dense(loaded[p], paths[p]) for p in ("x", "y", "tx", "ty", "allx", "ally"))
    try:
        test_index = np.loadtxt(paths["test.index"], dtype=np.int64, ndmin=1)
    except (ValueError, OverflowError) as error:
        raise DataError(f"{paths['test.index']}: not a list of integers ({error})") from None
    for rows, labels, part in ((x, y, "y"), (allx, ally, "ally"), (tx, ty, "ty")):
        if rows.shape[0] != labels.shape[0]:
            raise DataError(f"{paths[part]}: {labels.shape[0]} label rows for {rows.shape[0]} feature rows")
    if not len(y):
        raise DataError(f"{paths['y']}: no training nodes (the first len(y) nodes train)")
    if len(test_index) != tx.shape[0]:
        raise DataError(f"{paths['test.index']}: {len(test_index)} indices for {tx.shape[0]} test rows")
    if not (x.shape[1] == tx.shape[1] == allx.shape[1] and y.shape[1] == ty.shape[1] == ally.shape[1]):
        raise DataError(f"{data_dir}: the feature or label widths of the {name} files differ")
    num_known = allx.shape[0]
    # The public split's training and validation nodes are the first rows of
    # allx; past them they would be test nodes (or nodes without features).
    if len(y) + NUM_VALIDATION > num_known:
        raise DataError(
            f"{paths['allx']}: {num_known} rows, fewer than the {len(y)} training and "
            f"{NUM_VALIDATION} validation nodes of the public split (they would overlap the test nodes)"
        )
    if test_index.size and test_index.min() < num_known:
        raise DataError(f"{paths['test.index']}: test index {test_index.min()} is below {num_known}")
    # Test nodes missing from test.index (CiteSeer's isolated nodes) get
    # zero features and no label, as in the Planetoid authors' code. The
    # graph lists every node, so it bounds the highest index.
    graph_nodes = len(loaded["graph"]) if isinstance(loaded["graph"], dict) else 0
    if test_index.size and test_index.max() >= max(num_known + tx.shape[0], graph_nodes):
        raise DataError(
            f"{paths['test.index']}: test index {test_index.max()} is past the "
            f"{max(num_known + tx.shape[0], graph_nodes)} nodes of the graph"
        )
    values, counts = np.unique(test_index, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{paths['test.index']}: test index {values[counts > 1][0]} is listed twice")
    num_nodes = max(num_known + tx.shape[0], int(test_index.max()) + 1 if test_index.size else 0)
    budget.check(
        f"{data_dir}: {name}'s {num_nodes} x {allx.shape[1] + ally.shape[1]} dense features and labels",
        4 * num_nodes * (allx.shape[1] + ally.shape[1]),
        DataError,
    )
    features = np.zeros((num_nodes, allx.shape[1]), np.float32)
    onehot = np.zeros((num_nodes, ally.shape[1]), np.float32)
    features[:num_known], onehot[:num_known] = allx, ally
    features[test_index], onehot[test_index] = tx, ty
    sums = features.sum(axis=1, keepdims=True)
    features = np.divide(features, sums, out=np.zeros_like(features), where=sums != 0)
    labels = onehot.argmax(axis=1).astype(np.int32)
    edges = _edges(loaded["graph"], num_nodes, paths["graph"])
    train = np.arange(len(y), dtype=np.int32)
    validation = np.arange(len(y), len(y) + NUM_VALIDATION, dtype=np.int32)
    test = np.sort(test_index).astype(np.int32)
    for nodes, part in ((validation, "validation"), (test, "test")):
        check_split(nodes, num_nodes, f"{data_dir}: {name} {part} split")
    return Graph(name, features, edges, labels, train, validation, test, num_classes=ally.shape[1])


def _edges(adjacency, num_nodes, path):
    if not isinstance(adjacency, dict):
        raise DataError(f"{path}: expected a dict of adjacency lists, got {type(adjacency).__name__}")
    sources, targets = [], []
    for node, neighbours in adjacency.items():
        if not isinstance(neighbours, list) or not all(isinstance(n, int) for n in [node, *neighbours]):
            raise DataError(f"{path}: node {node!r} has no list of integer neighbours")
        bad = next((n for n in [node, *neighbours] if not 0 <= n < num_nodes), None)
        if bad is not None:  # before NumPy, which cannot hold 2**70
            raise DataError(f"{path}: node {bad} is not a node index in [0, {num_nodes})")
        sources.extend([node] * len(neighbours))
        targets.extend(neighbours)
    return undirected_edges(sources, targets, num_nodes, path)
