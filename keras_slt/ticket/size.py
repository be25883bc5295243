"""Model-size accounting of docs/METHOD.md, section 7 (Model size).

The paper counts 1 bit per *free* supermask weight (the searched mask): the
random weights and the freeze pattern regenerate from the seed. Every float
that must be stored anyway (BatchNorm statistics, biases, layers that are not
supermask layers) costs 32 bits, and the model seed 64 bits. A weight-trained
network costs 32 bits per parameter. The entropy bound replaces each free
weight's 1 bit by H(q_l), q_l the density of layer l's free mask. A blocked
layer (`block_size` B) costs 1 bit per free block of B weights.
"""

import dataclasses
import math

import numpy as np

from keras_slt.freezing.pattern import FREE
from keras_slt.layers import blocks
from keras_slt.layers.walk import supermask_layers

SEED_BITS = 64


def stored_variables(model):
    """The float variables a ticket stores: all but the supermask search state.

    BatchNorm statistics (and gamma/beta when affine), biases and the weights
    of layers that are not supermask layers, in `model.weights` order; they
    cost 32 bits each in `model_size` and are what a `.slt` ticket keeps.
    Integer state (random-generator seeds, counters, the threshold hint) is
    left out.

    Example:

    >>> import keras
    >>> import keras_slt
    >>> model = keras_slt.supermaskify(keras.Sequential([keras.Input((4,)),
    ...     keras.layers.Dense(3), keras.layers.BatchNormalization()]),
    ...     sparsity=0.5, seed=1)
    >>> [v.name for v in stored_variables(model)]  # biases are removed
    ['moving_mean', 'moving_variance']
    """
    regenerated = {id(v) for layer in supermask_layers(model) for v in layer.search_state}
    return [v for v in model.weights if id(v) not in regenerated and "float" in str(v.dtype)]


def binary_entropy(q):
    """H(q) in bits; 0 at q = 0 or 1."""
    if q <= 0.0 or q >= 1.0:
        return 0.0
    return -q * math.log2(q) - (1.0 - q) * math.log2(1.0 - q)


@dataclasses.dataclass
class LayerSize:
    """One supermask layer's counts, in weights, and its mask bits.

    Attributes:
        name, shape: the layer's name and kernel shape.
        weights: its kernel's weights.
        free: weights the search selects (neither pruned nor locked).
        pruned: weights frozen out of every ticket.
        locked: weights frozen into every ticket.
        kept: weights in the current mask (locked ones included).
        kept_free: the free weights among them.
        mask_bits: bits of the free mask (one per free block).
        entropy_bits: the entropy bound of the free mask.
    """

    name: str
    shape: tuple
    weights: int
    free: int
    pruned: int
    locked: int
    kept: int
    kept_free: int
    mask_bits: int
    entropy_bits: float

    @property
    def sparsity(self):
        """1 - kept / weights: the layer's actual sparsity."""
        return 1.0 - self.kept / self.weights


@dataclasses.dataclass
class ModelSize:
    """Sizes of a ticket under the paper's accounting, in bits.

    Attributes:
        supermask_weights, free, pruned, locked, kept: counts over all
            supermask layers (kept: ones in the current mask).
        stored_floats: floats that must be stored besides the mask.
        mask_bits: 1 bit per free weight (per free block in blocked layers).
        model_size_bits: mask_bits + 32 * stored_floats + the seed.
        entropy_bits: the entropy bound of the free mask alone.
        entropy_model_bits: entropy_bits + 32 * stored_floats + the seed.
        dense_float32_bits: 32 bits per parameter of the weight-trained
            network (supermask weights and the stored floats).
        layers: per-layer `LayerSize`.
    """

    supermask_weights: int
    free: int
    pruned: int
    locked: int
    kept: int
    stored_floats: int
    mask_bits: int
    model_size_bits: int
    entropy_bits: float
    entropy_model_bits: float
    dense_float32_bits: int
    layers: list

    @property
    def compression(self):
        """dense_float32_bits / model_size_bits."""
        return self.dense_float32_bits / self.model_size_bits

    def as_dict(self):
        result = dataclasses.asdict(self)
        result["compression"] = self.compression
        return result


