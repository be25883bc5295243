r"""Figures and the accuracy-size frontier of a sweep CSV.

Example:

    python tools/plot.py --csv=runs/fmnist/results.csv --output_dir=runs/fmnist/figures \
        --title="FC on Fashion-MNIST" --ticket=runs/fmnist/fc_s0.5_f0.5_frozen_seed0
    python tools/plot.py --sweep_dir=runs/fmnist --output_dir=runs/fmnist/figures --table=all

Writes accuracy_vs_size, accuracy_vs_freezing_s<sparsity> (one per
sparsity) and, with --ticket, layer_sparsity, each as PNG and SVG, and prints
the frontier (or, with --table=all, every configuration; with
--table=paired, each source against the dense source at equal ticket size)
as a Markdown table.
--sweep_dir reads the finished runs of a sweep folder, also while the sweep
still runs.
"""

import os

from absl import flags

from keras_slt.cli import common
from keras_slt.experiments import markdown_tables, plots, run_files, sweep_table
from keras_slt.utils import files

FLAGS = flags.FLAGS
flags.DEFINE_string("csv", None, "Sweep CSV written by tools/sweep.py.")
flags.DEFINE_string("sweep_dir", None, "Instead of --csv: the finished runs of this tools/sweep.py output folder.")
flags.DEFINE_enum(
    "table",
    "frontier",
    ["frontier", "all", "paired"],
    "Print the frontier, every configuration, or each source against the dense source at equal ticket size "
    "(within 2%), seed by seed.",
)
flags.DEFINE_string("output_dir", None, "Folder for the figures.")
flags.DEFINE_string("title", "", "Title prefix of the figures (model and data set).")
flags.DEFINE_string("model", None, "Only rows of this model (default: all).")
flags.DEFINE_string("ticket", None, "A search output folder whose per-layer sparsity to plot.")
flags.mark_flag_as_required("output_dir")


def _rows():
    if bool(FLAGS.csv) == bool(FLAGS.sweep_dir):
        raise ValueError("give one of --csv and --sweep_dir")
    if FLAGS.sweep_dir:
        if not os.path.isdir(FLAGS.sweep_dir):
            raise ValueError(f"--sweep_dir: no such folder {FLAGS.sweep_dir}")
        return "--sweep_dir", FLAGS.sweep_dir, sweep_table.collect(FLAGS.sweep_dir)
    if not os.path.isfile(FLAGS.csv):
        raise ValueError(f"--csv: no such file {FLAGS.csv}")
    return "--csv", FLAGS.csv, sweep_table.read_csv(FLAGS.csv)


def main(argv):
    del argv
    flag, source, rows = _rows()
    if FLAGS.model:
        rows = [r for r in rows if r["model"] == FLAGS.model]
    if not rows:
        raise ValueError(f"{flag}: no runs{' of model ' + FLAGS.model if FLAGS.model else ''} in {source}")
    title = f"{FLAGS.title}: " if FLAGS.title else ""
    out = FLAGS.output_dir
    paths = plots.accuracy_vs_size(rows, os.path.join(out, "accuracy_vs_size"), f"{title}accuracy vs ticket size")
    for s in plots.sparsities_in(rows):
        paths += plots.accuracy_vs_freeze_ratio(
            rows,
            s,
            os.path.join(out, f"accuracy_vs_freezing_s{s:g}"),
            f"{title}accuracy vs freezing ratio, sparsity {s:g}",
        )
    if FLAGS.ticket:
        results_path = os.path.join(FLAGS.ticket, run_files.RESULTS)
        layer_sparsity = sweep_table.read_results(results_path).get("layer_sparsity")
        if not isinstance(layer_sparsity, dict):
            raise files.damaged(results_path, "no layer_sparsity", sweep_table.RERUN)
        paths += plots.layer_sparsity_bars(
            layer_sparsity,
            os.path.join(out, "layer_sparsity"),
            f"{title}per-layer sparsity of {os.path.basename(FLAGS.ticket.rstrip('/'))}",
        )
    tables = {
        "frontier": markdown_tables.frontier,
        "all": markdown_tables.configurations,
        "paired": markdown_tables.paired,
    }
    print(tables[FLAGS.table](rows))
    print("\n".join(f"wrote {p}" for p in paths))


def run():
    common.run(main)


if __name__ == "__main__":
    run()
