"""Full-batch training on one graph, as `run_search` does for node datasets.

A node-classification run sees the whole graph in every step: one optimizer
step per epoch, the loss over the training nodes only (the other nodes carry
sample weight 0), BatchNorm statistics over all nodes. After each epoch
Keras evaluates the validation nodes (`val_accuracy`, which picks the best
epoch) and `TestAccuracy` the test nodes (`test_accuracy`, logged like any
metric). `keras_slt.data.load` gives `run_search` the graph as a `Dataset`
like the image datasets' (`keras_slt.data.batching.graph_batches`), so the
run's checkpoints, resume, TensorBoard logs and results.json are the same.
"""

import keras


class TestAccuracy(keras.callbacks.Callback):
    """Adds `test_accuracy` (and `test_loss`) to each epoch's logs.

    Args:
        test: the test stream (inputs, labels, sample weights).

    Example:

    >>> import numpy as np
    >>> from keras_slt.data.batching.graph_batches import GraphBatch
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