def model_size(model, masks=None):
    """The docs/METHOD.md, section 7 (Model size) accounting of a model.

    Args:
        model: a `SupermaskModel` (or any model holding supermask layers).
        masks: the current masks in layer order; computed when None.

    Returns:
        A `ModelSize`.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> size = model_size(model)  # 1 bit per weight, 64 for the seed
    >>> size.model_size_bits, size.dense_float32_bits
    (280, 6912)
    """
    layers = supermask_layers(model)
    if masks is None:
        masks = model.masks()
    stored_floats = sum(int(np.prod(v.shape)) for v in stored_variables(model))
    per_layer = []
    for layer, mask in zip(layers, masks):
        free = layer.freeze_pattern() == FREE  # one entry per block
        free_blocks = int(free.sum())
        kept_free_blocks = int(blocks.to_blocks(mask, layer.block_size)[free].sum())
        density = kept_free_blocks / free_blocks if free_blocks else 0.0
        per_layer.append(
            LayerSize(
                name=layer.name,
                shape=tuple(mask.shape),
                weights=layer.num_weights,
                free=layer.num_free,
                pruned=layer.num_pruned,
                locked=layer.num_locked,
                kept=int(mask.sum()),
                kept_free=kept_free_blocks * layer.block_size,
                mask_bits=free_blocks,
                entropy_bits=free_blocks * binary_entropy(density),
            )
        )
    free = sum(l.free for l in per_layer)
    mask_bits = sum(l.mask_bits for l in per_layer)
    weights = sum(l.weights for l in per_layer)
    entropy = sum(l.entropy_bits for l in per_layer)
    overhead = 32 * stored_floats + SEED_BITS
    return ModelSize(
        supermask_weights=weights,
        free=free,
        pruned=sum(l.pruned for l in per_layer),
        locked=sum(l.locked for l in per_layer),
        kept=sum(l.kept for l in per_layer),
        stored_floats=stored_floats,
        mask_bits=mask_bits,
        model_size_bits=mask_bits + overhead,
        entropy_bits=entropy,
        entropy_model_bits=entropy + overhead,
        dense_float32_bits=32 * (weights + stored_floats),
        layers=per_layer,
    )


_SUMMARY_COLUMNS = ("layer", "shape", "weights", "kept", "pruned", "locked", "free", "sparsity")


def mask_summary(model, print_fn=print):
    """Prints the masks' counts layer by layer, and returns them.

    Per supermask layer, in layer order: its weights; those kept (in the
    current mask); those pruned and locked (frozen out of and into every
    ticket, the layer's `prune_rate` and `lock_rate`); those free (the ones
    the search selects); and the sparsity 1 - kept / weights. A last line
    sums the model.

    Args:
        model: a `SupermaskModel`.
        print_fn: called with each line of the table, as by
            `keras.Model.summary`; None prints nothing.

    Returns:
        The rows: a list of `LayerSize`, one per supermask layer.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, sparsity=0.5,
    ...                              prune_ratio=0.25, lock_ratio=0.25, seed=1)
    >>> rows = mask_summary(model)
    layer   shape    weights  kept  pruned  locked  free  sparsity
    fc1     (16, 8)      128    61      32      32    64    0.5234
    fc2     (8, 8)        64    33      16      16    32    0.4844
    logits  (8, 3)        24    14       6       6    12    0.4167
    total                216   108      54      54   108    0.5000
    >>> [(row.name, row.kept, row.free) for row in rows]
    [('fc1', 61, 64), ('fc2', 33, 32), ('logits', 14, 12)]
    """
    rows = model_size(model).layers
    if print_fn is not None:
        for line in mask_table(rows):
            print_fn(line)
    return rows


def mask_table(rows, max_rows=None):
    """The lines of `mask_summary`'s table for `rows`, a list of `LayerSize`.

    Args:
        rows: the layers' counts, as `ModelSize.layers`.
        max_rows: beyond this many layers, the table shows the total
            alone, as `total (N layers)`; None lists every layer.

    Example:

    >>> rows = [LayerSize("fc1", (16, 8), 128, 64, 32, 32, 61, 29, 64, 63.9),
    ...         LayerSize("logits", (8, 3), 24, 12, 6, 6, 14, 8, 12, 11.9)]
    >>> print("\\n".join(mask_table(rows, max_rows=1)))
    layer             shape  weights  kept  pruned  locked  free  sparsity
    total (2 layers)             152    75      38      38    76    0.5066
    """
    weights, kept = sum(row.weights for row in rows), sum(row.kept for row in rows)
    collapsed = max_rows is not None and len(rows) > max_rows
    lines = [
        [
            row.name,
            str(tuple(row.shape)),
            row.weights,
            row.kept,
            row.pruned,
            row.locked,
            row.free,
            f"{row.sparsity:.4f}",
        ]
        for row in ([] if collapsed else rows)
    ]
    lines.append(
        [
            f"total ({len(rows)} layers)" if collapsed else "total",
            "",
            weights,
            kept,
            sum(row.pruned for row in rows),
            sum(row.locked for row in rows),
            sum(row.free for row in rows),
            f"{1.0 - kept / weights:.4f}",
        ]
    )
    table = [list(_SUMMARY_COLUMNS)] + [[str(cell) for cell in line] for line in lines]
    widths = [max(len(line[column]) for line in table) for column in range(len(_SUMMARY_COLUMNS))]
    # Names and shapes read left to right, numbers line up on the right.
    return [
        "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths))
        ).rstrip()
        for line in table
    ]
