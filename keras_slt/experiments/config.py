"""`SearchConfig`: every setting of one run, stated once.

Each field carries its help text, its group in the help and its choices in
its metadata; the search tool's absl flags are generated from the fields
(`keras_slt.cli.search_flags`), so a new setting is one new field here.

Nothing this module imports loads Keras: the command-line tools build and
check a `SearchConfig` before Keras is imported (only a
`keras.applications.NAME` model needs Keras to be checked).
"""

import dataclasses
import math
import os

from keras_slt import data as datasets
from keras_slt import models
from keras_slt.data import custom, graphs
from keras_slt.data.catalog import IMAGE_FOLDER, TFDS_PREFIX
from keras_slt.data.readers import image_folder
from keras_slt.experiments import model_names, processes
from keras_slt.experiments.strategies import STRATEGIES
from keras_slt.freezing import densities, pattern
from keras_slt.models.catalog import STEMS
from keras_slt.utils import defaults, seeding
from keras_slt.utils.defaults import BLOCK_SIZES, INITIALIZERS, SCALES, SELECTIONS
from keras_slt.utils.validation import check_one_of, check_positive_int

ALGOS = ("ep", "dense")
SCHEDULES = ("cosine", "step")
SCHEDULE_UNITS = ("batch", "epoch")
OPTIMIZERS = ("sgd", "adam")
ADAM_EPSILON = 1e-8  # PyTorch's default, which the paper's GIN runs use
# Most epochs a run may ask for: its once-per-epoch schedule has a rate per
# epoch and results.json an entry per epoch (the paper runs 100 to 400).
MAX_EPOCHS = 10_000
DATASETS = datasets.NAMES + graphs.NAMES
GRAPH_MODELS = ("gin",)
VALIDATION_FRACTION = 0.2
# Settings that may change when a run is resumed: they do not change its result.
PROCESS_SETTINGS = ("coordinator_address", "num_processes", "process_id", "coordinator_timeout")
# jit is not one: XLA rounds the train step's float arithmetic differently.
RESUMABLE_CHANGES = ("data_dir", "output_dir", "strategy", "overwrite", *PROCESS_SETTINGS)


def _graph(config):
    return config.dataset in graphs.NAMES


def _takes(option):
    """Whether a run's model takes the architecture option `option`."""
    return lambda config: option in model_names.architecture_options(config.model)


def _models_taking(option):
    return ", ".join(name for name in models.NAMES if option in models.architecture_options(name))


# The settings that mean something for some runs only, with the part of the
# run they depend on and where they apply: a setting given for a run it does
# not apply to is refused (`SearchConfig.check_applies`), not ignored. The
# supermask settings (selection to block_size, keep_unsupported) are not
# refused with algo "dense": a sweep shares one flagfile between its tickets
# and their weight-trained baseline (`tools/sweep.py --search_flagfile`).
APPLIES_ONLY_TO = (
    (
        "image_size",
        "dataset",
        lambda c: custom.is_custom(c.dataset),
        f"{TFDS_PREFIX}NAME and {IMAGE_FOLDER} datasets (the others have a fixed image size)",
    ),
    (
        "image_formats",
        "dataset",
        lambda c: c.dataset == IMAGE_FOLDER,
        f"{IMAGE_FOLDER} datasets (the others have files of one known format)",
    ),
    ("augment", "dataset", lambda c: not _graph(c), "image datasets (graphs train without augmentation)"),
    ("batch_size", "dataset", lambda c: not _graph(c), "image datasets (graphs train full batch)"),
    ("width", "model", _takes("width"), f"the models {_models_taking('width')}"),
    (
        "width_factor",
        "model",
        _takes("width_factor"),
        f"the models {_models_taking('width_factor')} and keras.applications with alpha (MobileNets)",
    ),
    ("stem", "model", _takes("stem"), f"the models {_models_taking('stem')}"),
    (
        "keep_unsupported",
        "model",
        lambda c: c.model not in models.NAMES,
        "PATH.keras and keras.applications models (built-in models convert entirely)",
    ),
    ("momentum", "optimizer", lambda c: c.optimizer == "sgd", "optimizer sgd (adam has no momentum setting)"),
    (
        "strategy",
        "dataset",
        lambda c: c.strategy != "data_parallel" or not _graph(c),
        "image datasets when data_parallel (graphs train full batch)",
    ),
    *(
        (name, "strategy", lambda c: c.strategy == "data_parallel", "strategy data_parallel")
        for name in PROCESS_SETTINGS
    ),
)


