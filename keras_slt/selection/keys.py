"""The int32 keys of |score| that the mask and the threshold search compare.

Non-negative floats order like their int32 bit patterns, so clearing the
sign bit of a score gives a key that orders like |score|; -inf (whose bits
are negative) is below every key and +inf's bits `INF_BITS` above every
finite one, so a NaN score (key > INF_BITS) is never kept. Integer compares
also see denormals, which XLA and TF flush to zero in float compares. The
search (`keras_slt.selection.threshold`) finds the key of the threshold and the
layers (`keep`) compare with it, both through `magnitude_keys`, so a mask
keeps exactly what the selection counted above its threshold.
"""

from keras import ops

INF_BITS = 0x7F800000  # the bit pattern of +inf
END = INF_BITS + 1  # exclusive end of the keys of non-NaN magnitudes
NO_KEY = 2**31 - 1  # the key of positions that take no part in a search


def magnitude_keys(values):
    """The int32 key of |value| for float32 `values` (scores or magnitudes)."""
    return ops.bitwise_and(ops.view(values, "int32"), 0x7FFFFFFF)


def keep(values, threshold):
    """The keep decisions of free weights: |value| > threshold (a NaN never).

    Args:
        values: float32 scores or their magnitudes.
        threshold: float32 scalar, the selection threshold.
    """
    key = magnitude_keys(values)
    bound = ops.view(ops.convert_to_tensor(threshold, "float32"), "int32")
    return (key > bound) & (key <= INF_BITS)
