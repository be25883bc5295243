"""The size table: a ticket under the paper's accounting and as files, with LiteRT latency."""

from keras_slt.model import SupermaskModel
from keras_slt.size import model_size

# File sizes reported by `export_ticket`, in table order.
FILE_ROWS = (
    ("slt", ".slt file"),
    ("keras", ".keras (materialized)"),
    ("tflite_dense", "TFLite float32, dense"),
    ("tflite", "TFLite float32, sparse"),
    ("tflite_int8_dense", "TFLite int8, dense"),
    ("tflite_int8", "TFLite int8, sparse"),
)


def size_rows(sizes, accounting=None):
    """(label, bytes) rows: the accounting, then files.

    The accounting is that of docs/METHOD.md, section 7 (Model size).

    Args:
        sizes: file sizes in bytes by key (see `FILE_ROWS`); missing keys are
            left out.
        accounting: the ticket's `keras_slt.ModelSize`, which adds the dense
            float32, 1-bit-per-free-weight and entropy-bound rows first.

    Returns:
        A list of (label, size in bytes) pairs.

    Example:

    >>> size_rows({"slt": 54783}, keras_slt.model_size(model))
    [('dense float32 (weight-trained)', 7458816.0), ...]
    """
    rows = []
    if accounting is not None:
        rows += [
            ("dense float32 (weight-trained)", accounting.dense_float32_bits / 8),
            ("paper: 1 bit per free weight", accounting.model_size_bits / 8),
            ("entropy bound: H(q) per free weight", accounting.entropy_model_bits / 8),
        ]
    rows += [(label, sizes[key]) for key, label in FILE_ROWS if key in sizes]
    return rows


# The dense TFLite file each TFLite row's latency is compared with.
_DENSE_REFERENCE = {
    "tflite_dense": "tflite_dense", "tflite": "tflite_dense",
    "tflite_int8_dense": "tflite_int8_dense", "tflite_int8": "tflite_int8_dense",
}


def size_table(model, sizes, latencies=None):
    """`size_rows` as text, with bits per weight and the ratio to the first row.

    With `latencies` (seconds by file key, as `Export.latencies`), the TFLite
    rows also show their LiteRT latency and the ratio dense / this file
    at the same precision (above 1: faster than dense).

    Weights are the supermask weights plus the stored floats (the
    parameters of the weight-trained network), or `model.count_params()`
    for a plain model, so the dense float32 row reads 32 bits per weight.

    Args:
        model: the exported model (a `SupermaskModel` or a plain one).
        sizes: file sizes in bytes by key, as in `size_rows`.
        latencies: optional median batch-1 latencies in seconds by key.

    Returns:
        The table as a string.

    Example:

    >>> print(size_table(model, export_ticket(model, "out", x).sizes))
    """
    if isinstance(model, SupermaskModel):
        accounting = model_size(model)
        num_weights = accounting.supermask_weights + accounting.stored_floats
    else:
        accounting, num_weights = None, model.count_params()
    rows = size_rows(sizes, accounting)
    keys = {label: key for key, label in FILE_ROWS}
    latencies = latencies or {}
    width = max(len(label) for label, _ in rows)
    reference = rows[0][1]
    header = f"{'':{width}}  {'bytes':>12}  {'bits/weight':>11}  {'x first':>8}"
    if latencies:
        header += f"  {'latency us':>10}  {'dense/this':>10}"
    lines = [header]
    for label, size in rows:
        line = f"{label:{width}}  {size:12,.0f}  {8 * size / num_weights:11.4f}  {size / reference:8.4f}"
        key = keys.get(label)
        if key in latencies:
            dense = latencies.get(_DENSE_REFERENCE[key])
            speedup = f"{dense / latencies[key]:10.2f}" if dense else f"{'-':>10}"
            line += f"  {1e6 * latencies[key]:10.1f}  {speedup}"
        lines.append(line)
    return "\n".join(lines)
