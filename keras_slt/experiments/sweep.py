"""Grids of searches: which runs a study makes, and running them.

A sweep is a list of runs; each run is a set of `tools/search.py` flags and
an output folder named after them. Runs whose folder already holds a
`results.json` are finished, so an interrupted sweep resumes by running the
same command again; `changed_runs` finds the finished runs whose flags
changed since, which the sweep tool refuses to reuse. The table of their
results is `keras_slt.experiments.sweep_table`.
"""

import dataclasses
import functools
import hashlib
import itertools
import os
import pathlib
import re
import subprocess
import sys
import time
from concurrent import futures

from keras_slt.experiments import model_names, run_files
from keras_slt.experiments.progress import Progress
from keras_slt.experiments.sweep_table import (
    DENSE_SOURCE,
    FROZEN_SOURCE,
    PRUNED_SOURCE,
    WEIGHT_TRAINED,
    read_results,
    source_of,
)
from keras_slt.models import catalog

# The search tool, started in a new process.
SEARCH_PROGRAM = (sys.executable, "-m", "keras_slt.cli.search")
# A model name used as is in run folder names.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass(frozen=True)
class Run:
    """One search of a sweep: its flags and its output folder name."""

    name: str
    flags: tuple  # ((flag, value), ...) in a fixed order

    def command(self, output_root, base_flags=(), program=SEARCH_PROGRAM):
        """The command line of this run: `program`, then the flags."""
        output_dir = pathlib.Path(output_root) / self.name
        return [*program, *base_flags, *(f"--{key}={value}" for key, value in self.flags), f"--output_dir={output_dir}"]


def _fmt(value):
    return f"{value:g}"


def grid(
    models,
    sparsities,
    freeze_ratios,
    seeds,
    lock_shares=(None,),
    pruned_source=True,
    weight_trained=True,
    widths=(None,),
):
    """The runs of an accuracy-versus-size study.

    For every model, width, sparsity s, freezing ratio f and seed:
    - f = 0: the ticket in the dense source;
    - f > 0: the ticket in the frozen source, p = f*(1-share), r = f*share for
      each lock share (None: the paper's split, share = 1 - s);
    - f > 0 and f <= s, when `pruned_source`: the ticket in a randomly
      pruned source with p = f, r = 0, which has the same number of free
      weights (the same ticket size) as the frozen source with ratio f.
    Plus, when `weight_trained`, one weight-trained network per model, width
    and seed.

    Args:
        models: model names.
        sparsities: ticket sparsities.
        freeze_ratios: freezing ratios f.
        seeds: seeds.
        lock_shares: fractions of the frozen weights that are locked.
        pruned_source: add the randomly pruned source at matching sizes.
        weight_trained: add the weight-trained baseline.
        widths: network widths (see `width_setting`); None is the width the
            search flags give (the model's default unless the search
            flagfile sets one). Run names carry a width as `_w<width>`.

    Returns:
        A list of `Run`, without duplicates, in a stable order.

    Raises:
        ValueError: for a width a model does not take (see `width_setting`).

    Example:

    >>> [r.name for r in grid(["fc"], [0.5], [0.0, 0.5], [0], weight_trained=False)]
    ['fc_s0.5_dense_seed0', 'fc_s0.5_f0.5_frozen_seed0', 'fc_s0.5_f0.5_pruned_seed0']
    >>> [r.name for r in grid(["fc"], [0.5], [0.0], [0], weight_trained=False, widths=[646])]
    ['fc_w646_s0.5_dense_seed0']
    """
    runs = {}
    for model, seed, width in itertools.product(models, seeds, widths):
        tag = model_tag(model)
        architecture = ()
        if width is not None:
            architecture = (width_setting(model, width),)
            tag = f"{tag}_w{_fmt(width)}"
        if weight_trained:
            name = f"{tag}_weights_seed{seed}"
            runs[name] = Run(name, (("model", model), *architecture, ("algo", "dense"), ("seed", seed)))
        for s, f in itertools.product(sparsities, freeze_ratios):
            base = (("model", model), *architecture, ("algo", "ep"), ("sparsity", _fmt(s)))
            if f == 0:
                name = f"{tag}_s{_fmt(s)}_dense_seed{seed}"
                runs[name] = Run(name, base + (("prune_ratio", 0), ("lock_ratio", 0), ("seed", seed)))
                continue
            for share in lock_shares:
                share = 1.0 - s if share is None else share
                p, r = f * (1.0 - share), f * share
                lock_tag = "" if share == 1.0 - s else f"_lock{_fmt(share)}"
                name = f"{tag}_s{_fmt(s)}_f{_fmt(f)}{lock_tag}_frozen_seed{seed}"
                runs[name] = Run(name, base + (("prune_ratio", _fmt(p)), ("lock_ratio", _fmt(r)), ("seed", seed)))
            if pruned_source and f <= s:
                name = f"{tag}_s{_fmt(s)}_f{_fmt(f)}_pruned_seed{seed}"
                runs[name] = Run(name, base + (("prune_ratio", _fmt(f)), ("lock_ratio", 0), ("seed", seed)))
    return list(runs.values())


