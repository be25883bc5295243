"""Bit packing: boolean tensors stored as int32 words of 32 bits.

The lean search state (docs/METHOD.md, section 11 (Search state)) keeps
every per-weight flag (a signed-constant weight's sign, the freeze pattern)
as one bit. A flat boolean array of n entries becomes ceil(n / 32) int32
words, bit b of word c holding entry 32c + b (the padding bits are 0).
Words are int32, not uint32, because every backend and TensorFlow's
collectives handle int32; the step-side functions below therefore emulate
the unsigned operations they need.

`pack` and `unpack` are NumPy (build time, export); `lanes`, `flags`,
`words_of`, `shift_right_logical` and `deposit` are keras.ops, run inside the compiled
train step.

Example:

>>> words = pack(np.array([True, False, True]))
>>> words.tolist(), unpack(words, 3).tolist()
([5], [True, False, True])
"""

import numpy as np
from keras import ops

WORD = 32


def num_words(size):
    """Words needed for `size` bits."""
    return -(-int(size) // WORD)


def pack(flags):
    """A boolean array (any shape, read row-major) as int32 words (NumPy).

    Example:

    >>> pack(np.arange(40) % 2 == 1).tolist()
    [-1431655766, 170]
    """
    flags = np.asarray(flags, dtype=bool).ravel()
    padded = np.zeros(num_words(flags.size) * WORD, dtype=bool)
    padded[: flags.size] = flags
    # bitorder="little": bit b of each byte is entry 8i + b; four bytes in
    # little-endian order make the word.
    return np.packbits(padded, bitorder="little").view("<u4").astype(np.uint32).view(np.int32)


def unpack(words, size):
    """The first `size` flags of int32 `words` (NumPy), a flat bool array.

    Example:

    >>> unpack(np.array([6], np.int32), 4).tolist()
    [False, True, True, False]
    """
    words = np.ascontiguousarray(np.asarray(words, dtype=np.int32)).astype("<i4")
    return np.unpackbits(words.view(np.uint8), bitorder="little")[:size].astype(bool)


def lanes(words):
    """Every bit of int32 `words` (keras.ops): int32 0/1 of shape [words, 32].

    Example:

    >>> ops.convert_to_numpy(lanes(np.array([5], np.int32)))[0, :4].tolist()
    [1, 0, 1, 0]
    """
    # An arithmetic shift keeps bit b in place at position 0, so `& 1` is exact.
    return ops.bitwise_and(ops.right_shift(ops.expand_dims(words, -1), ops.arange(WORD, dtype="int32")), 1)


def words_of(flags, num):
    """Flat bool `flags` as `num` int32 words (keras.ops), the inverse of `flags`.

    `num` may exceed the words the flags fill; the rest are 0.

    Example:

    >>> ops.convert_to_numpy(words_of(np.array([True, False, True]), 2)).tolist()
    [5, 0]
    """
    padded = ops.pad(ops.cast(flags, "int32"), [(0, num * WORD - int(flags.shape[0]))])
    # Distinct bits add without carries, so the sum is their bitwise or.
    return ops.sum(ops.left_shift(ops.reshape(padded, (num, WORD)), ops.arange(WORD, dtype="int32")), axis=1)


def flags(words, size):
    """The first `size` flags of int32 `words` (keras.ops), a flat bool tensor."""
    return ops.reshape(lanes(words), (-1,))[:size] == 1


def shift_right_logical(x, shift):
    """x >> shift filling with zeros, for int32 x and shift in [0, 31] (keras.ops).

    keras.ops shifts int32 arithmetically (copying the sign bit); the mask
    clears the copies: ~((-1 << (31 - shift)) << 1) has the low 32 - shift
    bits set, for every shift in [0, 31] (no shift by 32, which backends
    leave undefined).
    """
    keep_bits = ops.bitwise_invert(ops.left_shift(ops.left_shift(-1, 31 - shift), 1))
    return ops.bitwise_and(ops.right_shift(x, shift), keep_bits)


def deposit(x, mask):
    """The low bits of x moved, in order, to the set bits of mask (keras.ops).

    Bit i of x lands on the i-th set bit of mask; every other bit is 0 (the
    x86 instruction PDEP). Hacker's Delight's `expand`: five rounds compute,
    from the mask alone, which bits move by 16, 8, 4, 2 and 1 places, then
    x moves in those steps. Elementwise on int32 words.

    Example:

    >>> ops.convert_to_numpy(deposit(np.array([0b101], np.int32), np.array([0b11010], np.int32))).tolist()
    [18]
    """
    original = mask
    zeros_right = ops.left_shift(ops.bitwise_invert(mask), 1)
    moves = []
    for i in range(5):
        # Parallel suffix: bit b of `suffix` is the parity of the 0s of the
        # mask below b (so far), i.e. whether bit b moves 2**i places.
        suffix = ops.bitwise_xor(zeros_right, ops.left_shift(zeros_right, 1))
        for step in (2, 4, 8, 16):
            suffix = ops.bitwise_xor(suffix, ops.left_shift(suffix, step))
        move = ops.bitwise_and(suffix, mask)
        moves.append(move)
        mask = ops.bitwise_or(ops.bitwise_xor(mask, move), shift_right_logical(move, 1 << i))
        zeros_right = ops.bitwise_and(zeros_right, ops.bitwise_invert(suffix))
    for i in reversed(range(5)):
        move = moves[i]
        x = ops.bitwise_or(
            ops.bitwise_and(x, ops.bitwise_invert(move)), ops.bitwise_and(ops.left_shift(x, 1 << i), move)
        )
    return ops.bitwise_and(x, original)
