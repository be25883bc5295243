"""Writes a ticket's deployment files and checks each one against Keras.

Checks, on the inputs given:
- materialized model vs the supermask model: max abs difference <= 1e-4;
- `.keras`: reloaded weights bit-identical to the materialized model's;
- `.slt`: `load_ticket` gives bit-identical weights and predictions;
- float TFLite (LiteRT): max abs difference <= `FLOAT_TOLERANCE`;
- int8 TFLite (LiteRT): top-1 agreement >= `MIN_INT8_AGREEMENT`.

Every TFLite model is also timed on LiteRT (batch 1, median; see
`keras_slt.export.latency`), the float one both with and without sparse
encoding. Which layout is written by default follows those timings on
LiteRT's default CPU path: float sparse (as fast as dense, since LiteRT
densifies the weights once at load, and smaller), int8 dense (XNNPACK
rejects sparse int8 kernels, so a sparse int8 file runs several times
slower on the reference kernels); sparse int8 only on request. The
FULLY_CONNECTED layouts of each TFLite file (dense, densified at load, or
block-sparse 1xK: which kernel LiteRT runs, `keras_slt.export.block_sparse`)
are reported too: tickets searched with 1x4 blocks run LiteRT's float block
kernel, 1x16 blocks its int8 one (`int8_sparse`).
"""

import dataclasses
import importlib.util
import os

import keras
import numpy as np

from keras_slt import files
from keras_slt.export import latency
from keras_slt.export.materialize import materialize
from keras_slt.export.ticket import load_ticket, save_ticket
from keras_slt.supermask_model import SupermaskModel
from keras_slt.validation import check_file_name

FORMATS = ("keras", "slt", "tflite")
# How each written file's name ends, after the base name.
ENDINGS = {"keras": ".keras", "slt": ".slt", "tflite": ".tflite", "tflite_int8": "_int8.tflite",
           "tflite_int8_sparse": "_int8_sparse.tflite"}
FLOAT_TOLERANCE = 1e-4
MIN_INT8_AGREEMENT = 0.99


@dataclasses.dataclass
class Check:
    """One verification: what was compared, the value found, and the verdict.

    A format that was not written has value None and says why in `measure`.
    """

    subject: str
    measure: str
    value: float | None
    passed: bool

    def __str__(self):
        if self.value is None:
            return f"[skipped] {self.subject}: {self.measure}"
        return f"[{'ok' if self.passed else 'FAILED'}] {self.subject}: {self.measure} = {self.value:.3g}"


@dataclasses.dataclass
class Export:
    """What `export_ticket` wrote and found.

    Attributes:
        paths: format -> written file ("keras", "slt", "tflite" (float,
            sparse), "tflite_int8" (int8, dense), "tflite_int8_sparse").
        sizes: bytes of each written file, plus "tflite_dense" (the float
            TFLite without sparse encoding, converted for comparison only);
            a format that could not be written maps to the reason (a str).
        checks: the `Check`s, in the order they ran.
        latencies: a `latency.Latency` for each TFLite key of `sizes`
            (empty when not timed).
        layouts: the `block_sparse.summary` line of each TFLite key.
    """

    paths: dict
    sizes: dict
    checks: list
    latencies: dict = dataclasses.field(default_factory=dict)
    layouts: dict = dataclasses.field(default_factory=dict)

    @property
    def passed(self):
        return all(check.passed for check in self.checks)


