"""Full-batch training on one graph, as `run_search` does for node datasets.

A node-classification run sees the whole graph in every step: one optimizer
step per epoch, the loss over the training nodes only (the other nodes carry
sample weight 0), BatchNorm statistics over all nodes. After each epoch
Keras evaluates the validation nodes (`val_accuracy`, which picks the best
epoch) and `TestAccuracy` the test nodes (`test_accuracy`, logged like any
metric). `GraphData` gives `run_search` the graph in the form of the image
datasets (`train`, `validation`, `test` streams, split sizes), so the run's
checkpoints, resume, TensorBoard logs and results.json are the same.
"""

import keras

from keras_slt.data.graphs import load_graph


class TestAccuracy(keras.callbacks.Callback):
    """Adds `test_accuracy` (and `test_loss`) to each epoch's logs.

    Args:
        test: the test stream (inputs, labels, sample weights).

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               metrics=["accuracy"])
    >>> x = np.eye(3, dtype="float32")  # three nodes; the test split is node 2
    >>> test = GraphBatch((x, np.array([0, 1, 1]), np.array([0.0, 0.0, 3.0])))
    >>> test_accuracy = TestAccuracy(test)
    >>> test_accuracy.set_model(model)  # as fit does
    >>> logs = {"loss": 0.7}
    >>> test_accuracy.on_epoch_end(0, logs)
    >>> sorted(logs)
    ['loss', 'test_accuracy', 'test_loss']
    """

    def __init__(self, test):
        super().__init__()
        self.test = test

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        results = self.model.evaluate(self.test, verbose=0, return_dict=True)
        logs["test_accuracy"] = results["accuracy"]
        logs["test_loss"] = results["loss"]


class GraphBatch(keras.utils.PyDataset):
    """One batch (a whole graph), once, or again and again when `endless`.

    A `PyDataset`, so that graph runs need no `tf.data` (any backend).

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


class GraphData:
    """One graph as the three one-element streams a full-batch run uses.

    Each stream yields the whole graph once, (inputs, labels, sample
    weights), with the weights of its split (see `Graph.targets`).

    Args:
        graph: a `keras_slt.data.graphs.Graph`.

    Example:

    >>> import numpy as np
    >>> from keras_slt.data.graphs import Graph
    >>> graph = Graph(name="path", features=np.eye(4, dtype="float32"),
    ...               edges=np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]], "int32"),
    ...               labels=np.array([0, 0, 1, 1], "int32"), train=np.array([0, 3], "int32"),
    ...               validation=np.array([1], "int32"), test=np.array([2], "int32"), num_classes=2)
    >>> data = GraphData(graph)
    >>> data.num_train, data.num_validation, data.num_test, data.input_shape
    (2, 1, 1, (4,))
    >>> inputs, labels, weights = data.train_from(0)[0]  # the whole graph
    >>> weights.tolist()  # the training nodes, 0 and 3
    [[2.0, 0.0, 0.0, 2.0]]
    """

    steps_per_epoch = 1

    def __init__(self, graph):
        self.graph = graph
        inputs = graph.inputs()
        self.train, self.validation, self.test = (
            GraphBatch((inputs, *graph.targets(split))) for split in ("train", "validation", "test")
        )
        self.num_train = len(graph.train)
        self.num_validation = len(graph.validation)
        self.num_test = len(graph.test)
        self.input_shape = (graph.num_features,)
        self.num_classes = graph.num_classes

    def train_from(self, epoch):
        """The training stream: the whole graph, once per epoch, without end."""
        del epoch  # every epoch sees the same graph
        return GraphBatch(self.train.batch, endless=True)

    def callbacks(self):
        """Callbacks of the run that come before its own."""
        return [TestAccuracy(self.test)]


def load(name, data_dir=None):
    """The `GraphData` of the graph `name` (see `keras_slt.data.graphs`)."""
    return GraphData(load_graph(name, data_dir))