def width_setting(model, width):
    """The search flag that gives `model` the width `width`, as `(flag, value)`.

    Models with hidden units (fc, gin) take `width`, a whole number of
    units; the conv nets, the ResNets and keras.applications models with an
    `alpha` take `width_factor`, a channel multiplier.

    Raises:
        ValueError: one line, for a model that takes no width, a width that
            is not a whole number of units, or a width factor that rounds a
            layer of a built-in model to zero channels (the model would
            silently keep 1 channel there).

    Example:

    >>> width_setting("fc", 646), width_setting("conv6", 0.354)
    (('width', 646), ('width_factor', '0.354'))
    """
    options = model_names.architecture_options(model)
    if not width > 0:
        raise ValueError(f"width {width:g} of {model}: widths must be positive")
    if "width" in options:
        if width != int(width):
            raise ValueError(f"width {width:g} of {model}: {model} takes a whole number of hidden units")
        return "width", int(width)
    if "width_factor" not in options:
        raise ValueError(f"model {model} takes no width (neither width nor width_factor)")
    if model in catalog.NAMES:
        layer, channels = _narrowest_layer(model)
        if round(channels * width) < 1:
            raise ValueError(
                f"width factor {width:g} of {model}: its layer {layer} would have "
                f"{channels} x {width:g} = {channels * width:g} channels, which rounds to zero"
            )
    return "width_factor", _fmt(width)


@functools.cache
def _narrowest_layer(model):
    """`(name, channels)` of the built-in `model`'s narrowest layer scaled by its width factor."""
    from keras_slt.models import registry  # builds the model with Keras, which the flag checks do not load

    network = registry.get(model, (32, 32, 3), 10, supermask=False)
    # Every conv and dense layer is scaled except the logits, the last layer.
    widths = [
        (getattr(layer, "filters", None) or layer.units, layer.name)
        for layer in network.layers[:-1]
        if hasattr(layer, "filters") or hasattr(layer, "units")
    ]
    channels, name = min(widths, key=lambda width: width[0])  # the first of the narrowest
    return name, channels


def model_tag(model):
    """The part of run folder names that stands for `model`.

    A plain name (fc, keras.applications.MobileNetV2) is itself; a path
    (PATH.keras) or any name with other characters becomes its file name's
    stem in safe characters plus a hash of the whole name, so that no run
    folder lands outside the sweep's folder and two paths never share one.

    Example:

    >>> model_tag("fc"), model_tag("../models/net.keras")
    ('fc', 'net-39820da9')
    """
    if _PLAIN_NAME.fullmatch(model) and not model.endswith(".keras"):
        return model
    stem = os.path.basename(model.rstrip("/\\"))
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem.removesuffix(".keras")).lstrip(".") or "model"
    return f"{stem}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def run_folder(output_root, run):
    """`<output_root>/<run.name>`; ValueError if that folder is not directly inside `output_root`."""
    folder = pathlib.Path(output_root) / run.name
    if folder.resolve().parent != pathlib.Path(output_root).resolve():
        raise ValueError(f"run {run.name!r} would write outside the sweep's folder {output_root}")
    return folder


