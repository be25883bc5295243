"""Integer counts from fractions: floor(N * x).

As docs/METHOD.md, section 2 (Counts and flooring), writes them.

`N * x` is computed in float64, where a product that is mathematically an
integer can land one ulp below it (100 * (1 - 0.9) = 9.999999999999998). A
tolerance far below one weight keeps such products on the integer the user
meant; genuine fractions are floored as the design says.
"""

import math

import numpy as np

_TOLERANCE = 1e-6


def floor_count(n, fraction):
    """floor(n * fraction) for a count `n` and a fraction in [0, 1].

    Example:

    >>> floor_count(100, 1 - 0.9)
    10
    >>> floor_count(10, 0.55)
    5
    """
    return int(math.floor(n * fraction + _TOLERANCE))


def float32_floor_count(n, fraction):
    """int(n * fraction) with both factors and the product in float32.

    The paper's official code holds per-layer sparsities in a float32 tensor
    and counts a layer's frozen weights as `(numel * sparsity).int()`; this
    reproduces its counts, which can differ by one weight from the float64
    floor when the float32 product rounds across an integer.

    Example:

    >>> float32_floor_count(802816, 0.7341619739181979)  # float64: 589396
    589397
    """
    return int(np.float32(n) * np.float32(fraction))
