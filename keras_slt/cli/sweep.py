r"""Runs a grid of ticket searches and collects their results into one CSV.

Example:

    python tools/sweep.py --output_dir=runs/fmnist --models=fc \
        --sparsities=0.5,0.9 --freeze_ratios=0,0.5 --seeds=0,1,2 \
        --search_flagfile=configs/fashion_mnist_fc.flags

--widths adds the network's width as an axis (hidden units for fc, the
width factor for the conv nets): a narrower dense source whose ticket has
the size of a frozen source's is one more width; --runs entries take a
width as :wW (dense:s0.5:w0.354). --epochs, --batch_size and --data_dir
go to every run, over the search flagfile's (a short trial of a long
study: --epochs=1).

Every run's flags are checked before the first run starts. With
--parallel=1 the searches run one after another in this process, paying
the interpreter's and TensorFlow's start-up once; with more (or
--noin_process), each runs in a process of its own. Runs already
finished in --output_dir are skipped, so running the same command again
resumes an interrupted sweep. A finished run whose search flags changed
since (another flagfile content, say) is
refused, never reported with its old numbers; --rerun_changed runs it
again instead. The sweep holds --output_dir's lock while it runs. Prints
one line per finished run (its settings, test accuracy, size and time, how
many runs are done and about how long the others will take; each run's own
output is in its folder's log.txt), then where the table is and the
command that draws its figures.
"""

import os
import shutil

from absl import flags

from keras_slt.cli import common, search_flags
from keras_slt.experiments import folder_lock, sweep, sweep_table
from keras_slt.utils import seeding
from keras_slt.utils.validation import check_positive_int

# Search flags the sweep passes to every run, after the search flagfile.
RUN_FLAGS = ("epochs", "batch_size", "data_dir")

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "Folder holding one sub-folder per run.")
flags.DEFINE_list("models", ["fc"], "Model names.")
flags.DEFINE_list("sparsities", ["0.3", "0.5", "0.7", "0.9"], "Ticket sparsities.")
flags.DEFINE_list("freeze_ratios", ["0", "0.3", "0.5", "0.7", "0.9"], "Freezing ratios f (0: dense source).")
flags.DEFINE_list("lock_shares", [], "Fractions of the frozen weights locked; empty: the paper's split r = f*(1-s).")
flags.DEFINE_list("seeds", ["0"], "Seeds.")
flags.DEFINE_list(
    "widths",
    [],
    "Network widths: hidden units for fc and gin, the width factor for the conv nets, "
    "ResNets and MobileNets; empty: the search flags' width.",
)
flags.DEFINE_bool("pruned_source", True, "Add the randomly pruned source at matching ticket sizes.")
flags.DEFINE_bool("weight_trained", True, "Add the weight-trained baseline.")
flags.DEFINE_list(
    "runs",
    [],
    "Instead of the grid, these runs of it, per seed in this order: weights, dense:sS, "
    "frozen:fF:sS, pruned:fF:sS, each optionally with a width :wW (e.g. frozen:f0.5:s0.5,pruned:f0.5:s0.7,"
    "dense:s0.5:w0.354).",
)
flags.DEFINE_string("search_flagfile", None, "Flagfile with the search flags shared by every run.")
flags.DEFINE_integer(
    "parallel", max(1, (os.cpu_count() or 1) // 8), "Runs at a time; above 1, each in a process of its own."
)
flags.DEFINE_bool(
    "in_process",
    True,
    "With --parallel=1, run the searches in this process, one start-up for "
    "all; false: each in a new process (isolated, each paying the start-up).",
)
flags.DEFINE_string("csv", None, "Where to write the table; default <output_dir>/results.csv.")
flags.DEFINE_bool("dry_run", False, "Print the runs and exit.")
flags.DEFINE_bool(
    "rerun_changed",
    False,
    "Delete and run again the finished runs whose search flags changed since they ran (default: refuse them).",
)
search_flags.define_flags(FLAGS, names=RUN_FLAGS, default=None)
flags.mark_flag_as_required("output_dir")


def _floats(name, values, low, high):
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"--{name} must be numbers, got {','.join(values)}") from None
    if not numbers or not all(low <= v <= high for v in numbers):
        raise ValueError(f"--{name} values must be in [{low}, {high}], got {','.join(values)}")
    return numbers


