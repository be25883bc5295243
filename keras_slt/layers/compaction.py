"""Scores for free weights only: the index between a layer and its free part.

A layer with frozen weights keeps one score per *free* weight, in row-major
order of the free positions (docs/METHOD.md, section 11 (Search state)).
Each train step moves between the two layouts twice:

- forward, `expand`: the free part's keep decisions (one per score) into
  the layer's mask, where locked positions are 1 and pruned ones 0;
- backward, `gather_free`: the layer's per-position score gradient back to
  one value per score.

Both are computed from a `FreeIndex`, built once from the freeze pattern:

- `free_words`, `locked_words`: the freeze pattern as two bitmaps (2 bits a
  position instead of an int8);
- `free_offsets`: per word of 32 positions, how many free positions come
  before it, so a word's free positions take the keep decisions from its
  offset on, deposited into its free bits (`bits.deposit`);
- `position_words`, `position_bases`, `position_shift`: the position of
  free weight j is position_bases[j >> shift] + a 16-bit offset, two
  offsets packed per int32 word (2 bytes per score).

Why not a cumulative sum and a scatter, the textbook compaction: XLA runs
both as serial loops on CPU, which takes the FC step (784-1024-1024-10,
f = 0.5) from 1.34x to 2.0x the time of training it.
Here every step is elementwise on words or positions, or a gather. The
index costs about 0.4 bytes per position plus 2 bytes per score, against the 4 + 4 bytes (score and
momentum) that each frozen position saves.

Example:

>>> freeze = np.array([0, -1, 1, 0, 0], np.int8)
>>> index = FreeIndex.of(freeze)
>>> keep_free = np.array([True, False, True])
>>> ops.convert_to_numpy(expand(keep_free, index.arrays(), 5)).tolist()
[True, False, True, False, True]
>>> ops.convert_to_numpy(gather_free(np.arange(5.0), index.arrays(), index.position_shift, 3)).tolist()
[0.0, 3.0, 4.0]
"""

import dataclasses

import numpy as np
from keras import ops

from keras_slt.freezing.pattern import FREE, LOCKED, PRUNED
from keras_slt.layers import bits

# Offsets of free positions from their base fit in 16 bits.
_OFFSET_BITS = 16
# At most 2**10 free positions share a base: the bases then cost 4 bytes per
# 1,024 scores, and `gather_free` pads its groups by fewer than 1,024.
_MAX_SHIFT = 10

ARRAY_NAMES = ("free_words", "locked_words", "free_offsets", "position_words", "position_bases")


@dataclasses.dataclass(frozen=True)
class FreeIndex:
    """The index of a freeze pattern's free positions (NumPy int32 arrays).

    Attributes:
        free_words, locked_words, free_offsets, position_words,
        position_bases: see the module docstring.
        position_shift: log2 of the number of free positions sharing a base.
        num_free: the number of free positions (scores).
    """

    free_words: np.ndarray
    locked_words: np.ndarray
    free_offsets: np.ndarray
    position_words: np.ndarray
    position_bases: np.ndarray
    position_shift: int
    num_free: int

    @classmethod
    def of(cls, freeze):
        """The index of a freeze pattern (any shape, read row-major).

        Args:
            freeze: int8 array, -1 pruned, 0 free, +1 locked.
        """
        freeze = np.asarray(freeze).ravel()
        free = freeze == FREE
        per_word = np.zeros(bits.num_words(free.size) * bits.WORD, np.int64)
        per_word[: free.size] = free
        per_word = per_word.reshape(-1, bits.WORD).sum(axis=1)
        offsets = np.concatenate([[0], np.cumsum(per_word)[:-1]]).astype(np.int32)
        positions = np.flatnonzero(free)
        shift, bases, local = _based_positions(positions)
        if local.size % 2:
            local = np.append(local, 0)
        packed = (local[0::2] | (local[1::2] << _OFFSET_BITS)).astype(np.uint32).view(np.int32)
        return cls(
            free_words=bits.pack(free),
            locked_words=bits.pack(freeze == LOCKED),
            free_offsets=offsets,
            position_words=packed,
            position_bases=bases,
            position_shift=shift,
            num_free=int(positions.size),
        )

    def arrays(self):
        """The int32 arrays, by name (`ARRAY_NAMES`)."""
        return {name: getattr(self, name) for name in ARRAY_NAMES}


