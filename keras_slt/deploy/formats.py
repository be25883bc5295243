"""The formats an export writes, and whether this install can write them."""

import importlib.util

FORMATS = ("keras", "slt", "tflite", "onnx")
DEFAULT_FORMATS = ("keras", "slt", "tflite")


def check_formats(formats, int8=False, int8_sparse=False, weight_int8=False, weight_int4=False):
    """Raises ValueError unless `formats` are known and installed, and quantized outputs have tflite."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}; got {', '.join(formats) or 'none'}")
    for flag, value in (
        ("int8", int8),
        ("int8_sparse", int8_sparse),
        ("weight_int8", weight_int8),
        ("weight_int4", weight_int4),
    ):
        if value and "tflite" not in formats:
            raise ValueError(f"{flag} applies to the tflite format; add tflite to the formats")
    if "tflite" in formats and not tflite_available():
        raise ValueError(
            "format tflite needs TensorFlow and LiteRT, which are not installed: "
            "pip install 'keras-slt[tensorflow]', or write --format=keras,slt"
        )
    if (weight_int8 or weight_int4) and importlib.util.find_spec("ai_edge_quantizer") is None:
        raise ValueError(
            "weight_int8 and weight_int4 need ai-edge-quantizer, which is not installed: "
            "pip install 'keras-slt[tensorflow]'"
        )
    if "onnx" in formats:
        from keras_slt.deploy import onnx

        missing = onnx.missing_packages()
        if missing:
            raise ValueError(f"format onnx needs {', '.join(missing)}, not installed: pip install 'keras-slt[onnx]'")


def tflite_available():
    """Whether TensorFlow (the converter) and LiteRT (the checks) are installed."""
    return all(importlib.util.find_spec(name) for name in ("tensorflow", "ai_edge_litert"))
