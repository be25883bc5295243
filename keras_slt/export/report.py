"""The size table: a ticket under the paper's accounting and as files."""

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
    """(label, bytes) rows: the accounting of DESIGN.md section 5, then files.

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


def size_table(model, sizes):
    """`size_rows` as text, with bits per weight and the ratio to the first row.

    Weights are the supermask weights plus the stored floats (the
    parameters of the weight-trained network), or `model.count_params()`
    for a plain model, so the dense float32 row reads 32 bits per weight.

    Args:
        model: the exported model (a `SupermaskModel` or a plain one).
        sizes: file sizes in bytes by key, as in `size_rows` (a str: the
            reason the file was not written).

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
    width = max(len(label) for label, _ in rows)
    reference = rows[0][1]
    lines = [f"{'':{width}}  {'bytes':>12}  {'bits/weight':>11}  {'x first':>8}"]
    for label, size in rows:
        if isinstance(size, str):  # a format that was not written, and why
            lines.append(f"{label:{width}}  {size}")
            continue
        lines.append(f"{label:{width}}  {size:12,.0f}  {8 * size / num_weights:11.4f}"
                     f"  {size / reference:8.4f}")
    return "\n".join(lines)