# `listed` entries: the word of each source.
LISTED_SOURCES = {"dense": DENSE_SOURCE, "frozen": FROZEN_SOURCE, "pruned": PRUNED_SOURCE, "weights": WEIGHT_TRAINED}


def parse_listed(text):
    """One `listed` entry from its text, e.g. `"pruned:f0.5:s0.7"`.

    The forms are `weights`, `dense:sS`, `frozen:fF:sS` and `pruned:fF:sS`
    (the pruned source with p = F), each optionally followed by `:wW`, the
    network's width W (see `width_setting`).

    Returns:
        `(source, sparsity, freeze_ratio, width)`, with `None` for what the
        source does not take and for no width.

    Raises:
        ValueError: One line quoting `text`.

    Example:

    >>> parse_listed("frozen:f0.7:s0.7")
    ('frozen source', 0.7, 0.7, None)
    >>> parse_listed("dense:s0.5:w0.354")
    ('dense source', 0.5, None, 0.354)
    """
    word, *parts = text.strip().split(":")
    takes = {"weights": (), "dense": ("s",), "frozen": ("f", "s"), "pruned": ("f", "s")}.get(word)
    form = "weights, dense:sS, frozen:fF:sS or pruned:fF:sS, each optionally with :wW"
    if parts and parts[-1][:1] == "w" and takes is not None and len(parts) == len(takes) + 1:
        *parts, width_part = parts
    else:
        width_part = None
    if takes is None or [part[:1] for part in parts] != list(takes):
        raise ValueError(f"run {text!r} is not one of {form}")
    try:
        values = {part[0]: float(part[1:]) for part in parts}
        width = None if width_part is None else float(width_part[1:])
    except ValueError:
        raise ValueError(f"run {text!r}: f, s and w must be numbers ({form})") from None
    if not all(0 <= v < 1 for v in values.values()) or values.get("f") == 0:
        raise ValueError(f"run {text!r}: s must be in [0, 1) and f in (0, 1)")
    if width is not None and not width > 0:
        raise ValueError(f"run {text!r}: w must be positive")
    return LISTED_SOURCES[word], values.get("s"), values.get("f"), width


def listed(models, entries, seeds):
    """Chosen runs of `grid`, seed by seed in the order of `entries`.

    For studies that need a few runs of several grids, e.g. a frozen source
    at s = 0.5 beside a pruned source with the same p at s = 0.7, or a
    narrower dense source beside them. The runs and their names are those
    `grid` makes.

    Args:
        models: model names.
        entries: `(source, sparsity, freeze_ratio, width)` tuples (see
            `parse_listed`).
        seeds: seeds; every entry of a seed comes before the next seed.

    Returns:
        A list of `Run`, without duplicates.

    Raises:
        ValueError: For a pruned source with p > s (no such search), or a
            width a model does not take.

    Example:

    >>> [r.name for r in listed(["fc"], [(PRUNED_SOURCE, 0.7, 0.5, None), (WEIGHT_TRAINED, None, None, None)], [0])]
    ['fc_s0.7_f0.5_pruned_seed0', 'fc_weights_seed0']
    """
    runs = {}
    for seed, model, (source, s, f, width) in itertools.product(seeds, models, entries):
        if source == WEIGHT_TRAINED:
            candidates = grid([model], [], [], [seed], widths=[width])
        else:
            candidates = grid([model], [s], [f or 0.0], [seed], weight_trained=False, widths=[width])
        chosen = [run for run in candidates if _source_of_run(run) == source]
        if not chosen:
            raise ValueError(f"no {source} run at s={s:g}, f={f:g}: a pruned source needs f <= s")
        runs.update((run.name, run) for run in chosen)
    return list(runs.values())


