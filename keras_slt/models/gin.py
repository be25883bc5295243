"""The GIN network of the paper's node-classification experiment.

Four GIN layers, h' = Linear((1 + eps) * h + mean of h over in-neighbours)
with eps = 0, each followed by a non-affine BatchNorm over the nodes and a
ReLU; the output averages a linear read-out of the third layer's output with
the fourth layer's output. No biases. For OGBN-Arxiv (128 features, 40
classes, width 386) the five linears hold 378,280 weights.

The model takes a batch of one graph: {"features": (1, nodes, features)
float32, "edges": (1, 2, edges) int32 (row 0 senders, row 1 receivers)} and
returns logits (1, nodes, classes). `keras_slt.data.graphs.Graph.inputs()`
gives that form.
"""

import keras
from keras import layers, ops

from keras_slt.utils.validation import check_positive_int

HIDDEN_WIDTH = 386
NUM_LAYERS = 4


def neighbour_mean(values, senders, receivers):
    """Mean of `values` over each node's in-neighbours (0 for none).

    Args:
        values: (nodes, channels) node values.
        senders, receivers: int32 (edges,) ends of each directed edge.

    Returns:
        (nodes, channels): row i is the mean of values[senders[e]] over the
        edges e with receivers[e] == i.
    """
    num_nodes = ops.shape(values)[0]
    total = ops.segment_sum(ops.take(values, senders, axis=0), receivers, num_segments=num_nodes)
    degree = ops.segment_sum(ops.ones_like(receivers, dtype=values.dtype), receivers, num_segments=num_nodes)
    return total / ops.expand_dims(ops.maximum(degree, 1.0), -1)


@keras.saving.register_keras_serializable(package="keras_slt")
class GINAggregation(layers.Layer):
    """(1 + eps) * h + the mean of h over in-neighbours, for one graph.

    Args:
        epsilon: the fixed eps of GIN (0 in the paper).

    Call arguments:
        inputs: [h of shape (1, nodes, channels), edges of shape (1, 2, edges)].

    Example:

    >>> import numpy as np
    >>> features = np.array([[[1.0], [2.0], [4.0]]], "float32")  # 3 nodes
    >>> edges = np.array([[[0, 1], [1, 2]]], "int32")  # 0 -> 1, 1 -> 2
    >>> keras.ops.convert_to_numpy(GINAggregation()([features, edges])).ravel().tolist()
    [1.0, 3.0, 6.0]
    """

    def __init__(self, epsilon=0.0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        values, edges = inputs
        values = values[0]
        edges = ops.cast(edges[0], "int32")
        mean = neighbour_mean(values, edges[0], edges[1])
        return ops.expand_dims((1.0 + self.epsilon) * values + mean, 0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def gin(input_shape, num_classes, width=HIDDEN_WIDTH):
    """The GIN-based network for node classification (no biases).

    Args:
        input_shape: (num_features,), the node feature width.
        num_classes: number of output logits per node.
        width: units of the hidden GIN layers.

    Returns:
        A `keras.Model` named "gin" with inputs {"features", "edges"} and
        logits of shape (1, nodes, num_classes).

    Example:

    >>> model = gin((128,), 40)
    >>> model.count_params()  # 378,280 weights; the BatchNorm statistics add 2,396
    380676
    """
    check_positive_int("width", width)
    features = keras.Input((None, input_shape[-1]), name="features")
    edges = keras.Input((2, None), dtype="int32", name="edges")
    h, outputs = features, []
    for index in range(NUM_LAYERS):
        units = num_classes if index == NUM_LAYERS - 1 else width
        h = GINAggregation(name=f"aggregate{index + 1}")([h, edges])
        h = layers.Dense(units, use_bias=False, kernel_initializer="he_uniform", name=f"gin{index + 1}")(h)
        # PyTorch's BatchNorm1d defaults: momentum 0.1 (0.9 in Keras terms), eps 1e-5.
        h = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, scale=False, name=f"norm{index + 1}")(h)
        h = layers.ReLU(name=f"relu{index + 1}")(h)
        outputs.append(h)
    read_out = layers.Dense(num_classes, use_bias=False, kernel_initializer="he_uniform", name="readout")(outputs[-2])
    logits = layers.Average(name="logits")([read_out, outputs[-1]])
    return keras.Model({"features": features, "edges": edges}, logits, name="gin")
