"""The bytes of the compact ticket format `.slt`.

One of the deployment forms of docs/METHOD.md, section 9 (Deployment forms);
`keras_slt.ticket.slt_file` saves and loads the models it holds. A ticket
stores what cannot be regenerated: the architecture with its seeds, each
supermask layer's free mask, range-coded close to its entropy, and the
floats that must be kept. Random weights and freeze patterns are rebuilt
from the seeds. All integers are little-endian.

    header (20 bytes)
        magic          4 bytes   b"KSLT"
        version        uint32    FORMAT_VERSION
        payload_size   uint64    bytes after the header
        payload_crc32  uint32    zlib.crc32 of the payload
    payload
        config_size    uint32
        config         zlib-compressed UTF-8 JSON of the SupermaskModel
                       (`keras.saving.serialize_keras_object`, no compile
                       config); seeds and freeze ratios are in it
        num_layers     uint32    supermask layers, in layer_index order
        per layer:
            num_free     uint64  free positions (freeze == 0): free blocks
                                 in a blocked layer (block_size > 1, in
                                 the config), whose freeze pattern and
                                 mask have one entry per block
            ones         uint64  kept free positions
            fingerprint  uint32  crc32 of W (float32) then freeze (int8)
            coded_size   uint32
            coded        bytes   the free mask in C order, `coding.encode_bits`
        num_floats     uint64
        floats         float32 every float variable of the model but W,
                       scores and freeze, in `model.weights` order

The fingerprint catches a library whose random streams differ from the one
that wrote the ticket: loading then fails instead of building other weights.

Nothing read is trusted, checksum or not: the file is read up to
`MAX_FILE_BYTES`, every field must lie inside the payload and the config is
inflated to at most `MAX_CONFIG_BYTES`. Every failure is a `TicketError`,
one line naming the file.
"""

import dataclasses
import json
import struct
import zlib

import numpy as np

from keras_slt.utils import files

MAGIC = b"KSLT"
FORMAT_VERSION = 1

_HEADER = struct.Struct("<4sIQI")
_LAYER = struct.Struct("<QQII")
_UINT32 = struct.Struct("<I")
_UINT64 = struct.Struct("<Q")

# A network's config is kilobytes; inflating it stops past this many bytes.
MAX_CONFIG_BYTES = 1 << 22
# Largest ticket file read: its floats are the model's biases and
# normalization statistics.
MAX_FILE_BYTES = 1 << 30


class TicketError(ValueError):
    """A `.slt` file that is not a ticket this library can rebuild.

    The message is one line and names the file.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "damaged.slt")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a ticket")
    >>> try:
    ...     read(path)
    ... except TicketError as error:
    ...     print(error)
    /.../damaged.slt: not a keras-slt ticket (no b'KSLT' header)
    """


@dataclasses.dataclass
class CodedMask:
    """One supermask layer's entry: its free mask, coded, and what checks it.

    Attributes:
        num_free: free positions (entries of the freeze pattern that are 0).
        ones: kept free positions.
        fingerprint: crc32 of the layer's W (float32) then freeze (int8).
        coded: the free mask in C order, `coding.encode_bits`.
    """

    num_free: int
    ones: int
    fingerprint: int
    coded: bytes


def to_bytes(config, coded_masks, floats):
    """A ticket's bytes: header and payload.

    Args:
        config: the network's config, a JSON-serializable dict.
        coded_masks: a `CodedMask` per supermask layer, in layer_index order.
        floats: 1-D float32 array, the stored floats.
    """
    config_bytes = zlib.compress(json.dumps(config).encode("utf-8"), 9)
    parts = [_UINT32.pack(len(config_bytes)), config_bytes, _UINT32.pack(len(coded_masks))]
    for mask in coded_masks:
        parts += [_LAYER.pack(mask.num_free, mask.ones, mask.fingerprint, len(mask.coded)), mask.coded]
    floats = np.asarray(floats, "<f4")
    parts += [_UINT64.pack(floats.size), floats.tobytes()]
    payload = b"".join(parts)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), zlib.crc32(payload)) + payload


