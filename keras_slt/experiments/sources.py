"""Where an export starts: the model file and real inputs to check it on."""

import json
import os
import warnings

import numpy as np

from keras_slt.data import custom, graphs
from keras_slt.data.batching.plan import normalize
from keras_slt.data.catalog import IMAGE_FOLDER, TFDS_PREFIX
from keras_slt.data.loader import arrays_and_spec
from keras_slt.data.readers import image_folder
from keras_slt.experiments import model_source, run_files
from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.ticket.slt_file import load_ticket
from keras_slt.utils import files

RESULTS_REMEDY = "run the search again to rewrite it, or export with --model_path and --dataset"


def search_run(output_dir, allow_unfinished=False):
    """The model file of a search run and the flags it ran with.

    Args:
        output_dir: the run's `--output_dir`, holding `best.keras` (or
            `model.keras`) and `results.json` with "flags".
        allow_unfinished: export a run whose search has not finished (no
            `results.json` yet): its best epoch so far, its flags read from
            `state.json` when there is one.

    Returns:
        (model path, flags dict; empty when no file of the folder holds them).

    Raises:
        ValueError: one line, for a folder without a model file, or without
            `results.json` unless `allow_unfinished`.

    Example:

    >>> import json, tempfile
    >>> run = tempfile.mkdtemp()
    >>> open(os.path.join(run, "best.keras"), "wb").close()
    >>> with open(os.path.join(run, "results.json"), "w") as f:
    ...     json.dump({"flags": {"dataset": "fashion_mnist"}}, f)
    >>> path, flags = search_run(run)
    >>> os.path.basename(path), flags.get("dataset")
    ('best.keras', 'fashion_mnist')
    """
    if not os.path.isdir(output_dir):
        raise ValueError(f"output_dir {output_dir} is not a directory")
    found = [os.path.join(output_dir, f) for f in run_files.MODEL_FILES if os.path.isfile(os.path.join(output_dir, f))]
    if not found:
        raise ValueError(f"output_dir {output_dir} holds none of {', '.join(run_files.MODEL_FILES)}")
    results = os.path.join(output_dir, run_files.RESULTS)
    if os.path.isfile(results):
        return found[0], _flags_in(results, "flags")
    if not allow_unfinished:
        raise ValueError(
            f"output_dir {output_dir} holds no {run_files.RESULTS}: its search has not finished; run the "
            "same search command to finish it, or pass --allow_unfinished to export its best epoch so far"
        )
    state = os.path.join(output_dir, run_files.STATE)
    if not os.path.isfile(state):
        return found[0], {}
    return found[0], _flags_in(state, "metadata", "flags")


def _flags_in(path, *keys):
    """The flags dict stored under `keys` in the JSON file `path`."""
    value = files.read_json(path, RESULTS_REMEDY)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        raise files.damaged(path, "no flags", RESULTS_REMEDY)
    for name in ("dataset", "data_dir", "image_size"):  # the flags an export reads
        if value.get(name) is not None and not isinstance(value[name], str):
            raise files.damaged(path, f"its flag {name} is {json.dumps(value[name])[:40]}, not text", RESULTS_REMEDY)
    return value


def check_dataset_options(dataset, data_dir=None, image_size=None):
    """Raises ValueError (one line) for a dataset option the inputs would not use.

    Args:
        dataset: the dataset the inputs come from, or None (random inputs).
        data_dir: the user's data_dir, or None.
        image_size: the user's image_size text, or None.

    Example:

    >>> check_dataset_options("fashion_mnist", image_size="32,32")
    Traceback (most recent call last):
    ...
    ValueError: image_size applies to tfds:NAME and image_folder datasets, not to fashion_mnist
    """
    if not dataset:
        for name, value in (("data_dir", data_dir), ("image_size", image_size)):
            if value:
                raise ValueError(f"{name} needs dataset: it applies to the dataset's inputs")
    elif image_size and not custom.is_custom(dataset):
        raise ValueError(f"image_size applies to {TFDS_PREFIX}NAME and {IMAGE_FOLDER} datasets, not to {dataset}")


