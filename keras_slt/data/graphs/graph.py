"""`Graph`: one node-classification dataset held in memory."""

import dataclasses

import numpy as np

from keras_slt.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class Graph:
    """A graph with node features, labels and a train/validation/test split.

    Attributes:
        name: the dataset name.
        features: float32 array (num_nodes, num_features).
        edges: int32 array (2, num_edges): row 0 the source (sender), row 1
            the target (receiver) of each directed edge. The readers store
            each undirected edge in both directions, without self-loops.
        labels: int32 array (num_nodes,), in [0, num_classes).
        train, validation, test: int32 arrays of node indices.
        num_classes: number of label values.
    """

    name: str
    features: np.ndarray
    edges: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    num_classes: int

    @property
    def num_nodes(self):
        return self.features.shape[0]

    @property
    def num_features(self):
        return self.features.shape[1]

    @property
    def num_edges(self):
        return self.edges.shape[1]

    def inputs(self):
        """The model inputs: a batch of one graph, {"features", "edges"}."""
        return {"features": self.features[None], "edges": self.edges[None]}

    def targets(self, split):
        """(labels, sample weights) of one split, as a batch of one graph.

        The weights are 0 outside the split and num_nodes / |split| inside,
        so the weighted loss Keras reports (summed, divided by the number of
        nodes) is the mean loss over the split's nodes.

        Args:
            split: "train", "validation" or "test".
        """
        nodes = getattr(self, split)
        if not len(nodes):
            raise ValueError(f"graph {self.name}: the {split} split has no nodes")
        weights = np.zeros(self.num_nodes, np.float32)
        weights[nodes] = self.num_nodes / len(nodes)
        return self.labels[None], weights[None]


def undirected_edges(sources, targets, num_nodes, where):
    """Both directions of every edge, duplicates and self-loops removed.

    Args:
        sources, targets: integer arrays of node indices.
        num_nodes: node count; indices must lie in [0, num_nodes).
        where: the file the edges come from, for error messages.

    Returns:
        An int32 array (2, num_edges), sorted by target then source.

    Raises:
        DataError: if an index lies outside [0, num_nodes).
    """
    sources = np.asarray(sources, np.int64).ravel()
    targets = np.asarray(targets, np.int64).ravel()
    for ends in (sources, targets):
        if ends.size and (ends.min() < 0 or ends.max() >= num_nodes):
            bad = ends[(ends < 0) | (ends >= num_nodes)][0]
            raise DataError(f"{where}: edge end {bad} is not a node index in [0, {num_nodes})")
    both = np.concatenate([np.stack([sources, targets]), np.stack([targets, sources])], axis=1)
    both = both[:, both[0] != both[1]]
    # One int64 key per edge, unique and sorted by (target, source).
    keys = np.unique(both[1] * num_nodes + both[0])
    return np.stack([keys % num_nodes, keys // num_nodes]).astype(np.int32)


def check_labels(labels, num_classes, where):
    """Raises DataError unless every label is in [0, num_classes)."""
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise DataError(f"{where}: label {bad} is outside [0, {num_classes})")


def check_split(nodes, num_nodes, where):
    """Raises DataError unless the split is non-empty and indexes nodes."""
    if nodes.size == 0:
        raise DataError(f"{where}: the split is empty")
    if nodes.min() < 0 or nodes.max() >= num_nodes:
        raise DataError(f"{where}: node index {int(nodes.max())} is outside [0, {num_nodes})")
