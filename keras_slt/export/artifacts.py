"""Writes a ticket's deployment files and checks each one against Keras.

Checks, on the inputs given:
- materialized model vs the supermask model: max abs difference <= 1e-4;
- `.keras`: reloaded weights bit-identical to the materialized model's;
- `.slt`: `load_ticket` gives bit-identical weights and predictions;
- float TFLite (LiteRT): max abs difference <= `FLOAT_TOLERANCE`;
- int8 TFLite (LiteRT): top-1 agreement >= `MIN_INT8_AGREEMENT`.
"""

import dataclasses
import os

import keras
import numpy as np

from keras_slt import files
from keras_slt.export import tflite
from keras_slt.export.materialize import materialize
from keras_slt.export.ticket import load_ticket, save_ticket
from keras_slt.model import SupermaskModel

FORMATS = ("keras", "slt", "tflite")
# How each written file's name ends, after the base name.
ENDINGS = {"keras": ".keras", "slt": ".slt", "tflite": ".tflite", "tflite_int8": "_int8.tflite"}
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
        paths: format -> written file ("keras", "slt", "tflite",
            "tflite_int8").
        sizes: bytes of each written file, plus "tflite_dense" (the float
            TFLite without sparse encoding, converted for comparison only);
            a format that could not be written maps to the reason (a str).
        checks: the `Check`s, in the order they ran.
    """

    paths: dict
    sizes: dict
    checks: list

    @property
    def passed(self):
        return all(check.passed for check in self.checks)


def check_formats(formats, int8=False):
    """Raises ValueError unless `formats` are known and `int8` has tflite."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}; got {', '.join(formats) or 'none'}")
    if int8 and "tflite" not in formats:
        raise ValueError("int8 applies to the tflite format; add tflite to the formats")


def export_ticket(model, directory, inputs, formats=FORMATS, int8=False, calibration=None, name="ticket"):
    """Writes `model` in deployment formats and verifies every file.

    Args:
        model: a `SupermaskModel`, or a plain Keras model ("slt" then
            unavailable).
        directory: where to write `<name>.keras`, `<name>.slt`,
            `<name>.tflite` (float, sparse) and `<name>_int8.tflite`.
        inputs: model inputs to check predictions on (real data if possible).
        formats: any of "keras", "slt", "tflite".
        int8: also write the int8 sparse TFLite model (with "tflite").
        calibration: inputs calibrating int8 activation ranges.
        name: base name of the files.

    Returns:
        An `Export`.

    Example:

    >>> result = export_ticket(model, "out", x_test[:1000], int8=True,
    ...                        calibration=x_train[:200])
    >>> result.passed, result.sizes["slt"]
    """
    check_formats(formats, int8)
    supermask = isinstance(model, SupermaskModel)
    if "slt" in formats and not supermask:
        raise ValueError("the .slt format needs a SupermaskModel (random weights from seeds and a mask)")
    os.makedirs(directory, exist_ok=True)
    paths, sizes, checks = {}, {}, []
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
    if "tflite" in formats and len(plain.inputs) != 1:
        # Graph models take (features, edges); the TFLite path converts and
        # checks one-input models only, so the ticket ships as .keras/.slt.
        reason = f"not written: TFLite export takes one-input models, this one has {len(plain.inputs)}"
        sizes["tflite"] = reason
        checks.append(Check("TFLite", reason, None, True))
    elif "tflite" in formats:
        sizes["tflite_dense"] = len(tflite.to_tflite(plain, sparse=False))
        content = tflite.to_tflite(plain)
        files.write_bytes(path_of("tflite"), content)
        checks.append(_max_diff_check(paths["tflite"], "Keras", expected, tflite.predict(content, inputs),
                                      FLOAT_TOLERANCE))
        if int8:
            content = tflite.to_tflite(plain, int8=True, representative_data=calibration)
            files.write_bytes(path_of("tflite_int8"), content)
            agreement = float(np.mean(tflite.predict(content, inputs).argmax(-1) == expected.argmax(-1)))
            checks.append(Check(paths["tflite_int8"], f"top-1 agreement with Keras (min {MIN_INT8_AGREEMENT})",
                                agreement, agreement >= MIN_INT8_AGREEMENT))
    sizes.update({key: os.path.getsize(path) for key, path in paths.items()})
    return Export(paths, sizes, checks)


def _max_diff_check(subject, reference, expected, found, tolerance):
    diff = float(np.max(np.abs(np.asarray(found, np.float64) - expected))) if expected.size else 0.0
    return Check(subject, f"max |diff| to {reference} (limit {tolerance:g})", diff, diff <= tolerance)


def _identical_weights_check(subject, model, other):
    weights, others = model.get_weights(), other.get_weights()
    different = abs(len(weights) - len(others)) + sum(
        a.shape != b.shape or a.tobytes() != b.tobytes() for a, b in zip(weights, others)
    )
    return Check(subject, "weight arrays differing from the materialized model", different, not different)
