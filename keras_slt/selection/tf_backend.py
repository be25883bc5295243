"""The threshold search on TensorFlow: one XLA call, XLA variadic reduce counts."""

import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from keras_slt.selection.bracket import NUM_PROBES, combine, keys_fn, kth_key, merge, variadic_terms

_compiled = {}


def _reducer():
    """The concrete function `xla.variadic_reduce` combines partial results with."""
    if "reducer" not in _compiled:
        scalar = tf.TensorSpec([], tf.int32)
        n = NUM_PROBES + 2
        _compiled["reducer"] = tf.function(
            lambda *args: combine(args[:n], args[n:], tf.minimum, tf.maximum)
        ).get_concrete_function(*([scalar] * (2 * n)))
    return _compiled["reducer"]


def count_variadic(keys, probes):
    """`bracket.count_generic`'s result, one `xla.variadic_reduce` per tensor."""
    reducer = _reducer()

    def where(c, x, y):
        return tf.where(
            c,
            tf.constant(x, tf.int32) if isinstance(x, int) else x,
            tf.constant(y, tf.int32) if isinstance(y, int) else y,
        )

    per_tensor = []
    for key in keys:
        terms, inits = variadic_terms(key, probes, where)
        per_tensor.append(
            xla.variadic_reduce(
                terms, [tf.constant(i, tf.int32) for i in inits], dimensions_to_reduce=[0], reducer=reducer
            )
        )
    return merge(per_tensor)


def compiled_search(make_keys, values, masks, k, num_free, hint, count):
    """`bracket.kth_key` over the keys `make_keys` forms, as one XLA call."""
    values = [tf.convert_to_tensor(v) for v in values]
    masks = [None if m is None else tf.convert_to_tensor(m) for m in masks]
    # One tf.function per signature: each is traced once, so models with
    # many layer shapes (layer-wise selection) raise no retracing warnings.
    signature = (make_keys, count) + tuple(
        None if t is None else (tuple(t.shape), t.dtype.name) for t in values + masks
    )
    fn = _compiled.get(signature)
    if fn is None:
        # jit_compile=True: XLA fuses each pass into one loop, and the
        # variadic reduction exists only there. Inside a train step compiled
        # with XLA this is simply inlined; in a plain graph or eagerly it
        # runs as one compiled call.
        def run(values, masks, hint, k, num_free):
            return kth_key(keys_fn(make_keys, values, masks), k, num_free, hint, count)

        fn = _compiled[signature] = tf.function(run, jit_compile=True, autograph=False)
        # The functions share their code, which TF's retracing detector
        # would count as one function retraced for every new layer shape.
        fn._omit_frequent_tracing_warning = True
    return fn(values, masks, hint, k, num_free)