def _source_of_run(run):
    flags = dict(run.flags)
    return source_of(flags["algo"], float(flags.get("prune_ratio", 0)), float(flags.get("lock_ratio", 0)))


def is_finished(output_root, run):
    return (run_folder(output_root, run) / run_files.RESULTS).is_file()


def changed_runs(runs, output_root, config_of):
    """The finished runs whose stored flags differ from those they would run with now.

    Args:
        runs: `Run`s of the sweep.
        output_root: the sweep's folder.
        config_of: a function giving a run's `SearchConfig` now.

    Returns:
        [(run, (setting, stored value, new value))], in the order of `runs`.
    """
    changed = []
    for run in runs:
        if is_finished(output_root, run):
            stored = read_results(run_folder(output_root, run) / run_files.RESULTS)["flags"]
            change = config_of(run).change_from(stored)
            if change is not None:
                changed.append((run, change))
    return changed


def subprocess_launcher(base_flags=(), program=SEARCH_PROGRAM):
    """A `launch` for `execute` that runs each search in a new process.

    Each run pays the interpreter's and TensorFlow's start-up; `execute`
    needs it to run several searches at a time. `program` is the search
    command without flags (the search tool by default; tests substitute
    their own). The run's output goes to its `log` file.
    """

    def launch(run, output_root, log):
        return subprocess.call(run.command(output_root, base_flags, program), stdout=log, stderr=subprocess.STDOUT)

    return launch


def execute(runs, output_root, launch, parallel=1, log=print, clock=time.monotonic):
    """Runs every unfinished run, `parallel` at a time, with progress and an estimate of the time left.

    Args:
        runs: `Run`s of the sweep.
        output_root: the sweep's folder.
        launch: `launch(run, output_root, log_file)` runs one search,
            writing its output to the open `log_file`
            (`<output_root>/<name>/log.txt`), and returns its exit status
            (`subprocess_launcher`, or the sweep tool's in-process one).
        parallel: runs at a time (threads calling `launch`).
        log: where progress lines go.
        clock: seconds, for the estimate (tests substitute their own).

    Returns:
        The names of the runs that failed.
    """
    pending = [run for run in runs if not is_finished(output_root, run)]
    log(f"{len(runs) - len(pending)} of {len(runs)} runs already finished; running {len(pending)}")
    progress = Progress(len(pending), parallel, clock)

    def launch_one(run):
        folder = run_folder(output_root, run)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "log.txt", "a") as out:
            code = launch(run, output_root, out)
        log(f"{finished_line(output_root, run, code)} [{progress.finished()}]")
        return run.name, code

    with futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(launch_one, pending))
    return [name for name, code in results if code != 0]


def _error_in_log(path):
    """The last `error: ...` line of a run's log, without `error: `, or None."""
    try:
        lines = pathlib.Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    return next((line[len("error: ") :] for line in reversed(lines) if line.startswith("error: ")), None)


def finished_line(output_root, run, code):
    """One line on a run that ended with exit status `code`: its settings and results, or its log.

    Example:

    >>> run = grid(["fc"], [0.5], [0.0], [0], weight_trained=False)[0]
    >>> finished_line("sweep", run, 1)
    'FAILED (1): fc_s0.5_dense_seed0; its log: sweep/fc_s0.5_dense_seed0/log.txt'
    """
    folder = run_folder(output_root, run)
    if code != 0:
        reason = _error_in_log(folder / "log.txt")
        return f"FAILED ({code}): {run.name}{': ' + reason if reason else ''}; its log: {folder / 'log.txt'}"
    results = read_results(folder / run_files.RESULTS)
    settings = " ".join(f"{key}={value}" for key, value in run.flags)
    took = f", {results['wall_time_s']:.0f} s" if "wall_time_s" in results else ""
    return (
        f"done: {run.name} ({settings}): test accuracy {100 * results['test_accuracy']:.2f}%, "
        f"{results['model_size_bits']:,} bits{took}"
    )
