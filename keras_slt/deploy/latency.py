"""Latency of an exported model as an export reports it: batch 1, median.

The number of timed runs adapts to the model: enough to fill about
`budget_s` seconds, at least `MIN_RUNS` and at most `MAX_RUNS`, after
`WARMUP` untimed ones. TFLite files run on LiteRT's default CPU path (the
XNNPACK delegate where it accepts the model, see `keras_slt.deploy.tflite`),
ONNX files on ONNX Runtime's CPU provider (`keras_slt.deploy.onnx`), one
thread: the path an edge deployment gets without configuration.
"""

import dataclasses

MIN_RUNS = 20
MAX_RUNS = 1000
WARMUP = 5
BUDGET_S = 1.0
_PROBE_RUNS = 3


@dataclasses.dataclass(frozen=True)
class Latency:
    """A median latency and the number of timed runs behind it."""

    seconds: float
    runs: int

    def __str__(self):
        return f"{self.seconds * 1e3:.3f} ms (median of {self.runs})"


def measure(content, sample, budget_s=BUDGET_S, num_threads=1, runtime=None):
    """Median batch-1 latency of `content` on `sample`.

    Args:
        content: a `.tflite` flatbuffer, or an ONNX model with `runtime`.
        sample: one input without the batch axis (a list for several inputs).
        budget_s: about how long the timed runs may take together.
        num_threads: CPU threads.
        runtime: the module that runs `content`, with a `latency(content,
            sample, runs, warmup, num_threads)` function:
            `keras_slt.deploy.tflite` (LiteRT, the default) or
            `keras_slt.deploy.onnx` (ONNX Runtime).

    Returns:
        A `Latency`.

    Example:

    >>> import numpy as np
    >>> import keras_slt
    >>> from keras_slt.deploy.tflite import to_tflite
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> result = measure(to_tflite(model), np.zeros((4, 4, 1), "float32"), budget_s=0.01)
    >>> MIN_RUNS <= result.runs <= MAX_RUNS, str(result)
    (True, '... ms (median of ...)')
    """
    if runtime is None:
        from keras_slt.deploy import tflite as runtime  # LiteRT and TensorFlow: only where TFLite files are timed

    probe = runtime.latency(content, sample, runs=_PROBE_RUNS, warmup=1, num_threads=num_threads)
    runs = int(min(MAX_RUNS, max(MIN_RUNS, budget_s / max(probe, 1e-9))))
    return Latency(runtime.latency(content, sample, runs=runs, warmup=WARMUP, num_threads=num_threads), runs)