def read(path):
    """Reads and checks a ticket file's bytes.

    Args:
        path: a `.slt` file.

    Returns:
        (config, coded_masks, floats): the config dict, a `CodedMask` per
        layer and the float32 array of stored floats, none of it checked
        against a model yet.

    Raises:
        TicketError: one line naming the file, if it is not a ticket, is
            truncated or damaged, or was written by a newer format version
            (or names version 0, which no keras-slt wrote).
    """
    config_bytes, coded_masks, floats = _read_payload(path)
    return _config(path, config_bytes), coded_masks, floats


def _read_payload(path):
    """Checks the header and splits the payload: (config, masks, floats)."""
    data = files.read_bytes(path, MAX_FILE_BYTES, TicketError)
    if len(data) < _HEADER.size:
        if MAGIC.startswith(data[: len(MAGIC)]) and data:
            raise TicketError(f"{path}: truncated ticket ({len(data)} bytes, shorter than its header)")
        raise TicketError(f"{path}: not a keras-slt ticket (no {MAGIC!r} header)")
    magic, version, payload_size, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TicketError(f"{path}: not a keras-slt ticket (no {MAGIC!r} header)")
    if version > FORMAT_VERSION:
        raise TicketError(
            f"{path}: ticket format version {version} is newer than this keras-slt reads "
            f"(up to {FORMAT_VERSION}); upgrade keras-slt"
        )
    if version < 1:
        raise TicketError(f"{path}: ticket format version {version} does not exist (versions start at 1)")
    payload = data[_HEADER.size :]
    if len(payload) < payload_size:
        raise TicketError(f"{path}: truncated ticket ({len(data)} of {_HEADER.size + payload_size} bytes)")
    if len(payload) > payload_size:
        raise TicketError(f"{path}: corrupted ticket ({len(payload) - payload_size} bytes past its end)")
    if zlib.crc32(payload) != crc:
        raise TicketError(f"{path}: corrupted ticket (checksum mismatch)")
    try:
        return _split_payload(payload)
    except (struct.error, ValueError) as e:
        raise TicketError(f"{path}: malformed ticket ({e})") from None


def _split_payload(payload):
    offset = 0

    def take(size):
        nonlocal offset
        if offset + size > len(payload):
            raise ValueError(f"field at byte {offset} runs past the payload")
        offset += size
        return payload[offset - size : offset]

    (config_size,) = _UINT32.unpack(take(_UINT32.size))
    config_bytes = take(config_size)
    (num_layers,) = _UINT32.unpack(take(_UINT32.size))
    coded_masks = []
    for _ in range(num_layers):
        num_free, ones, fingerprint, coded_size = _LAYER.unpack(take(_LAYER.size))
        coded_masks.append(CodedMask(num_free, ones, fingerprint, take(coded_size)))
    (num_floats,) = _UINT64.unpack(take(_UINT64.size))
    floats = np.frombuffer(take(4 * num_floats), dtype="<f4")
    if offset != len(payload):
        raise ValueError(f"{len(payload) - offset} unread bytes at the end of the payload")
    return config_bytes, coded_masks, floats


def _config(path, config_bytes):
    """The config's JSON, inflated to at most `MAX_CONFIG_BYTES`."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(config_bytes, MAX_CONFIG_BYTES)
    except zlib.error as error:
        raise TicketError(f"{path}: damaged config (zlib: {error})") from None
    if inflater.unconsumed_tail:
        raise TicketError(f"{path}: config inflates past {MAX_CONFIG_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise TicketError(f"{path}: damaged config (the zlib stream does not end where it should)")
    try:
        config = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise TicketError(f"{path}: damaged config (not JSON: {error})") from None
    if not isinstance(config, dict):
        raise TicketError(f"{path}: damaged config (a {type(config).__name__}, not an object)")
    return config
