"""The part every supermask layer shares: W, scores, freeze and the mask.

A supermask layer computes its output with the effective kernel
W_eff = m * W * scale (docs/METHOD.md, sections 1 (Objects) and 6 (Gradient
and scaling)), where `W` is a random kernel that is never trained, `m` a
binary mask selected from trainable `scores`, and `freeze` a ternary tensor
that fixes part of the mask for good. Subclasses only say what shape the
kernel has and how it is applied.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from keras_slt import blocks, initializers, seeding, threshold_context
from keras_slt.counting import floor_count
from keras_slt.freezing import LOCKED, PRUNED, check_fraction, freeze_pattern
from keras_slt.selection import threshold_of_scores
from keras_slt.selection.keys import keep

SCALES = ("none", "static", "dynamic")
SELECTIONS = ("global", "layerwise")


class SupermaskLayer(layers.Layer):
    """Base class of the supermask layers.

    A layer selects its mask in one of two modes, its `selection`:
    "layerwise" (the default, for a layer on its own) picks its own top
    (1 - s) fraction; "global" takes the threshold of the `SupermaskModel`
    it belongs to, which sets this mode (and `sparsity`) when it is built.
    A global layer called outside its model's call raises a ValueError
    rather than fall back to a selection of its own.

    Args:
        sparsity: target ticket sparsity s in [0, 1), used by layer-wise
            selection and the static scale. A `SupermaskModel` sets it to its
            own sparsity (and refuses a layer given a different one), so
            inside a model it may be left None.
        prune_rate: fraction of this layer's weights permanently pruned (p_l).
        lock_rate: fraction permanently locked into the ticket (r_l).
        weight_init: "signed_kaiming_constant", "kaiming_normal" or
            "kaiming_uniform".
        score_init: initializer of the scores, same names.
        scale: "none", "static" (1/sqrt(1-s)) or "dynamic" (1/sqrt(1-s_l)).
        seed: the model seed (weights, freeze pattern and scores derive from
            it and `layer_index`).
        layer_index: this layer's position among the model's supermask layers.
        use_bias: whether to add a trainable bias (off in SLT networks).
        activation: activation function applied to the output.
        selection: "layerwise" or "global" (set by a `SupermaskModel`).

    Call arguments:
        inputs: the input tensor.
        threshold: optional selection threshold; by default the model's
            (global) or the layer's own (layer-wise).
    """

    def __init__(
        self,
        sparsity=None,
        prune_rate=0.0,
        lock_rate=0.0,
        weight_init="signed_kaiming_constant",
        score_init="kaiming_normal",
        scale="none",
        seed=0,
        layer_index=0,
        use_bias=False,
        activation=None,
        selection="layerwise",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sparsity is not None:
            check_fraction("sparsity", sparsity, upper_open=True)
        check_fraction("prune_rate", prune_rate)
        check_fraction("lock_rate", lock_rate)
        if prune_rate + lock_rate > 1.0:
            raise ValueError(f"prune_rate + lock_rate must be <= 1, got {prune_rate + lock_rate}")
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}; got {selection!r}")
        self.sparsity = None if sparsity is None else float(sparsity)
        self.selection = selection
        self.prune_rate = float(prune_rate)
        self.lock_rate = float(lock_rate)
        self.weight_init = initializers.check_name(weight_init, "weight_init")
        self.score_init = initializers.check_name(score_init, "score_init")
        self.scale = scale
        self.seed = seeding.check_seed(seed)
        self.layer_index = int(layer_index)
        self.use_bias = use_bias
        self.activation = keras.activations.get(activation)

    # Weights per mask bit along the kernel's axis 0 (see keras_slt.blocks);
    # SupermaskDense takes it as an argument.
    block_size = 1

    # Subclasses define `kernel_shape` and `apply_kernel`.
    def kernel_shape(self, input_shape):
        """The Keras kernel shape for inputs of `input_shape`."""
        raise NotImplementedError

    def apply_kernel(self, inputs, kernel):
        """The layer's linear operation with `kernel` (no bias)."""
        raise NotImplementedError

    def fan_in(self, kernel_shape):
        """Inputs seen by one output unit, for the Kaiming initializers."""
        return initializers.fan_in(kernel_shape)

    def bias_shape(self, kernel_shape):
        """Shape of the bias, broadcastable against the output."""
        return (kernel_shape[-1],)

    def build(self, input_shape):
        shape = tuple(int(d) for d in self.kernel_shape(input_shape))
        fan_in = self.fan_in(shape)
        # Scores and freeze pattern have one entry per block of the mask.
        mask_shape = blocks.block_shape(shape, self.block_size, self.name)
        weight = initializers.generate(
            self.weight_init, shape,
            seeding.stream(self.seed, self.layer_index, seeding.WEIGHT), fan_in,
        )
        freeze = freeze_pattern(
            mask_shape, self.prune_rate, self.lock_rate,
            seeding.stream(self.seed, self.layer_index, seeding.FREEZE),
        )
        scores = initializers.generate(
            self.score_init, mask_shape,
            seeding.stream(self.seed, self.layer_index, seeding.SCORE), fan_in,
        )
        # autocast=False keeps W and scores in float32 under mixed precision,
        # so masks are selected from full-precision scores.
        self.weight = self.add_weight(
            name="weight", shape=shape, initializer=_constant(weight),
            trainable=False, autocast=False,
        )
        self.scores = self.add_weight(
            name="scores", shape=mask_shape, initializer=_constant(scores),
            trainable=True, autocast=False,
        )
        self.freeze = self.add_weight(
            name="freeze", shape=mask_shape, dtype="int8", initializer=_constant(freeze),
            trainable=False,
        )
        # Counts are in weights (a block counts as block_size weights).
        self.num_weights = int(np.prod(shape))
        self.num_pruned = self.block_size * int(np.sum(freeze == PRUNED))
        self.num_locked = self.block_size * int(np.sum(freeze == LOCKED))
        self.num_free = self.num_weights - self.num_pruned - self.num_locked
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=self.bias_shape(shape), initializer="zeros",
                trainable=True,
            )
        else:
            self.bias = None

    def _checked_sparsity(self):
        if self.sparsity is None:
            raise ValueError(
                f"layer {self.name!r} has no sparsity: give it one, or put it in a SupermaskModel"
            )
        return self.sparsity

    def layerwise_threshold(self):
        """The threshold of layer-wise selection, k_l = floor(N_l * s)."""
        k_free = floor_count(self.num_weights, self._checked_sparsity()) - self.num_pruned
        threshold, _ = threshold_of_scores(
            [self.scores], [self.freeze_or_none()], k_free, self.num_free, weights=[self.block_size]
        )
        return threshold

    def mask(self, threshold):
        """The binary mask (float32 0/1, kernel-shaped) for a threshold on |scores|.

        Args:
            threshold: the selection threshold, e.g. the model's
                `global_threshold()` or this layer's `layerwise_threshold()`.
        """
        return blocks.expand(ops.cast(keep(ops.abs(self.scores), self.freeze, threshold), "float32"),
                             self.block_size)

    def freeze_or_none(self):
        """The freeze pattern, or None when nothing is frozen (no need to read it)."""
        return self.freeze if self.num_free < self.num_weights else None

    def effective_kernel(self, threshold):
        """W_eff = m * W * scale, with the straight-through score gradient.

        Args:
            threshold: the selection threshold, as for `mask`.
        """
        kernel = _masked_weight(self.scores, self.weight, self.freeze_or_none(), threshold)
        if self.scale == "static":
            kernel = kernel * (1.0 / math.sqrt(1.0 - self._checked_sparsity()))
        elif self.scale == "dynamic":
            # 1/sqrt(1 - s_l) = 1/sqrt(density); the floor avoids 1/0 for an
            # empty mask. The mask carries no gradient, so neither does this.
            density = ops.maximum(ops.mean(self.mask(threshold)), 1.0 / self.num_weights)
            kernel = kernel * ops.rsqrt(density)
        return ops.cast(kernel, self.compute_dtype)

    def call_threshold(self):
        """The threshold of a call: the model's (global) or this layer's own."""
        if self.selection == "layerwise":
            return self.layerwise_threshold()
        threshold = threshold_context.current_threshold()
        if threshold is None:
            raise ValueError(
                f"layer {self.name!r} is under global selection and was called without its "
                "model's threshold: call the SupermaskModel (not its network or a model cut "
                "from it), or pass threshold= to the layer"
            )
        return threshold

    def call(self, inputs, threshold=None):
        if threshold is None:
            threshold = self.call_threshold()
        return self._output(inputs, self.effective_kernel(threshold))

    def compute_output_spec(self, inputs, threshold=None):
        # Keras's symbolic calls (building or loading a functional network)
        # happen outside any model call, with no threshold. Shape and dtype
        # do not depend on the mask: a symbolic kernel stands in for W_eff.
        return self._output(inputs, keras.KerasTensor(self.weight.shape, self.compute_dtype))

    def _output(self, inputs, kernel):
        outputs = self.apply_kernel(inputs, kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sparsity": self.sparsity,
                "prune_rate": self.prune_rate,
                "lock_rate": self.lock_rate,
                "weight_init": self.weight_init,
                "score_init": self.score_init,
                "scale": self.scale,
                "seed": self.seed,
                "layer_index": self.layer_index,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
                "selection": self.selection,
            }
        )
        return config


