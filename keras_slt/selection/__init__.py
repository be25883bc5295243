"""Edge-Popup mask selection (docs/METHOD.md, section 5 (Selection)).

- `reference`: the NumPy reference (`global_masks`, `layerwise_masks`), the
  rule word for word; tests and tools use it as ground truth.
- `keys`: the int32 keys of |score| that the mask and the search compare.
- `search`: `kth_smallest` and `threshold_of_scores`, the same threshold with
  `keras.ops` inside a compiled train step, by a few counting passes.
- `bracket`: those passes, backend-neutral: the bracket of keys they narrow
  and how each pass counts.
- `tf_backend`, `jax_backend`: the backend paths of the search (one variadic
  reduction per pass).

Example:

>>> import numpy as np
>>> from keras_slt import selection
>>> selection.global_masks([np.array([0.1, -0.5, 0.3, 0.2])], [np.zeros(4)], 0.5)
[array([0, 1, 1, 0], dtype=int8)]
"""

from keras_slt.selection.reference import global_masks, layerwise_masks, modified_scores
from keras_slt.selection.threshold import COUNTINGS, kth_smallest, threshold_of_scores
