"""Writes a ticket's deployment files and checks each one against Keras.

Checks, on the inputs given:
- materialized model vs the supermask model: max abs difference <= 1e-4;
- `.keras`: reloaded weights bit-identical to the materialized model's;
- `.slt`: `load_ticket` gives bit-identical weights and predictions;
- float TFLite (LiteRT) and ONNX (ONNX Runtime): max abs difference <=
  `FLOAT_TOLERANCE`;
- quantized TFLite (weight-only int8 / int4, full int8): top-1 agreement
  >= `MIN_AGREEMENT`; for signed-constant tickets the weight-only files
  must also be lossless: dequantized kernels equal to the float ones (up to
  the float32 rounding of the scales) and outputs within `FLOAT_TOLERANCE`.

A file that fails its check is not left under its name: it is written as
`<file>.failed` (an older file of that name is removed), and a failed
quantized file's check names the less quantized mode that keeps the
answers, measured on the same inputs. Everything is converted in memory
before the first file is written, so a refused conversion (int4 weights on
an op LiteRT cannot run in int4) leaves nothing behind.

Every TFLite and ONNX model is also timed (batch 1, median, one thread; see
`keras_slt.deploy.latency`), the float TFLite both with and without sparse
encoding. Which layout is written by default follows those timings on
LiteRT's default CPU path: float sparse (as fast as dense, since LiteRT
densifies the weights once at load, and smaller), full int8 dense (XNNPACK
rejects sparse int8 kernels, so a sparse int8 file runs several times
slower on the reference kernels); sparse int8 only on request; weight-only
files dense (`keras_slt.deploy.quantize`: sparse weights stay float32
there). The FULLY_CONNECTED layouts of each TFLite file (dense, densified at
load, or block-sparse 1xK: which kernel LiteRT runs,
`keras_slt.deploy.block_sparse`) are reported too.
"""

import dataclasses
import os

import keras
import numpy as np

from keras_slt.deploy import latency
from keras_slt.deploy.formats import DEFAULT_FORMATS, FORMATS, check_formats, tflite_available  # noqa: F401  (part of this module's API)
from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.ticket.materialize import materialize
from keras_slt.ticket.slt_file import load_ticket, save_ticket
from keras_slt.utils import files
from keras_slt.utils.validation import check_file_name

# How each written file's name ends, after the base name.
ENDINGS = {
    "keras": ".keras",
    "slt": ".slt",
    "tflite": ".tflite",
    "tflite_weight_int8": "_weight_int8.tflite",
    "tflite_weight_int4": "_weight_int4.tflite",
    "tflite_int8": "_int8.tflite",
    "tflite_int8_sparse": "_int8_sparse.tflite",
    "onnx": ".onnx",
}
# Appended to a file that failed its check.
FAILED = ".failed"
FLOAT_TOLERANCE = 1e-4
MIN_AGREEMENT = 0.99
# Dequantized weight-only kernels vs the float ones, for signed-constant tickets.
LOSSLESS_TOLERANCE = 1e-6
# The quantized TFLite files, by the `export_ticket` argument that asks for each.
QUANTIZED = {
    "tflite_weight_int8": "weight_int8",
    "tflite_weight_int4": "weight_int4",
    "tflite_int8": "int8",
    "tflite_int8_sparse": "int8_sparse",
}
# The less quantized mode tried when a quantized file fails its agreement check.
_FALLBACK = {
    "tflite_weight_int4": "tflite_weight_int8",
    "tflite_int8": "tflite_weight_int8",
    "tflite_int8_sparse": "tflite_weight_int8",
    "tflite_weight_int8": "tflite",
}
_DESCRIPTIONS = {"tflite": "float32 TFLite (tflite)", "tflite_weight_int8": "weight-only int8 (weight_int8)"}


@dataclasses.dataclass
class Check:
    """One verification: what was compared, the value found, and the verdict.

    A format that was not written, or could not be run, has value None and
    says why in `measure` (passed: skipped on purpose; failed: an error);
    `note` adds what became of a failed file and which mode keeps the answers.
    """

    subject: str
    measure: str
    value: float | None
    passed: bool
    note: str = ""

    def __str__(self):
        if self.value is None:
            line = f"[{'skipped' if self.passed else 'FAILED'}] {self.subject}: {self.measure}"
        else:
            line = f"[{'ok' if self.passed else 'FAILED'}] {self.subject}: {self.measure} = {self.value:.3g}"
        return f"{line}; {self.note}" if self.note else line