def _based_positions(positions):
    """(shift, bases, offsets): positions as bases[j >> shift] + 16-bit offsets.

    The largest shift up to `_MAX_SHIFT` whose groups of 2**shift
    consecutive free positions each span fewer than 2**16 positions; shift
    0 (one base per position) always fits.
    """
    group = np.arange(positions.size)
    for shift in range(_MAX_SHIFT, -1, -1):
        bases = positions[:: 1 << shift]
        local = positions - bases[group >> shift]
        if positions.size == 0 or local.max() < (1 << _OFFSET_BITS):
            return shift, bases.astype(np.int32), local.astype(np.int64)
    raise AssertionError("shift 0 always fits")


def freeze_of(free_words, locked_words, size):
    """The int8 freeze pattern (flat, NumPy) from its two bitmaps."""
    free = bits.unpack(free_words, size)
    locked = bits.unpack(locked_words, size)
    return np.where(free, FREE, np.where(locked, LOCKED, PRUNED)).astype(np.int8)


def expand(keep_free, arrays, size):
    """The flat boolean mask of `size` positions (keras.ops).

    Args:
        keep_free: bool tensor, one keep decision per free position, in order.
        arrays: the index's int32 tensors by name (`FreeIndex.arrays`, or
            the layer's variables).
        size: the number of positions.

    Returns:
        A bool tensor of `size`: True where locked, or free and kept.
    """
    # The keep decisions as words. A window starts at word offset >> 5 <=
    # num_free >> 5 and reads the word after it too.
    keep_words = bits.words_of(keep_free, int(keep_free.shape[0]) // bits.WORD + 2)
    # Word c of the mask needs the decisions of free positions offset[c]
    # onwards, at most 32 of them: a window of two words, shifted.
    offsets = arrays["free_offsets"]
    first = ops.right_shift(offsets, 5)
    shift = ops.bitwise_and(offsets, bits.WORD - 1)
    low = bits.shift_right_logical(ops.take(keep_words, first), shift)
    high = ops.left_shift(ops.take(keep_words, first + 1), ops.bitwise_and(bits.WORD - shift, bits.WORD - 1))
    window = ops.bitwise_or(low, ops.where(shift == 0, 0, high))
    # The window's low bits go, in order, to the free bits of the word, all
    # in whole-word operations: 32 times fewer elements than positions.
    kept = bits.deposit(window, arrays["free_words"])
    mask = ops.bitwise_or(arrays["locked_words"], kept)
    # An identity gather makes XLA compute the words once: fused into all 32
    # positions of each word (as a broadcast lets it), the chain of
    # `bits.deposit` took seconds to compile per layer.
    mask = ops.take(mask, ops.arange(int(mask.shape[0]), dtype="int32"))
    return bits.flags(mask, size)


def gather_free(values, arrays, position_shift, num_free):
    """The entries of flat `values` at the free positions, in order (keras.ops).

    Args:
        values: a flat tensor over all positions.
        arrays: as `expand`.
        position_shift: the index's `position_shift`.
        num_free: the number of free positions.
    """
    # Unpacked by reshapes and broadcasts rather than gathers, which XLA
    # runs as scalar loops on CPU: only the values are gathered.
    packed = ops.expand_dims(arrays["position_words"], -1)
    halves = ops.bitwise_and(ops.right_shift(packed, ops.convert_to_tensor([0, _OFFSET_BITS])), 0xFFFF)
    bases = arrays["position_bases"]
    group = 1 << position_shift
    offsets = ops.reshape(halves, (-1,))[:num_free]
    offsets = ops.pad(offsets, [(0, int(bases.shape[0]) * group - num_free)])
    positions = ops.reshape(ops.reshape(offsets, (-1, group)) + ops.expand_dims(bases, -1), (-1,))
    return ops.take(values, positions[:num_free])