def _masked_weight(scores, weight, freeze, threshold):
    """W where the mask keeps it, else 0, with the straight-through gradient.

    Forward: exactly m * W for the binary mask m. Backward: the mask is seen
    as |score|, so dL/dscore = dL/dm * sign(score) = dL/dW_eff * W * sign(score)
    (what the former `W * (m + |s| - stop_gradient(|s|))` gave, without
    computing |s| - |s| in the forward pass). Spelled out as a custom gradient,
    each direction is one elementwise pass that XLA fuses: on TensorFlow
    outside XLA (a plain graph, or eager), each direction runs as one small
    XLA call, where the TF graph would launch ~8 kernels of the full size.
    """
    # Variables are read here: a custom gradient must see plain tensors.
    scores, weight = _read(scores), _read(weight)
    freeze = None if freeze is None else _read(freeze)
    threshold = ops.convert_to_tensor(threshold, "float32")
    forward, backward = _kernel_functions()

    @ops.custom_gradient
    def masked(scores):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return backward(upstream, weight, scores)

        return forward(scores, weight, freeze, threshold), grad

    return masked(scores)


def _read(value):
    """A tensor holding a variable's current value (keras.ops gives the variable)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(value)
    return ops.convert_to_tensor(value)


def _masked_forward(scores, weight, freeze, threshold):
    # Scores and freeze may hold one entry per block of weights.
    kept = blocks.expand(keep(scores, freeze, threshold), blocks.block_size_between(weight, scores))
    return ops.where(kept, weight, ops.zeros_like(weight))


def _masked_backward(upstream, weight, scores):
    # A block score gets the sum of its weights' gradients, as if they shared it.
    per_weight = upstream * weight
    return blocks.block_sum(per_weight, blocks.block_size_between(weight, scores)) * ops.sign(scores)


_KERNEL_FUNCTIONS = {}


def _kernel_functions():
    """(forward, backward) of `_masked_weight`: XLA-compiled on TensorFlow."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return _masked_forward, _masked_backward
    if backend not in _KERNEL_FUNCTIONS:
        import tensorflow as tf

        functions = []
        for function in (_masked_forward, _masked_backward):
            # Inside a train step compiled with XLA these are inlined.
            compiled = tf.function(function, jit_compile=True, autograph=False)
            # One trace per layer shape is expected, not a retracing problem.
            compiled._omit_frequent_tracing_warning = True
            functions.append(compiled)
        _KERNEL_FUNCTIONS[backend] = tuple(functions)
    return _KERNEL_FUNCTIONS[backend]


def _constant(array):
    """An initializer returning a precomputed array."""

    def initializer(shape, dtype=None):
        return ops.convert_to_tensor(array, dtype=dtype)

    return initializer
