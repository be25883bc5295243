"""A node-classification graph as a `Dataset` whose one batch is the whole graph.

Full-batch training, as the graph networks are trained: every step sees all
nodes (BatchNorm statistics over all of them), one step per epoch, and the
loss of a split is over its own nodes only, the others weighing 0 (see
`keras_slt.data.graphs.Graph.targets`). The batches are
`keras.utils.PyDataset`s, so no backend needs `tf.data` for them.
"""

import keras

from keras_slt.data.dataset import Dataset


class GraphBatch(keras.utils.PyDataset):
    """One batch (a whole graph), once, or again and again when `endless`.

    Args:
        batch: `(inputs, labels, sample_weights)`.
        endless: whether the stream repeats the batch without end (training,
            where `fit` counts the steps); otherwise it yields it once.

    Example:

    >>> graph = GraphBatch(("inputs", "labels", "weights"), endless=True)
    >>> graph[0] == graph[5] == ("inputs", "labels", "weights")
    True
    """

    def __init__(self, batch, endless=False):
        super().__init__()
        self.batch, self.endless = batch, endless

    @property
    def num_batches(self):
        return None if self.endless else 1

    def __getitem__(self, index):
        return self.batch


def graph_dataset(graph):
    """The `Dataset` of `graph`: each split the whole graph, weighted to its nodes.

    The training stream repeats the graph in every epoch (nothing is random:
    every epoch is the same), and `batch_size` is the number of training
    nodes, so that `steps_per_epoch` is 1.

    Args:
        graph: a `keras_slt.data.graphs.Graph`.

    Returns:
        A `Dataset` whose batches are `(inputs, labels, sample_weights)`,
        `inputs` the `{"features", "edges"}` of `Graph.inputs`, and whose
        `input_shape` is `(num_features,)`.

    Example:

    >>> import numpy as np
    >>> from keras_slt.data.graphs import Graph
    >>> graph = Graph(name="path", features=np.eye(4, dtype="float32"),
    ...               edges=np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]], "int32"),
    ...               labels=np.array([0, 0, 1, 1], "int32"), train=np.array([0, 3], "int32"),
    ...               validation=np.array([1], "int32"), test=np.array([2], "int32"), num_classes=2)
    >>> data = graph_dataset(graph)
    >>> data.num_train, data.num_validation, data.num_test, data.input_shape, data.steps_per_epoch
    (2, 1, 1, (4,), 1)
    >>> inputs, labels, weights = data.train_from(0)[0]  # the whole graph
    >>> weights.tolist()  # the training nodes, 0 and 3
    [[2.0, 0.0, 0.0, 2.0]]
    """
    inputs = graph.inputs()
    train, validation, test = ((inputs, *graph.targets(split)) for split in ("train", "validation", "test"))
    return Dataset(
        train_from=lambda epoch: GraphBatch(train, endless=True),
        validation=GraphBatch(validation),
        test=GraphBatch(test),
        input_shape=(graph.num_features,),
        num_classes=graph.num_classes,
        num_train=len(graph.train),
        num_validation=len(graph.validation),
        num_test=len(graph.test),
        batch_size=len(graph.train),
    )
