"""Platform-stable random streams for weights, freeze patterns and scores.

Everything random in a supermask model derives from one integer model seed,
the layer's position and the kind of tensor, through NumPy's counter-based
Philox generator. Only the generator's raw 64-bit output is used and turned
into floats here, so the values do not depend on how a NumPy release samples
distributions: the same seed rebuilds bit-identical tensors anywhere, which is
what lets a compact ticket store seeds instead of weights.
"""

import numpy as np

# Stream kinds: part of each stream's key so that streams never overlap.
WEIGHT = 1
FREEZE = 2
SCORE = 3
DATA_SPLIT = 4  # the train/validation split of a dataset (layer index 0)
DATA_ORDER = 5  # the order of the training examples in one epoch (layer index: the epoch)
AUGMENT = 6  # the random crops and flips of one epoch (layer index: the epoch)

_MAX_SEED = 2**64 - 1


def check_seed(seed):
    """Returns `seed` as an int, or raises if it is not in [0, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    if not 0 <= int(seed) <= _MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return int(seed)


def stream(seed, layer_index, kind):
    """The random stream of one tensor of one layer.

    Args:
        seed: the model seed, an integer in [0, 2**64).
        layer_index: position of the layer among the model's supermask layers.
        kind: `WEIGHT`, `FREEZE`, `SCORE`, `DATA_SPLIT`, `DATA_ORDER` or
            `AUGMENT`.

    Returns:
        A `numpy.random.Philox` bit generator.

    Example:

    >>> bits = stream(0, 3, WEIGHT)
    >>> uniform(bits, 2).shape
    (2,)
    """
    seed = check_seed(seed)
    if layer_index < 0 or layer_index >= 2**48:
        raise ValueError(f"layer_index must be in [0, 2**48), got {layer_index}")
    key = np.array([seed, (int(layer_index) << 8) | int(kind)], dtype=np.uint64)
    return np.random.Philox(key=key)


def uniform(bits, n):
    """`n` float64 values uniform in [0, 1), 53 random bits each."""
    raw = bits.random_raw(n)
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def normal(bits, n):
    """`n` float64 standard normal values (Box-Muller on `uniform`)."""
    half = (n + 1) // 2
    u1 = 1.0 - uniform(bits, half)  # in (0, 1], so the log is finite
    u2 = uniform(bits, half)
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]


def signs(bits, n):
    """`n` float64 values, each -1 or +1 with probability 1/2."""
    raw = bits.random_raw(n)
    return np.where(raw >> np.uint64(63), 1.0, -1.0)


def permutation(bits, n):
    """A uniformly random permutation of `range(n)` as an int64 array."""
    return np.argsort(bits.random_raw(n), kind="stable")
