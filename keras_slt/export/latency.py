"""LiteRT latency of a `.tflite` model as an export reports it: batch 1, median.

The number of timed runs adapts to the model: enough to fill about
`budget_s` seconds, at least `MIN_RUNS` and at most `MAX_RUNS`, after
`WARMUP` untimed ones. Timing uses LiteRT's default CPU path (the XNNPACK
delegate where it accepts the model, see `keras_slt.export.tflite`), one
thread, the path an edge deployment gets without configuration.
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


def measure(content, sample, budget_s=BUDGET_S, num_threads=1):
    """Median batch-1 LiteRT latency of `content` on `sample`.

    Args:
        content: a `.tflite` flatbuffer.
        sample: one input without the batch axis (a list for several inputs).
        budget_s: about how long the timed runs may take together.
        num_threads: LiteRT CPU threads.

    Returns:
        A `Latency`.

    Example:

    >>> import numpy as np
    >>> import keras_slt
    >>> from keras_slt.export.tflite import to_tflite
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> result = measure(to_tflite(model), np.zeros((4, 4, 1), "float32"), budget_s=0.01)
    >>> MIN_RUNS <= result.runs <= MAX_RUNS, str(result)
    (True, '... ms (median of ...)')
    """
    from keras_slt.export import tflite  # LiteRT and TensorFlow: only where TFLite files are timed

    probe = tflite.latency(content, sample, runs=_PROBE_RUNS, warmup=1, num_threads=num_threads)
    runs = int(min(MAX_RUNS, max(MIN_RUNS, budget_s / max(probe, 1e-9))))
    return Latency(tflite.latency(content, sample, runs=runs, warmup=WARMUP, num_threads=num_threads), runs)
