"""The size table: a ticket under the paper's accounting and as files, with latencies and agreement."""

from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.ticket.size import model_size

# File sizes reported by `export_ticket`, in table order.
FILE_ROWS = (
    ("slt", ".slt file"),
    ("keras", ".keras (materialized)"),
    ("tflite_dense", "TFLite float32, dense"),
    ("tflite", "TFLite float32, sparse"),
    ("tflite_weight_int8", "TFLite int8 weights, float32 act."),
    ("tflite_weight_int4", "TFLite int4 weights, float32 act."),
    ("tflite_int8", "TFLite full int8, dense"),
    ("tflite_int8_sparse", "TFLite full int8, sparse"),
    ("onnx", "ONNX float32"),
)
# The file every latency is compared with, and how the ratio reads.
SPEED_REFERENCE = "tflite_dense"
SPEED_HEADER = "x faster than dense"


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


def size_table(model, sizes, latencies=None, agreements=None, diffs=None, failed=()):
    """`size_rows` as text, with bits per weight and the ratio to the first
    row; for timed files the latency (batch 1, median, in ms, LiteRT for
    TFLite, ONNX Runtime for ONNX) and how many times faster than the dense
    float32 TFLite file it runs (above 1: faster); for checked files the
    top-1 agreement and max abs difference with Keras.

    Weights are the supermask weights plus the stored floats (the
    parameters of the weight-trained network), or `model.count_params()`
    for a plain model, so the dense float32 row reads 32 bits per weight.

    Args:
        model: the exported model (a `SupermaskModel` or a plain one).
        sizes: file sizes in bytes by key, as in `size_rows` (a str: the
            reason the file was not written).
        latencies: `keras_slt.deploy.latency.Latency` by the same keys.
        agreements: top-1 agreement with Keras by the same keys.
        diffs: max abs difference to Keras by the same keys.
        failed: keys of files that failed their check (marked FAILED).

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
    latencies, agreements, diffs = latencies or {}, agreements or {}, diffs or {}
    labels = {label: key for key, label in FILE_ROWS}
    rows = size_rows(sizes, accounting)
    width = max(len(label) for label, _ in rows)
    reference = rows[0][1]
    header = f"{'':{width}}  {'bytes':>12}  {'bits/weight':>11}  {'x first':>8}"
    if latencies:
        header += f"  {'ms':>8}  {'runs':>5}  {SPEED_HEADER:>19}"
    if agreements:
        header += f"  {'top-1 agreement':>15}  {'max |diff|':>10}"
    lines = [header]
    dense = latencies.get(SPEED_REFERENCE)
    for label, size in rows:
        if isinstance(size, str):  # a format that was not written, and why
            lines.append(f"{label:{width}}  {size}")
            continue
        line = f"{label:{width}}  {size:12,.0f}  {8 * size / num_weights:11.4f}  {size / reference:8.4f}"
        key = labels.get(label)
        if latencies:
            timed = latencies.get(key)
            if timed is None:
                line += f"  {'':>8}  {'':>5}  {'':>19}"
            else:
                speedup = f"{dense.seconds / timed.seconds:19.2f}" if dense else f"{'-':>19}"
                line += f"  {timed.seconds * 1e3:8.3f}  {timed.runs:5d}  {speedup}"
        if key in agreements:
            line += f"  {agreements[key]:15.4f}  {diffs[key]:10.2e}"
        lines.append(line.rstrip() + ("  FAILED" if key in failed else ""))
    if latencies:
        lines.append(
            "ms: median inference time at batch 1, one CPU thread (TFLite: LiteRT with its default "
            "delegates, XNNPACK; ONNX: ONNX Runtime's CPU provider); "
            f"{SPEED_HEADER}: the dense float32 TFLite file's time / this file's"
        )
    return "\n".join(lines)