def main(argv):
    del argv
    sparsities = _floats("sparsities", FLAGS.sparsities, 0.0, 0.999999)
    freeze_ratios = _floats("freeze_ratios", FLAGS.freeze_ratios, 0.0, 1.0)
    lock_shares = _floats("lock_shares", FLAGS.lock_shares, 0.0, 1.0) if FLAGS.lock_shares else [None]
    widths = _floats("widths", FLAGS.widths, 0.0, float("inf")) if FLAGS.widths else [None]
    try:
        seeds = [seeding.check_seed(int(s)) for s in FLAGS.seeds]
    except ValueError:
        raise ValueError(f"--seeds must be integers in [0, 2**64), got {','.join(FLAGS.seeds)}") from None
    if not (FLAGS.models and seeds):
        raise ValueError("--models and --seeds need at least one value each")
    check_positive_int("--parallel", FLAGS.parallel)
    if FLAGS.search_flagfile and not os.path.isfile(FLAGS.search_flagfile):
        raise ValueError(f"--search_flagfile: no such file {FLAGS.search_flagfile}")
    if FLAGS.runs:
        if FLAGS.widths:
            raise ValueError("--widths applies to the grid; give the widths of --runs as :wW")
        try:
            entries = [sweep.parse_listed(text) for text in FLAGS.runs]
            runs = sweep.listed(FLAGS.models, entries, seeds)
        except ValueError as error:
            raise ValueError(f"--runs: {error}") from None
    else:
        try:
            runs = sweep.grid(
                FLAGS.models,
                sparsities,
                freeze_ratios,
                seeds,
                lock_shares,
                FLAGS.pruned_source,
                FLAGS.weight_trained,
                widths,
            )
        except ValueError as error:
            raise ValueError(f"--widths: {error}") from None
    base_flags = [f"--flagfile={FLAGS.search_flagfile}"] if FLAGS.search_flagfile else []
    base_flags += [f"--{name}={FLAGS[name].value}" for name in RUN_FLAGS if FLAGS[name].present]
    for run in runs:  # a bad setting is found now, not hours into the sweep
        try:
            run_config, given = search_flags.parse_command(run.command(FLAGS.output_dir, base_flags, program=()))
            with common.arguments_as_flags(search_flags.SETTINGS):
                run_config.validate(given)
        except ValueError as error:
            raise ValueError(f"run {run.name}: {error}") from None
    if FLAGS.dry_run:
        for run in runs:
            print(" ".join(run.command(FLAGS.output_dir, base_flags)))
        return 0
    with folder_lock.hold(FLAGS.output_dir):
        return _sweep(runs, base_flags)


def _sweep(runs, base_flags):
    """Runs and collects the sweep, holding --output_dir's lock."""
    root = FLAGS.output_dir
    for run, (name, before, now) in sweep.changed_runs(
        runs, root, lambda run: search_flags.config_of_command(run.command(root, base_flags, program=()))
    ):
        if not FLAGS.rerun_changed:
            raise ValueError(
                f"{sweep.run_folder(root, run)} holds a finished run with --{name}={before!r}, "
                f"not {now!r}; pass --rerun_changed to run it again, or use another --output_dir"
            )
        shutil.rmtree(sweep.run_folder(root, run))
    here = FLAGS.in_process and FLAGS.parallel == 1
    if here:
        # Loads Keras, only once the flags are checked; TensorFlow's start-up lines silenced.
        in_process = common.load("keras_slt.cli.in_process")
        launch = in_process.search_launcher(base_flags)
    else:
        launch = sweep.subprocess_launcher(base_flags)
    failed = sweep.execute(runs, root, launch, FLAGS.parallel)
    rows = sweep_table.collect(root)
    table = FLAGS.csv or os.path.join(root, "results.csv")
    sweep_table.write_csv(rows, table)
    print(f"{len(rows)} runs in {table}" + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""))
    print(f"figures: python tools/plot.py --csv={table} --output_dir={os.path.join(root, 'figures')}")
    return 1 if failed else 0


def run():
    common.run(main)


if __name__ == "__main__":
    run()
