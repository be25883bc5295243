"""Integer counts from fractions: floor(N * x).

As docs/METHOD.md, section 2 (Counts and flooring), writes them.

`N * x` is computed in float64, where a product that is mathematically an
integer can land one ulp below it (100 * (1 - 0.9) = 9.999999999999998). A
tolerance far below one weight keeps such products on the integer the user
meant; genuine fractions are floored as the design says.
"""

import math

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