@dataclasses.dataclass
class Export:
    """What `export_ticket` wrote and found.

    Attributes:
        paths: format -> written file ("keras", "slt", "tflite" (float,
            sparse), "tflite_weight_int8", "tflite_weight_int4",
            "tflite_int8" (full int8, dense), "tflite_int8_sparse",
            "onnx"); a file that failed its check is at its `.failed` name.
        sizes: bytes of each written file, plus "tflite_dense" (the float
            TFLite without sparse encoding, converted for comparison only);
            a format that could not be written maps to the reason (a str).
        checks: the `Check`s, in the order they ran.
        latencies: a `latency.Latency` for each TFLite and ONNX key of
            `sizes` (empty when not timed).
        layouts: the `block_sparse.summary` line of each TFLite key.
        agreements: top-1 agreement with Keras of each TFLite and ONNX file.
        diffs: max abs difference to Keras of each TFLite and ONNX file.
    """

    paths: dict
    sizes: dict
    checks: list
    latencies: dict = dataclasses.field(default_factory=dict)
    layouts: dict = dataclasses.field(default_factory=dict)
    agreements: dict = dataclasses.field(default_factory=dict)
    diffs: dict = dataclasses.field(default_factory=dict)

    @property
    def passed(self):
        return all(check.passed for check in self.checks)

    @property
    def failed(self):
        """Keys of the files that failed their checks (kept as `<file>.failed`)."""
        return [key for key, path in self.paths.items() if path.endswith(FAILED)]


def export_ticket(
    model,
    directory,
    inputs,
    formats=DEFAULT_FORMATS,
    int8=False,
    calibration=None,
    name="ticket",
    int8_sparse=False,
    latency_budget_s=latency.BUDGET_S,
    weight_int8=False,
    weight_int4=False,
    progress=None,
):
    """Writes `model` in deployment formats and verifies every file.

    Args:
        model: a `SupermaskModel`, or a plain Keras model ("slt" then
            unavailable).
        directory: where to write `<name>.keras`, `<name>.slt`,
            `<name>.tflite` (float, sparse), `<name>_weight_int8.tflite`,
            `<name>_weight_int4.tflite`, `<name>_int8.tflite` (full int8,
            dense), `<name>_int8_sparse.tflite` and `<name>.onnx`.
        inputs: model inputs to check predictions on (real data if
            possible): an array, or a list of arrays for several inputs.
        formats: any of "keras", "slt", "tflite", "onnx".
        int8: also write the full-integer TFLite model (int8 weights and
            activations), densely stored, the fastest int8 layout on
            LiteRT's default CPU path (with "tflite").
        calibration: inputs calibrating int8 activation ranges.
        name: base name of the files.
        int8_sparse: also write the full-integer model with sparse encoding
            (smaller, slower on LiteRT: see the module docstring).
        latency_budget_s: about how long to time each model (see
            `keras_slt.deploy.latency`); None to skip timing.
        weight_int8: also write the weight-only int8 TFLite model (int8
            kernels, float32 activations; `keras_slt.deploy.quantize`).
        weight_int4: also write the weight-only int4 TFLite model.
        progress: called with a one-line description as each stage starts
            (a command line prints them), or None.

    Returns:
        An `Export`.

    Raises:
        ValueError: bad arguments, or `weight_int4` on a model with ops
            LiteRT runs only with int8 or float weights; nothing is written.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> import tempfile
    >>> x = np.random.default_rng(0).random((8, 4, 4, 1), "float32")
    >>> directory = tempfile.mkdtemp()
    >>> result = export_ticket(model, directory, x, formats=("keras", "slt"))
    >>> result.passed, sorted(os.listdir(directory))
    (True, ['ticket.keras', 'ticket.slt'])
    """
    asked = {
        "tflite_weight_int8": weight_int8,
        "tflite_weight_int4": weight_int4,
        "tflite_int8": int8,
        "tflite_int8_sparse": int8_sparse,
    }
    check_formats(formats, int8, int8_sparse, weight_int8, weight_int4)
    check_file_name("name", name)
    supermask = isinstance(model, SupermaskModel)
    if "slt" in formats and not supermask:
        raise ValueError("the .slt format needs a SupermaskModel (random weights from seeds and a mask)")
    if (int8 or int8_sparse) and calibration is None:
        raise ValueError("int8 and int8_sparse need calibration inputs")
    say = progress or (lambda line: None)
    result = Export({}, {}, [])
    say("materializing the ticket")
    plain = materialize(model) if supermask else model
    expected = plain.predict(inputs, batch_size=256, verbose=0)
    if supermask:
        result.checks.append(
            _max_diff_check(
                "materialized model",
                "the supermask model",
                expected,
                model.predict(inputs, batch_size=256, verbose=0),
                FLOAT_TOLERANCE,
            )
        )
    # Converted before any file is written: a refused conversion leaves nothing.
    contents = _converted(plain, formats, asked, calibration, result, say)
    os.makedirs(directory, exist_ok=True)
    path_of = {key: os.path.join(directory, name + ending) for key, ending in ENDINGS.items()}
    if "keras" in formats:
        say(f"writing {path_of['keras']}")
        with files.atomic_path(path_of["keras"]) as temp:
            plain.save(temp)
        reloaded = keras.saving.load_model(path_of["keras"], compile=False)
        _settle(result, "keras", path_of["keras"], None, [_identical_weights_check(path_of["keras"], plain, reloaded)])
    if "slt" in formats:
        say(f"writing {path_of['slt']}")
        save_ticket(model, path_of["slt"])
        loaded = load_ticket(path_of["slt"])
        _settle(
            result,
            "slt",
            path_of["slt"],
            None,
            [
                _identical_weights_check(path_of["slt"], plain, loaded),
                _max_diff_check(
                    path_of["slt"],
                    "the materialized model",
                    expected,
                    loaded.predict(inputs, batch_size=256, verbose=0),
                    0.0,
                ),
            ],
        )
    lossless = supermask and all(layer.weight_init == "signed_kaiming_constant" for layer in model.supermask_layers)
    written = [key for key in ENDINGS if key in contents]
    for key in written:
        say(
            f"checking {path_of[key]} on {len(keras.tree.flatten(inputs)[0])} inputs "
            f"({'ONNX Runtime' if key == 'onnx' else 'LiteRT'})"
        )
        checks = _file_checks(key, path_of[key], contents, expected, inputs, lossless, result)
        if key in QUANTIZED and not checks[0].passed:
            checks[0].note = _fallback_note(key, contents, expected, inputs, result)
        _settle(result, key, path_of[key], contents[key], checks)
    # A file its runtime refused (no agreement measured) is not timed either.
    timed = {key: content for key, content in contents.items() if key == "tflite_dense" or key in result.agreements}
    if latency_budget_s is not None and timed:
        say(f"timing {len(timed)} model{'s' if len(timed) > 1 else ''} at batch 1, about {latency_budget_s:g} s each")
        sample = [x[0] for x in keras.tree.flatten(inputs)]
        for key, content in timed.items():
            result.latencies[key] = latency.measure(content, sample, latency_budget_s, runtime=_runtime(key))
    tflite_contents = {key: content for key, content in contents.items() if key != "onnx"}
    if tflite_contents:
        from keras_slt.deploy import block_sparse

        result.layouts = {key: block_sparse.summary(content) for key, content in tflite_contents.items()}
    return result


