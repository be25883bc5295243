"""Code the tests share: running the tools, reading their output, reference computations."""

import os
import re

import keras
import numpy as np

# The repository's root.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GLOBAL_ERROR = "under global selection and was called without its model's threshold"


def section(text, title):
    """The lines of a `## title` section of a Markdown text."""
    lines = text.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


# Run a script with TensorFlow, TFDS and LiteRT unimportable (None in
# sys.modules makes `import` raise ImportError and find_spec return None).
WITHOUT_TENSORFLOW = (
    "import runpy, sys; "
    "sys.modules.update(dict.fromkeys(['tensorflow', 'tensorflow_datasets', 'ai_edge_litert'])); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def kernel_weights(layer):
    """A supermask layer's random kernel W as NumPy."""
    return keras.ops.convert_to_numpy(layer.kernel_weights())


def full_scores(layer):
    """A layer's scores at their mask positions (0 at frozen ones), NumPy.

    The NumPy reference selection reads scores and freeze pattern of full
    shape; it never reads a frozen position's score.
    """
    freeze = layer.freeze_pattern()
    scores = np.zeros(freeze.shape, "float32")
    scores[freeze == 0] = keras.ops.convert_to_numpy(layer.scores)
    return scores


def numpy(tensor):
    """A backend tensor as NumPy."""
    return keras.ops.convert_to_numpy(tensor)


def reference_masks(model):
    """The NumPy reference selection of a `SupermaskModel`'s current scores."""
    from keras_slt import selection

    layers = model.supermask_layers
    select = selection.global_masks if model.selection == "global" else selection.layerwise_masks
    return select([full_scores(l) for l in layers], [l.freeze_pattern() for l in layers], model.sparsity)


def free_part(layer, array):
    """The entries of a mask-shaped array at the layer's free positions."""
    return np.asarray(array)[layer.freeze_pattern() == 0]


def gradient(function, variable):
    """d function() / d variable, on the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = function()
        return np.asarray(tape.gradient(value, variable.value))
    if backend == "jax":
        import jax

        def wrapped(v):
            with keras.StatelessScope(state_mapping=[(variable, v)]):
                return function()

        return np.asarray(jax.grad(wrapped)(variable.value))
    raise NotImplementedError(backend)


def assert_one_line(error, *fragments):
    """`error`'s message is one line and holds every fragment (str() of each)."""
    message = str(error)
    assert "\n" not in message
    for fragment in fragments:
        assert str(fragment) in message, (fragment, message)


def run_tool(script, *args, timeout=600, env=None):
    """Runs `python <script> <args>` from the repository root on this checkout.

    `env` changes the inherited environment; a None value removes a variable.
    Returns the CompletedProcess (text output captured).
    """
    import subprocess
    import sys

    changes = dict(env or {}, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env = {key: value for key, value in dict(os.environ, **changes).items() if value is not None}
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tool_lines(stderr):
    """stderr without TensorFlow's import-time C++ log lines (glog format)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip()
        and not re.match(r"[IWEF]\d{4} \d\d:\d\d:\d\d", line)
        and not line.startswith("WARNING: All log messages before absl::InitializeLog()")
    ]


def one_error_line(result, status):
    """The single `error: ...` line of a tool that exited with `status`."""
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = tool_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def collect(batches, steps=None):
    """Batches of (x, y) concatenated as NumPy: the first `steps`, or all.

    `batches` is a split of `keras_slt.data.load`: a `tf.data.Dataset` or, on
    the NumPy pipeline, a `keras.utils.PyDataset` (give `steps` for the
    endless training stream).
    """
    if hasattr(batches, "as_numpy_iterator"):
        source = (batches if steps is None else batches.take(steps)).as_numpy_iterator()
    else:
        source = (batches[k] for k in range(len(batches) if steps is None else steps))
    xs, ys = zip(*source)
    return np.concatenate(xs), np.concatenate(ys)


def tiny_config(data_dir, output_dir, **overrides):
    """A `SearchConfig` of a 2-epoch FC-16 search on `data_dir`."""
    from keras_slt.experiments import runner

    settings = dict(
        model="fc",
        dataset="fashion_mnist",
        data_dir=data_dir,
        width=16,
        epochs=2,
        batch_size=32,
        output_dir=str(output_dir),
        sparsity=0.5,
    )
    settings.update(overrides)
    return runner.SearchConfig(**settings)


class StopAfterEpoch(keras.callbacks.Callback):
    """Stops a run after its `epochs`-th epoch, as a kill would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def checkpoint_floats(path):
    """Every float array of a weights file, concatenated (optimizer state included)."""
    import h5py

    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, item: (
                arrays.append(np.ravel(item[()])) if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" else None
            )
        )
    return np.concatenate(arrays).tolist()
