"""The masked kernel of a supermask layer, compiled, with its custom gradient.

`masked_weight` gives exactly m * W for the binary mask m that a threshold
selects from the free scores (docs/METHOD.md, sections 5 (Selection) and 6
(Gradient and scaling)), with the straight-through gradient to the scores;
`kept_mask` gives the mask itself. Both read the layer's lean search state
(section 11 (Search state)) described by its `Layout`, and run as compiled
calls on TensorFlow and JAX.
"""

import collections

import keras
import numpy as np
from keras import ops

from keras_slt.layers import bits, blocks, compaction
from keras_slt.selection.keys import keep


class Layout(collections.namedtuple("Layout", "kernel_shape mask_shape block_size position_shift weight_scale")):
    """A built layer's shapes and constants (W's std for signed-constant
    weights, else None; the free index's shift, or None). Plain hashable
    values, so a compiled kernel function is traced once per kind of layer."""


def masked_weight(scores, weight, free_index, threshold, layout):
    """W where the mask keeps it, else 0, with the straight-through gradient.

    Forward: exactly m * W for the binary mask m. Backward: the mask is seen
    as |score|, so dL/dscore = dL/dm * sign(score) = dL/dW_eff * W * sign(score)
    (the gradient of `W * (m + |s| - stop_gradient(|s|))`, without computing
    |s| - |s| in the forward pass). Spelled out as a custom gradient,
    each direction is one pass that XLA fuses: on TensorFlow outside XLA (a
    plain graph, or eager), each direction runs as one small XLA call, where
    the TF graph would launch many kernels of the full size.

    Args:
        scores: the free scores (flat).
        weight: W, float32 kernel-shaped, or its sign words (signed constant).
        free_index: the layer's free index (dict of int32 tensors) or None.
        threshold: the selection threshold.
        layout: the layer's `Layout`.
    """
    # Variables are read here: a custom gradient must see plain tensors.
    scores, weight = _read(scores), _read(weight)
    free_index = _read_index(free_index)
    threshold = ops.convert_to_tensor(threshold, "float32")
    forward, backward, _ = _kernel_functions()

    @ops.custom_gradient
    def masked(scores):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return backward(upstream, weight, scores, free_index, layout)

        return forward(scores, weight, free_index, threshold, layout), grad

    return masked(scores)


def kept_mask(scores, free_index, threshold, layout):
    """The kernel-shaped bool mask of a threshold, as one compiled call.

    Args:
        scores, free_index, threshold, layout: as for `masked_weight`.
    """
    kept = _kernel_functions()[2]
    return kept(_read(scores), _read_index(free_index), ops.convert_to_tensor(threshold, "float32"), layout)


def _read(value):
    """A tensor holding a variable's current value (keras.ops gives the variable)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(value)
    return ops.convert_to_tensor(value)


def _read_index(free_index):
    """The free index's variables read (None stays None)."""
    return None if free_index is None else {name: _read(v) for name, v in free_index.items()}


def signed_constant(sign_words, scale, shape):
    """W = +-scale from its sign words (bit set: negative), kernel-shaped."""
    size = int(np.prod(shape))
    negative = ops.cast(bits.flags(sign_words, size), "float32")
    return ops.reshape(scale - (2.0 * scale) * negative, shape)


def _weight_of(weight, layout):
    """W, float32 kernel-shaped, from `masked_weight`'s `weight`."""
    if layout.weight_scale is None:
        return weight
    return signed_constant(weight, layout.weight_scale, layout.kernel_shape)


def _kept(scores, free_index, threshold, layout):
    """The kernel-shaped bool mask: kept free entries and locked ones."""
    keep_free = keep(scores, threshold)
    if free_index is not None:
        keep_free = compaction.expand(keep_free, free_index, int(np.prod(layout.mask_shape)))
    return blocks.expand(ops.reshape(keep_free, layout.mask_shape), layout.block_size)


def _masked_forward(scores, weight, free_index, threshold, layout):
    weight = _weight_of(weight, layout)
    return ops.where(_kept(scores, free_index, threshold, layout), weight, ops.zeros_like(weight))


def _masked_backward(upstream, weight, scores, free_index, layout):
    # A block score gets the sum of its weights' gradients, as if they shared it.
    per_entry = blocks.block_sum(upstream * _weight_of(weight, layout), layout.block_size)
    per_entry = ops.reshape(per_entry, (-1,))
    if free_index is not None:
        per_entry = compaction.gather_free(per_entry, free_index, layout.position_shift, int(scores.shape[0]))
    return per_entry * ops.sign(scores)


_KERNEL_FUNCTIONS = {}


def _kernel_functions():
    """(forward, backward, kept) of the layers, compiled on TensorFlow and JAX.

    Inside a compiled train step these are inlined. Called eagerly (the
    masks of `SupermaskModel.masks()`, a TF graph step), each runs as one
    compiled call: on JAX, op by op, every one of the free index's ~100
    word operations would otherwise be compiled on its own for every layer
    shape; on TensorFlow, the TF graph would launch that many kernels.
    """
    backend = keras.backend.backend()
    functions = (_masked_forward, _masked_backward, _kept)
    if backend not in ("tensorflow", "jax"):
        return functions
    if backend not in _KERNEL_FUNCTIONS:
        compiled = []
        for function in functions:
            if backend == "tensorflow":
                import tensorflow as tf

                function = tf.function(function, jit_compile=True, autograph=False)
                # One trace per layer shape is expected, not a retracing problem.
                function._omit_frequent_tracing_warning = True
            else:
                import jax

                function = jax.jit(function, static_argnames="layout")
            compiled.append(function)
        _KERNEL_FUNCTIONS[backend] = tuple(compiled)
    return _KERNEL_FUNCTIONS[backend]
