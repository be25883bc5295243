"""The size table: a ticket under the paper's accounting and as files, with LiteRT latencies."""

from keras_slt.size import model_size
from keras_slt.supermask_model import SupermaskModel

# File sizes reported by `export_ticket`, in table order.
FILE_ROWS = (
    ("slt", ".slt file"),
    ("keras", ".keras (materialized)"),
    ("tflite_dense", "TFLite float32, dense"),
    ("tflite", "TFLite float32, sparse"),
    ("tflite_int8", "TFLite int8, dense"),
    ("tflite_int8_sparse", "TFLite int8, sparse"),
)


def size_rows(sizes, accounting=None):
    """(label, bytes) rows: the accounting of docs/METHOD.md, section 7 (Model size), then files.

    Args:
        sizes: file sizes in bytes by key (see `FILE_ROWS`); missing keys are
            left out.
        accounting: the ticket's `keras_slt.ModelSize`, which adds the dense
            float32, 1-bit-per-free-weight and entropy-bound rows first.

    Returns:
        A list of (label, size in bytes) pairs.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> size_rows({"slt": 900}, keras_slt.model_size(model))
    [('dense float32 (weight-trained)', 864.0), ('paper: 1 bit per free weight', 35.0), ...]
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
    "tflite_int8": "tflite_int8", "tflite_int8_sparse": "tflite_int8",
}


def size_table(model, sizes, latencies=None):
    """`size_rows` as text, with bits per weight, the ratio to the first row
    and, for timed files, the LiteRT latency (batch 1, median, in ms) and
    the speed-up over the dense file of the same precision (dense / this;
    above 1: faster than dense).

    Weights are the supermask weights plus the stored floats (the
    parameters of the weight-trained network), or `model.count_params()`
    for a plain model, so the dense float32 row reads 32 bits per weight.

    Args:
        model: the exported model (a `SupermaskModel` or a plain one).
        sizes: file sizes in bytes by key, as in `size_rows` (a str: the
            reason the file was not written).
        latencies: `keras_slt.export.latency.Latency` by the same keys.

    Returns:
        The table as a string.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> print(size_table(model, {"slt": 900, "tflite": "not written"}))
                                                bytes  bits/weight   x first
    dense float32 (weight-trained)                864      32.0000    1.0000
    paper: 1 bit per free weight                   35       1.2963    0.0405
    entropy bound: H(q) per free weight            34       1.2772    0.0399
    .slt file                                     900      33.3333    1.0417
    TFLite float32, sparse                       not written
    """
    if isinstance(model, SupermaskModel):
        accounting = model_size(model)
        num_weights = accounting.supermask_weights + accounting.stored_floats
    else:
        accounting, num_weights = None, model.count_params()
    latencies = latencies or {}
    labels = {label: key for key, label in FILE_ROWS}
    rows = size_rows(sizes, accounting)
    width = max(len(label) for label, _ in rows)
    reference = rows[0][1]
    header = f"{'':{width}}  {'bytes':>12}  {'bits/weight':>11}  {'x first':>8}"
    lines = [header + (f"  {'LiteRT ms':>9}  {'runs':>5}  {'dense/this':>10}" if latencies else "")]
    for label, size in rows:
        if isinstance(size, str):  # a format that was not written, and why
            lines.append(f"{label:{width}}  {size}")
            continue
        line = f"{label:{width}}  {size:12,.0f}  {8 * size / num_weights:11.4f}  {size / reference:8.4f}"
        key = labels.get(label)
        timed = latencies.get(key)
        if timed is not None:
            dense = latencies.get(_DENSE_REFERENCE[key])
            speedup = f"{dense.seconds / timed.seconds:10.2f}" if dense else f"{'-':>10}"
            line += f"  {timed.seconds * 1e3:9.3f}  {timed.runs:5d}  {speedup}"
        lines.append(line)
    if latencies:
        lines.append("LiteRT ms: median inference time at batch 1, one CPU thread, default delegates (XNNPACK)")
    return "\n".join(lines)