class ConfigError(ValueError):
    """A run configuration the user has to fix; the message names the setting."""


def _choices(names):
    return f" One of {', '.join(map(str, names))}."


def setting(default, help, choices=None):
    """A `SearchConfig` field with its help text and, if it has a fixed few, its choices.

    Choices that are strings make an enum flag (absl lists them in the
    help); other choices are named in the help text.
    """
    metadata = {"help": help}
    if choices is not None and all(isinstance(choice, str) for choice in choices):
        metadata["choices"] = tuple(choices)
    elif choices is not None:
        metadata["help"] += _choices(choices)
    return dataclasses.field(default=default, metadata=metadata)


# The search tool's --help lists the settings in these groups (a setting in
# none of them comes last, under "Other").
HELP_GROUPS = (
    ("Model", ("model", "width", "width_factor", "stem", "keep_unsupported")),
    ("Data", ("dataset", "data_dir", "image_size", "image_formats", "augment")),
    # The seed is listed under "Run", beside the other settings of one run.
    ("Ticket", ("algo", *(name for name in defaults.SUPERMASK_OPTIONS if name != "seed"))),
    (
        "Training",
        ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "schedule_unit", "seed"),
    ),
    ("Run", ("output_dir", "overwrite", "jit", "mixed_precision", "strategy")),
    ("Processes (data_parallel on several machines)", PROCESS_SETTINGS),
)