def _converted(plain, formats, asked, calibration, result, say):
    """Every TFLite and ONNX model asked for, as bytes by key ("tflite_dense" included)."""
    contents = {}
    unfixed = _unfixed_input(plain)
    if "tflite" in formats and unfixed:
        # Graph models take a whole graph (any node and edge count): LiteRT
        # runs fixed shapes, so the ticket ships as .keras/.slt.
        reason = f"not written: TFLite needs fixed input shapes, input {unfixed}"
        result.sizes["tflite"] = reason
        result.checks.append(Check("TFLite", reason, None, True))
    elif "tflite" in formats:
        # Imported here: TFLite conversion needs TensorFlow, which the JAX
        # install lacks (check_formats refuses "tflite" there).
        from keras_slt.deploy import tflite

        say("converting to TFLite, float32 dense and sparse")
        contents["tflite_dense"] = tflite.to_tflite(plain, sparse=False)
        result.sizes["tflite_dense"] = len(contents["tflite_dense"])
        contents["tflite"] = tflite.to_tflite(plain)
        for key, bits in (("tflite_weight_int8", 8), ("tflite_weight_int4", 4)):
            if asked[key]:
                say(f"quantizing the weights to int{bits} (ai-edge-quantizer)")
                contents[key] = _weight_only(contents, bits)
        for key, sparse in (("tflite_int8", False), ("tflite_int8_sparse", True)):
            if asked[key]:
                say(
                    f"converting to full-integer int8{', sparse' if sparse else ''} "
                    f"(calibrating on {len(keras.tree.flatten(calibration)[0])} inputs)"
                )
                contents[key] = tflite.to_tflite(plain, int8=True, representative_data=calibration, sparse=sparse)
    if "onnx" in formats:
        from keras_slt.deploy import onnx

        say(f"exporting ONNX ({'tf2onnx' if keras.backend.backend() == 'tensorflow' else 'jax2onnx'})")
        try:
            contents["onnx"] = onnx.to_onnx(plain)
        except onnx.OnnxError as error:
            result.sizes["onnx"] = "not written: export failed"
            result.checks.append(Check("ONNX", f"not written: {error}", None, False))
    return contents


