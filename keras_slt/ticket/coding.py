"""Entropy coding of binary masks: a range coder with one Bernoulli model.

A free mask of n bits with k ones is coded with the fixed probability
p = k / n, so it costs about n * H(k / n) bits (docs/METHOD.md, section 7 (Model size)) plus a
few words. The coder is `constriction`'s `stream.queue.RangeEncoder` with
`stream.model.Bernoulli(p, perfect=False)`; its output is a sequence of
32-bit words, stored little-endian. The counts n and k are kept by the
caller: when k is 0 or n the mask is known from them and codes to no bytes.
"""

import constriction
import numpy as np


def _model(size, ones):
    return constriction.stream.model.Bernoulli(ones / size, perfect=False)


def encode_bits(bits):
    """Range-codes a 1-D array of 0/1 values.

    Args:
        bits: 1-D array of 0/1 (any integer or bool dtype).

    Returns:
        The coded bytes; `b""` when all bits are equal.

    Example:

    >>> data = encode_bits(np.array([0, 0, 1, 0, 0, 0, 0, 0]))
    >>> decode_bits(data, size=8, ones=1).tolist()
    [0, 0, 1, 0, 0, 0, 0, 0]
    """
    bits = np.asarray(bits).astype(np.int32).ravel()
    ones = int(bits.sum())
    if ones in (0, bits.size):
        return b""
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(bits, _model(bits.size, ones))
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_bits(data, size, ones):
    """Inverse of `encode_bits`.

    Args:
        data: the coded bytes.
        size: number of bits n.
        ones: number of ones k.

    Returns:
        A uint8 array of `size` 0/1 values.

    Raises:
        ValueError: if `data` does not decode to `ones` ones.
    """
    if not 0 <= ones <= size:
        raise ValueError(f"ones must be in [0, {size}], got {ones}")
    if ones in (0, size):
        if data:
            raise ValueError(f"a mask of {size} equal bits codes to no bytes, got {len(data)}")
        return np.full(size, 1 if ones else 0, dtype=np.uint8)
    if not data or len(data) % 4:
        raise ValueError(f"coded mask must be a nonzero multiple of 4 bytes, got {len(data)}")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    bits = np.asarray(decoder.decode(_model(size, ones), size), dtype=np.uint8)
    if int(bits.sum()) != ones:
        raise ValueError(f"coded mask decodes to {int(bits.sum())} ones, expected {ones}")
    return bits
