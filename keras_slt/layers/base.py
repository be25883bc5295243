"""The part every supermask layer shares: W, scores, freeze and the mask.

A supermask layer computes its output with the effective kernel
W_eff = m * W * scale (docs/METHOD.md, sections 1 (Objects) and 6 (Gradient
and scaling)), where `W` is a random kernel that is never trained, `m` a
binary mask selected from trainable `scores`, and the freeze pattern a
ternary tensor that fixes part of the mask for good. The layer stores them
lean (section 11 (Search state)): scores for free weights only, a
signed-constant W as its signs, the freeze pattern as an index of the free
part. Subclasses only say what shape the kernel has and how it is applied.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from keras_slt.freezing.pattern import FREE, LOCKED, PRUNED, check_prune_lock, freeze_pattern
from keras_slt.layers import bits, blocks, compaction, initializers, threshold_context
from keras_slt.layers.kernel import Layout, kept_mask, masked_weight, signed_constant
from keras_slt.selection import threshold_of_scores
from keras_slt.selection.keys import keep
from keras_slt.utils import defaults, seeding
from keras_slt.utils.counting import floor_count
from keras_slt.utils.defaults import SCALES, SELECTIONS
from keras_slt.utils.validation import check_fraction, check_one_of

# The arguments a supermask layer takes besides those of the Keras layer it
# stands for: how its random kernel and its mask are made. Every supermask
# layer takes the first nine; block_size only the layers whose masks come in
# blocks (SupermaskDense). `supermaskify` adds them to the Keras layer's
# configuration, `materialize` strips them off.
SUPERMASK_ARGUMENTS = (
    "sparsity",
    "prune_rate",
    "lock_rate",
    "weight_init",
    "score_init",
    "scale",
    "seed",
    "layer_index",
    "selection",
    "block_size",
)


class SupermaskLayer(layers.Layer):
    """Base class of the supermask layers.

    A layer selects its mask in one of two modes, its `selection`:
    "layerwise" (the default, for a layer on its own) picks its own top
    (1 - s) fraction; "global" takes the threshold of the `SupermaskModel`
    it belongs to, which sets this mode (and `sparsity`) when it is built.
    A global layer called outside its model's call raises a ValueError
    rather than fall back to a selection of its own.

    Args:
        activation: activation function applied to the output.
        use_bias: whether to add a trainable bias, initialized at zero (off
            in SLT networks).
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
        selection: "layerwise" or "global" (set by a `SupermaskModel`).
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: the input tensor.
        threshold: optional selection threshold; by default the model's
            (global) or the layer's own (layer-wise).
    """

    def __init__(
        self,
        activation=None,
        use_bias=False,
        sparsity=None,
        prune_rate=0.0,
        lock_rate=0.0,
        weight_init=defaults.WEIGHT_INIT,
        score_init=defaults.SCORE_INIT,
        scale=defaults.SCALE,
        seed=defaults.SEED,
        layer_index=0,
        selection="layerwise",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sparsity is not None:
            check_fraction("sparsity", sparsity, upper_open=True)
        check_fraction("prune_rate", prune_rate)
        check_fraction("lock_rate", lock_rate)
        check_prune_lock(prune_rate, lock_rate, ("prune_rate", "lock_rate"))
        check_one_of("scale", scale, SCALES)
        check_one_of("selection", selection, SELECTIONS)
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

    # Weights per mask bit along the kernel's axis 0 (see keras_slt.layers.blocks);
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
            self.weight_init,
            shape,
            seeding.stream(self.seed, self.layer_index, seeding.WEIGHT),
            fan_in,
        )
        freeze = freeze_pattern(
            mask_shape,
            self.prune_rate,
            self.lock_rate,
            seeding.stream(self.seed, self.layer_index, seeding.FREEZE),
        )
        scores = initializers.generate(
            self.score_init,
            mask_shape,
            seeding.stream(self.seed, self.layer_index, seeding.SCORE),
            fan_in,
        )
        free = (freeze == FREE).ravel()
        # Counts are in weights (a block counts as block_size weights).
        self.num_weights = int(np.prod(shape))
        self.num_pruned = self.block_size * int(np.sum(freeze == PRUNED))
        self.num_locked = self.block_size * int(np.sum(freeze == LOCKED))
        self.num_free = self.num_weights - self.num_pruned - self.num_locked
        # The lean search state (docs/METHOD.md, section 11 (Search state)):
        # one score per free entry, the freeze pattern as an index of the
        # free part (none when nothing is frozen), and a signed-constant W
        # as its signs and one constant. autocast=False keeps scores (and
        # W) in float32 under mixed precision, so masks are selected from
        # full-precision scores.
        self.scores = self.add_weight(
            name="scores",
            shape=(int(free.sum()),),
            initializer=_constant(scores.ravel()[free]),
            trainable=True,
            autocast=False,
        )
        if self.weight_init == "signed_kaiming_constant":
            weight_scale = float(np.abs(weight.flat[0]))
            self.sign_words = self._add_index("sign_words", bits.pack(weight < 0))
            self.weight = None
        else:
            weight_scale = None
            self.sign_words = None
            self.weight = self.add_weight(
                name="weight",
                shape=shape,
                initializer=_constant(weight),
                trainable=False,
                autocast=False,
            )
        position_shift = None
        self.free_index = None
        if self.num_free < self.num_weights:
            index = compaction.FreeIndex.of(freeze)
            position_shift = index.position_shift
            self.free_index = {name: self._add_index(name, array) for name, array in index.arrays().items()}
        self.layout = Layout(shape, mask_shape, self.block_size, position_shift, weight_scale)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=self.bias_shape(shape),
                initializer="zeros",
                trainable=True,
            )
        else:
            self.bias = None

    def _add_index(self, name, array):
        """A non-trainable int32 variable holding `array` (flat)."""
        return self.add_weight(
            name=name,
            shape=array.shape,
            dtype="int32",
            initializer=_constant(array),
            trainable=False,
        )

    @property
    def search_state(self):
        """The variables the search state regenerates from the seed or learns.

        Scores, and W's signs or values and the free index: everything but
        the bias. A ticket stores none of them (`keras_slt.ticket.size`).
        """
        state = [self.scores, self.sign_words, self.weight]
        if self.free_index is not None:
            state += list(self.free_index.values())
        return [v for v in state if v is not None]

    def kernel_weights(self):
        """The random kernel W, float32 and kernel-shaped (never trained)."""
        if self.weight is not None:
            return ops.convert_to_tensor(self.weight)
        return signed_constant(self.sign_words, self.layout.weight_scale, self.layout.kernel_shape)

    def freeze_pattern(self):
        """The int8 freeze pattern (-1 pruned, 0 free, +1 locked), mask-shaped, NumPy."""
        mask_shape = self.layout.mask_shape
        if self.free_index is None:
            return np.zeros(mask_shape, np.int8)
        words = {name: ops.convert_to_numpy(v) for name, v in self.free_index.items()}
        return compaction.freeze_of(words["free_words"], words["locked_words"], int(np.prod(mask_shape))).reshape(
            mask_shape
        )

    def _checked_sparsity(self):
        if self.sparsity is None:
            raise ValueError(f"layer {self.name!r} has no sparsity: give it one, or put it in a SupermaskModel")
        return self.sparsity

    def layerwise_threshold(self):
        """The threshold of layer-wise selection, k_l = floor(N_l * s)."""
        k_free = floor_count(self.num_weights, self._checked_sparsity()) - self.num_pruned
        threshold, _ = threshold_of_scores([self.scores], k_free, self.num_free, weights=[self.block_size])
        return threshold

    def mask(self, threshold):
        """The binary mask (float32 0/1, kernel-shaped) for a threshold on |scores|.

        Args:
            threshold: the selection threshold, e.g. the model's
                `global_threshold()` or this layer's `layerwise_threshold()`.
        """
        return ops.cast(kept_mask(self.scores, self.free_index, threshold, self.layout), "float32")

    def _kept_count(self, threshold):
        """The weights the mask of `threshold` keeps, float32: its sum.

        Counted from the free scores (a block counts as block_size weights)
        and the locked count, not from the kernel-shaped mask, which
        `masked_weight` has already built for the same step.
        """
        kept_free = ops.sum(ops.cast(keep(self.scores, threshold), "int32"))
        return ops.cast(kept_free * self.block_size + self.num_locked, "float32")

    def effective_kernel(self, threshold):
        """W_eff = m * W * scale, with the straight-through score gradient.

        Args:
            threshold: the selection threshold, as for `mask`.
        """
        weight = self.sign_words if self.weight is None else self.weight
        kernel = masked_weight(self.scores, weight, self.free_index, threshold, self.layout)
        if self.scale == "static":
            kernel = kernel * (1.0 / math.sqrt(1.0 - self._checked_sparsity()))
        elif self.scale == "dynamic":
            # 1/sqrt(1 - s_l) = 1/sqrt(density); the floor avoids 1/0 for an
            # empty mask. The mask carries no gradient, so neither does this.
            density = ops.maximum(self._kept_count(threshold) / self.num_weights, 1.0 / self.num_weights)
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

    def compute_output_shape(self, input_shape):
        # The shape does not depend on the mask: a symbolic kernel stands in
        # for W_eff, so this needs no built layer (TimeDistributed asks first).
        inputs = keras.KerasTensor(input_shape, self.compute_dtype)
        kernel = keras.KerasTensor(self.kernel_shape(input_shape), self.compute_dtype)
        return tuple(self.apply_kernel(inputs, kernel).shape)

    def compute_output_spec(self, inputs, threshold=None):
        # Keras's symbolic calls (building or loading a functional network)
        # happen outside any model call, with no threshold to select with.
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), self.compute_dtype)

    def _output(self, inputs, kernel):
        outputs = self.apply_kernel(inputs, kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config["activation"] = keras.activations.serialize(self.activation)
        config["use_bias"] = self.use_bias
        # block_size: written by the layers that take it.
        config.update({name: getattr(self, name) for name in SUPERMASK_ARGUMENTS if name != "block_size"})
        return config


def _constant(array):
    """An initializer returning a precomputed array."""

    def initializer(shape, dtype=None):
        return ops.convert_to_tensor(array, dtype=dtype)

    return initializer