def _weight_only(contents, bits):
    from keras_slt.deploy import quantize

    return quantize.weight_only(contents["tflite_dense"], bits)


def _runtime(key):
    """The module that runs the file of `key` (TFLite's needs TensorFlow, which the JAX install lacks)."""
    if key == "onnx":
        from keras_slt.deploy import onnx

        return onnx
    from keras_slt.deploy import tflite

    return tflite


def _predict(key, content, inputs):
    return _runtime(key).predict(content, inputs)


def _file_checks(key, path, contents, expected, inputs, lossless, result):
    """The checks of one TFLite or ONNX file, its agreement and max diff recorded in `result`."""
    from keras_slt.deploy import onnx

    try:
        found = _predict(key, contents[key], inputs)
    except onnx.OnnxError as error:
        return [Check(path, str(error), None, False)]
    result.agreements[key] = _top1_agreement(found, expected)
    checks = [_max_diff_check(path, "Keras", expected, found, FLOAT_TOLERANCE)]
    result.diffs[key] = checks[0].value
    if key not in QUANTIZED:
        return checks
    agreement = Check(
        path,
        f"top-1 agreement with Keras (min {MIN_AGREEMENT})",
        result.agreements[key],
        result.agreements[key] >= MIN_AGREEMENT,
    )
    if not (lossless and key.startswith("tflite_weight_")):
        return [agreement]
    # Signed-constant kernels hold +-c per output channel: int8 and int4 store them exactly.
    from keras_slt.deploy import quantize

    error = quantize.weight_error(contents[key], contents["tflite_dense"])
    return [
        agreement,
        checks[0],
        Check(
            path,
            f"weights: max relative error to the float kernels (limit {LOSSLESS_TOLERANCE:g})",
            error,
            error <= LOSSLESS_TOLERANCE,
        ),
    ]


def _fallback_note(key, contents, expected, inputs, result):
    """Which less quantized mode keeps the answers: the first whose agreement passes."""
    while key in _FALLBACK:
        key = _FALLBACK[key]
        agreement = result.agreements.get(key)
        if agreement is None:  # not asked for: measured, not written
            content = contents[key] if key in contents else _weight_only(contents, 8)
            agreement = _top1_agreement(_predict(key, content, inputs), expected)
        if agreement >= MIN_AGREEMENT:
            return f"{_DESCRIPTIONS[key]} keeps the answers: agreement {agreement:.4f}"
    return "no quantized mode keeps the answers"


def _settle(result, key, path, content, checks):
    """Writes `content` (or keeps the saved file) under `path` if its checks
    passed, else under `path` + FAILED, removing an older file at `path`."""
    result.checks.extend(checks)
    failed = [check for check in checks if not check.passed]
    target = path + FAILED if failed else path
    if content is not None:
        files.write_bytes(target, content)
    if failed:
        if content is None:
            os.replace(path, target)
        elif os.path.exists(path):
            os.remove(path)  # an older file of this name would pass for this export's
        failed[0].note = "; ".join(filter(None, [f"kept as {target}", failed[0].note]))
    result.paths[key] = target
    result.sizes[key] = os.path.getsize(target)


def _unfixed_input(model):
    """'name shape' of the first input with an unknown non-batch size, or None."""
    for tensor in model.inputs:
        if None in tuple(tensor.shape)[1:]:
            return f"{tensor.name} {tuple(tensor.shape)}"
    return None


def _top1_agreement(found, expected):
    """Fraction of samples whose arg-max matches, the worst over the outputs."""
    return min(
        float(np.mean(np.argmax(f, -1) == np.argmax(e, -1)))
        for f, e in zip(keras.tree.flatten(found), keras.tree.flatten(expected))
    )


def _max_diff_check(subject, reference, expected, found, tolerance):
    diff = max(
        (float(np.max(np.abs(np.asarray(f, np.float64) - e))) if e.size else 0.0)
        for f, e in zip(keras.tree.flatten(found), keras.tree.flatten(expected))
    )
    return Check(subject, f"max |diff| to {reference} (limit {tolerance:g})", diff, diff <= tolerance)


def _identical_weights_check(subject, model, other):
    weights, others = model.get_weights(), other.get_weights()
    different = abs(len(weights) - len(others)) + sum(
        a.shape != b.shape or a.tobytes() != b.tobytes() for a, b in zip(weights, others)
    )
    return Check(subject, "weight arrays differing from the materialized model", different, not different)