@dataclasses.dataclass
class SearchConfig:
    """The settings of one run; `tools/search.py` has one flag per field.

    Training defaults follow the paper's reference recipe (Conv6 on
    CIFAR-10: SGD, lr 0.1, momentum 0.9, weight decay 1e-4, cosine, 100
    epochs, batch 128); the official code's complete recipes (ERK,
    Kaiming-uniform weights, a schedule stepped per epoch) are the flagfiles
    in configs/, compared with the official code in docs/FIDELITY.md.
    The supermask settings (selection to block_size) are ignored with algo
    "dense"; other settings given for a run they do not apply to are
    refused (`APPLIES_ONLY_TO`). Each field's help is in its metadata
    (the search tool's `--help` shows it).

    Example:

    >>> config = SearchConfig(model="fc", dataset="fashion_mnist", epochs=3,
    ...                       output_dir="runs/fc")
    >>> config.validate()  # the resolved (prune_ratio, lock_ratio)
    (0.0, 0.0)
    """

    # Names, not choices: a model or dataset may also be named by the forms the help describes.
    model: str = setting(
        "conv6",
        "Network: a built-in one, PATH.keras (architecture only, fresh random "
        "weights) or keras.applications.NAME (weights=None)." + _choices(models.NAMES),
    )
    dataset: str = setting(
        "cifar10",
        "Dataset; also tfds:NAME (TFDS image classification) or image_folder "
        "(--data_dir with one subfolder per class); graphs train full batch." + _choices(DATASETS),
    )
    data_dir: str | None = setting(
        None,
        "Folder of the dataset files (default: the data module's); the TFDS "
        "data dir for tfds:NAME; the image folder for image_folder.",
    )
    image_size: str | None = setting(None, "H,W: resize tfds:NAME and image_folder images (default: their own size).")
    image_formats: str = setting(
        ",".join(image_folder.DEFAULT_FORMATS).lower(),
        "image_folder: the formats its files may have, known by their first bytes; "
        "others are refused unopened; a comma list of "
        f"{', '.join(name.lower() for name in image_folder.FORMATS)}.",
    )
    augment: str = setting(
        "auto",
        "Training augmentation; auto is the dataset's usual one (CIFAR: crop_flip, "
        "ImageNet: resized crop + flip, others: none).",
        datasets.AUGMENTATIONS,
    )
    algo: str = setting("ep", "ep: ticket search (Edge-Popup); dense: weight training.", ALGOS)
    selection: str = setting(defaults.SELECTION, "Mask selection.", SELECTIONS)
    sparsity: float = setting(defaults.SPARSITY, "Target ticket sparsity s, in [p, 1 - r].")
    freeze_ratio: float | None = setting(None, "Freezing ratio f: p = f*s pruned, r = f*(1-s) locked.")
    prune_ratio: float | None = setting(None, "Fraction p permanently pruned (instead of --freeze_ratio).")
    lock_ratio: float | None = setting(None, "Fraction r permanently locked (instead of --freeze_ratio).")
    distribution: str = setting(defaults.DISTRIBUTION, "Layer-wise spread of p and r.", densities.METHODS)
    weight_init: str = setting(defaults.WEIGHT_INIT, "Random weights.", INITIALIZERS)
    score_init: str = setting(defaults.SCORE_INIT, "Initial scores.", INITIALIZERS)
    scale: str = setting(defaults.SCALE, "Kernel scaling.", SCALES)
    block_size: int = setting(
        defaults.BLOCK_SIZE,
        "Dense masks in blocks of this many consecutive inputs of one output (1: unblocked).",
        BLOCK_SIZES,
    )
    keep_unsupported: bool = setting(
        False,
        "PATH.keras and keras.applications models: keep layers "
        "supermaskify cannot convert as ordinary trained layers (a warning), "
        "instead of an error naming them.",
    )
    width: int | None = setting(None, "fc: hidden units (default 1024); gin: hidden width (default 386).")
    width_factor: float | None = setting(None, "conv and ResNet models: channel multiplier (default 1).")
    stem: str | None = setting(None, "resnet18/34: stem; default by input size.", STEMS)
    epochs: int = setting(100, "Training epochs.")
    batch_size: int = setting(128, "Global batch size.")
    optimizer: str = setting(
        "sgd",
        "sgd: momentum, coupled weight decay; adam: decoupled weight decay (PyTorch's AdamW), epsilon 1e-8.",
        OPTIMIZERS,
    )
    lr: float = setting(0.1, "Initial learning rate.")
    momentum: float = setting(0.9, "SGD momentum.")
    weight_decay: float = setting(1e-4, "Weight decay: coupled (L2, PyTorch-style) with sgd, decoupled with adam.")
    schedule: str = setting("cosine", "Learning-rate schedule.", SCHEDULES)
    schedule_unit: str = setting(
        "batch",
        "How often the schedule steps: every batch, or every epoch as the "
        "official code does (PyTorch's CosineAnnealingLR, MultiStepLR).",
        SCHEDULE_UNITS,
    )
    seed: int = setting(defaults.SEED, "Model seed; also fixes the split, data order and augmentation.")
    output_dir: str | None = setting(None, "Folder for checkpoints, logs and results.json (required).")
    overwrite: bool = setting(
        False,
        "Delete the run files output_dir holds (results.json, best.keras, "
        "state.json, ckpt-*.weights.h5, logs/history.csv, TensorBoard logs) and start "
        "the run over; without it a folder holding another run's files is refused, and "
        "one holding this run's state.json resumes it.",
    )
    jit: bool = setting(
        False,
        "Compile the train step with XLA (it rounds differently, so a run resumes "
        "only with the setting it started with).",
    )
    mixed_precision: bool = setting(False, "Train under mixed_float16 (scores and random weights stay float32).")
    strategy: str = setting(
        "default",
        "Where the steps run: default, one device; mirrored, all local devices, "
        "and multi_worker, TF_CONFIG's machines (TensorFlow); data_parallel, every "
        "device of one or several processes (JAX).",
        STRATEGIES,
    )
    coordinator_address: str | None = setting(
        None,
        "data_parallel over several processes: host:port of process 0, where the others meet "
        "(default: $KERAS_DISTRIBUTION_JOB_ADDRESSES).",
    )
    num_processes: int | None = setting(
        None,
        "data_parallel: the number of processes, one per machine (default: $KERAS_DISTRIBUTION_NUM_PROCESSES, else 1).",
    )
    process_id: int | None = setting(
        None,
        "data_parallel: this process's id, 0 to num_processes - 1; 0 writes output_dir (default: "
        "$KERAS_DISTRIBUTION_PROCESS_ID, else 0).",
    )
    coordinator_timeout: int = setting(
        processes.DEFAULT_TIMEOUT_S,
        "data_parallel over several processes: seconds to wait for the coordinator and the others.",
    )

    def validate(self, given=()):
        """Raises `ConfigError` naming the first invalid setting.

        Args:
            given: names of the settings the user gave (a command line's
                flags, default values included); settings that differ from
                their default count as given anyway (see `check_applies`).

        Returns:
            The resolved global (prune_ratio, lock_ratio); (0, 0) for "dense".
        """
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{field.name} must be a finite number, got {value}")
        try:
            model_names.check(self.model)
            custom.parse_image_size(self.image_size)
            image_folder.check_formats(self.image_formats)
            if custom.is_custom(self.dataset):
                custom.check(self.dataset, self.data_dir)
            else:
                check_one_of("dataset", self.dataset, DATASETS, forms=custom.FORMS)
            for name, choices in (
                ("augment", datasets.AUGMENTATIONS),
                ("algo", ALGOS),
                ("optimizer", OPTIMIZERS),
                ("selection", SELECTIONS),
                ("distribution", densities.METHODS),
                ("weight_init", INITIALIZERS),
                ("score_init", INITIALIZERS),
                ("scale", SCALES),
                ("schedule", SCHEDULES),
                ("schedule_unit", SCHEDULE_UNITS),
                ("strategy", STRATEGIES),
                ("block_size", BLOCK_SIZES),
            ):
                check_one_of(name, getattr(self, name), choices)
            if self.stem is not None:
                check_one_of("stem", self.stem, STEMS)
            check_positive_int("epochs", self.epochs)
            if self.epochs > MAX_EPOCHS:
                raise ValueError(f"epochs must be at most {MAX_EPOCHS}, got {self.epochs}")
            check_positive_int("batch_size", self.batch_size)
            check_positive_int("coordinator_timeout", self.coordinator_timeout)
            seeding.check_seed(self.seed)
            if self.strategy == "data_parallel":
                self.processes()
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not self.output_dir:
            raise ConfigError("output_dir is required")
        if (self.model in GRAPH_MODELS) != (self.dataset in graphs.NAMES):
            raise ConfigError(
                f"model {self.model} does not fit dataset {self.dataset}: graph models "
                f"({', '.join(GRAPH_MODELS)}) need a graph dataset ({', '.join(graphs.NAMES)}) and back"
            )
        self.check_applies(given)
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise ConfigError(f"data_dir {self.data_dir} is not a directory")
        if self.algo == "dense":
            return 0.0, 0.0
        try:
            return pattern.resolve_ratios(self.sparsity, self.freeze_ratio, self.prune_ratio, self.lock_ratio)
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def processes(self):
        """The `processes.Processes` of a data_parallel run, from its settings or the environment.

        Raises:
            ValueError: a missing or malformed setting, or a process id out
                of range.
        """
        return processes.processes(self.coordinator_address, self.num_processes, self.process_id)

    def check_applies(self, given=()):
        """Raises `ConfigError` for a given setting that does not apply to this run.

        A setting counts as given when it is in `given` or differs from its
        default; the rules are `APPLIES_ONLY_TO`.

        Example:

        >>> SearchConfig(model="fc", dataset="fashion_mnist", image_size="32,32",
        ...              output_dir="runs/fc").check_applies()
        Traceback (most recent call last):
        ...
        keras_slt.experiments.config.ConfigError: image_size=32,32 does not apply to dataset fashion_mnist: ...
        """
        given = set(given) | {
            field.name for field in dataclasses.fields(self) if getattr(self, field.name) != field.default
        }
        for name, part, applies, where in APPLIES_ONLY_TO:
            if name in given and not applies(self):
                raise ConfigError(
                    f"{name}={getattr(self, name)} does not apply to {part} "
                    f"{getattr(self, part)}: it applies to {where}; leave it out"
                )

    def change_from(self, stored):
        """The first setting that differs from a stored run's flags, or None.

        Settings in `RESUMABLE_CHANGES` do not count; a setting added since
        the run was stored counts as its default.

        Args:
            stored: the "flags" dict of the run's state.json or results.json.

        Returns:
            (name, stored value, this config's value), or None.
        """
        for field in dataclasses.fields(self):
            name, value = field.name, getattr(self, field.name)
            before = stored.get(name, field.default)
            if name not in RESUMABLE_CHANGES and before != value:
                return name, before, value
        return None