def load_model(path):
    """Loads a `.keras` model or a `.slt` ticket (as its `SupermaskModel`).

    Example:

    >>> import tempfile
    >>> import keras_slt
    >>> from keras_slt.ticket import save_ticket
    >>> path = os.path.join(tempfile.mkdtemp(), "fc.slt")
    >>> save_ticket(keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1), path)
    >>> type(load_model(path)).__name__
    'SupermaskModel'
    >>> load_model(path[:-4] + ".h5")
    Traceback (most recent call last):
    ...
    ValueError: model file .../fc.h5 does not exist
    """
    if not os.path.isfile(path):
        raise ValueError(f"model file {path} does not exist")
    if path.endswith(".slt"):
        return load_ticket(path, supermask=True)
    if path.endswith(".keras"):
        return model_source.load_file(path)
    raise ValueError(f"model file must end in .keras or .slt, got {path}")


def dataset_inputs(
    model, dataset, data_dir=None, num_calibration=200, max_samples=10000, image_size=None, image_formats=None
):
    """Real inputs for calibration and checks, preprocessed like the search.

    Images are scaled to [0, 1] and standardized with the dataset's mean
    and std (as `keras_slt.data.load` does for a search), then
    reshaped to the model's input shape when only the layout differs. A
    graph dataset gives its whole graph, `Graph.inputs()`, as both.

    Args:
        model: the model the inputs are for (one input, or a graph model).
        dataset: a name from `keras_slt.data.NAMES` with numpy arrays,
            "tfds:NAME", "image_folder", or a name from
            `keras_slt.data.graphs.NAMES`.
        data_dir: the dataset's files (see `keras_slt.data.load_arrays`).
        num_calibration: samples taken from the training split.
        max_samples: samples taken from the test split.
        image_size: (height, width) for "tfds:NAME" and "image_folder".
        image_formats: the formats an "image_folder" may hold; None for
            `keras_slt.data.load_arrays`'s default (JPEG and PNG).

    Returns:
        (calibration inputs, test inputs), float32.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (28, 28, 1), 10, width=8, seed=1)
    >>> calibration, x_test = dataset_inputs(model, "fashion_mnist", max_samples=500)
    >>> calibration.shape, x_test.shape, x_test.dtype
    ((200, 28, 28, 1), (500, 28, 28, 1), dtype('float32'))
    """
    if dataset in graphs.NAMES:
        inputs = graphs.load_graph(dataset, data_dir).inputs()
        return inputs, inputs
    shapes = _input_shapes(model)
    if len(shapes) != 1:
        raise ValueError(
            f"dataset {dataset} feeds one input but the model takes {len(shapes)}; "
            "leave out the dataset to check on random inputs"
        )
    (x_train, _, x_test, _), spec = arrays_and_spec(
        dataset, data_dir, image_size, image_formats or image_folder.DEFAULT_FORMATS
    )

    def prepare(images):
        images = np.asarray(normalize(images, spec.mean, spec.std), dtype=np.float32)
        return _fit_shape(images, model)

    return prepare(x_train[:num_calibration]), prepare(x_test[:max_samples])


def random_inputs(model, num_calibration=200, max_samples=1000, seed=0):
    """Standard normal inputs, when no dataset is given (with a warning).

    Returns:
        (calibration inputs, test inputs): arrays for a one-input model,
        else lists with one array per input.
    """
    warnings.warn("no dataset given: checking on random inputs; int8 calibration will be poor", stacklevel=2)
    rng = np.random.default_rng(seed)
    calibration, inputs = (
        [rng.standard_normal((count,) + shape, dtype=np.float32) for shape in _input_shapes(model)]
        for count in (num_calibration, max_samples)
    )
    return (calibration[0], inputs[0]) if len(inputs) == 1 else (calibration, inputs)


def _input_shapes(model):
    network = model.network if isinstance(model, SupermaskModel) else model
    return [tuple(x.shape[1:]) for x in network.inputs]


def _fit_shape(images, model):
    (shape,) = _input_shapes(model)
    if images.shape[1:] == shape:
        return images
    if np.prod(images.shape[1:]) != np.prod(shape):
        raise ValueError(f"dataset images of shape {images.shape[1:]} do not fit the model's input {shape}")
    return images.reshape((len(images),) + shape)