def check_formats(formats, int8=False, int8_sparse=False):
    """Raises ValueError unless `formats` are known and int8 outputs have tflite."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}; got {', '.join(formats) or 'none'}")
    for flag, value in (("int8", int8), ("int8_sparse", int8_sparse)):
        if value and "tflite" not in formats:
            raise ValueError(f"{flag} applies to the tflite format; add tflite to the formats")
    if "tflite" in formats and not tflite_available():
        raise ValueError("format tflite needs TensorFlow and LiteRT, which are not installed: "
                         "pip install 'keras-slt[tensorflow]', or write --format=keras,slt")


def tflite_available():
    """Whether TensorFlow (the converter) and LiteRT (the checks) are installed."""
    return all(importlib.util.find_spec(name) for name in ("tensorflow", "ai_edge_litert"))


def export_ticket(model, directory, inputs, formats=FORMATS, int8=False, calibration=None, name="ticket",
                  int8_sparse=False, latency_budget_s=latency.BUDGET_S):
    """Writes `model` in deployment formats and verifies every file.

    Args:
        model: a `SupermaskModel`, or a plain Keras model ("slt" then
            unavailable).
        directory: where to write `<name>.keras`, `<name>.slt`,
            `<name>.tflite` (float, sparse), `<name>_int8.tflite` (int8,
            dense) and `<name>_int8_sparse.tflite`.
        inputs: model inputs to check predictions on (real data if
            possible): an array, or a list of arrays for several inputs.
        formats: any of "keras", "slt", "tflite".
        int8: also write the int8 TFLite model, densely stored, the fastest
            int8 layout on LiteRT's default CPU path (with "tflite").
        calibration: inputs calibrating int8 activation ranges.
        name: base name of the files.
        int8_sparse: also write the int8 model with sparse encoding
            (smaller, slower on LiteRT: see the module docstring).
        latency_budget_s: about how long to time each TFLite model (see
            `keras_slt.export.latency`); None to skip timing.

    Returns:
        An `Export`.

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
    check_formats(formats, int8, int8_sparse)
    check_file_name("name", name)
    supermask = isinstance(model, SupermaskModel)
    if "slt" in formats and not supermask:
        raise ValueError("the .slt format needs a SupermaskModel (random weights from seeds and a mask)")
    os.makedirs(directory, exist_ok=True)
    paths, sizes, checks, contents = {}, {}, [], {}
    plain = materialize(model) if supermask else model
    expected = plain.predict(inputs, batch_size=256, verbose=0)
    if supermask:
        checks.append(_max_diff_check("materialized model", "the supermask model", expected,
                                      model.predict(inputs, batch_size=256, verbose=0), FLOAT_TOLERANCE))

    def path_of(key):
        paths[key] = os.path.join(directory, name + ENDINGS[key])
        return paths[key]

    if "keras" in formats:
        with files.atomic_path(path_of("keras")) as temp:
            plain.save(temp)
        reloaded = keras.saving.load_model(paths["keras"], compile=False)
        checks.append(_identical_weights_check(paths["keras"], plain, reloaded))
    if "slt" in formats:
        save_ticket(model, path_of("slt"))
        loaded = load_ticket(paths["slt"])
        checks.append(_identical_weights_check(paths["slt"], plain, loaded))
        checks.append(_max_diff_check(paths["slt"], "the materialized model", expected,
                                      loaded.predict(inputs, batch_size=256, verbose=0), 0.0))
    unfixed = _unfixed_input(plain)
    if "tflite" in formats and unfixed:
        # Graph models take a whole graph (any node and edge count): LiteRT
        # runs fixed shapes, so the ticket ships as .keras/.slt.
        reason = f"not written: TFLite needs fixed input shapes, input {unfixed}"
        sizes["tflite"] = reason
        checks.append(Check("TFLite", reason, None, True))
    elif "tflite" in formats:
        # Imported here: TFLite conversion needs TensorFlow, which the JAX
        # install lacks (check_formats refuses "tflite" there).
        from keras_slt.export import tflite

        contents["tflite_dense"] = tflite.to_tflite(plain, sparse=False)
        sizes["tflite_dense"] = len(contents["tflite_dense"])
        contents["tflite"] = tflite.to_tflite(plain)
        files.write_bytes(path_of("tflite"), contents["tflite"])
        checks.append(_max_diff_check(paths["tflite"], "Keras", expected,
                                      tflite.predict(contents["tflite"], inputs), FLOAT_TOLERANCE))
        for key, sparse in (("tflite_int8", False), ("tflite_int8_sparse", True)):
            if not (int8_sparse if sparse else int8):
                continue
            contents[key] = tflite.to_tflite(plain, int8=True, representative_data=calibration, sparse=sparse)
            files.write_bytes(path_of(key), contents[key])
            agreement = _top1_agreement(tflite.predict(contents[key], inputs), expected)
            checks.append(Check(paths[key], f"top-1 agreement with Keras (min {MIN_INT8_AGREEMENT})",
                                agreement, agreement >= MIN_INT8_AGREEMENT))
    sizes.update({key: os.path.getsize(path) for key, path in paths.items()})
    latencies, layouts = {}, {}
    if latency_budget_s is not None and contents:
        sample = [x[0] for x in keras.tree.flatten(inputs)]
        latencies = {key: latency.measure(content, sample, latency_budget_s) for key, content in contents.items()}
    if contents:
        from keras_slt.export import block_sparse

        layouts = {key: block_sparse.summary(content) for key, content in contents.items()}
    return Export(paths, sizes, checks, latencies, layouts)


def _unfixed_input(model):
    """'name shape' of the first input with an unknown non-batch size, or None."""
    for tensor in model.inputs:
        if None in tuple(tensor.shape)[1:]:
            return f"{tensor.name} {tuple(tensor.shape)}"
    return None


def _top1_agreement(found, expected):
    """Fraction of samples whose arg-max matches, the worst over the outputs."""
    return min(float(np.mean(np.argmax(f, -1) == np.argmax(e, -1)))
               for f, e in zip(keras.tree.flatten(found), keras.tree.flatten(expected)))


def _max_diff_check(subject, reference, expected, found, tolerance):
    diff = max((float(np.max(np.abs(np.asarray(f, np.float64) - e))) if e.size else 0.0)
               for f, e in zip(keras.tree.flatten(found), keras.tree.flatten(expected)))
    return Check(subject, f"max |diff| to {reference} (limit {tolerance:g})", diff, diff <= tolerance)


def _identical_weights_check(subject, model, other):
    weights, others = model.get_weights(), other.get_weights()
    different = abs(len(weights) - len(others)) + sum(
        a.shape != b.shape or a.tobytes() != b.tobytes() for a, b in zip(weights, others)
    )
    return Check(subject, "weight arrays differing from the materialized model", different, not different)
