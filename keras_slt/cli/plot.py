"""Figures and the accuracy-size frontier of a sweep CSV.

Example:

    python tools/plot.py --csv=runs/fmnist/results.csv --output_dir=docs/figures \
        --title="FC on Fashion-MNIST" --ticket=runs/fmnist/fc_s0.5_f0.5_frozen_seed0

Writes accuracy_vs_size, accuracy_vs_freezing_s<sparsity> (one per
sparsity) and, with --ticket, layer_sparsity, each as PNG and SVG, and prints
the frontier as a Markdown table.
"""

import os

from absl import flags

from keras_slt import files, run_files
from keras_slt.cli import common
from keras_slt.experiments import pareto, plots, sweep

FLAGS = flags.FLAGS
flags.DEFINE_string("csv", None, "Sweep CSV written by tools/sweep.py.")
flags.DEFINE_string("output_dir", None, "Folder for the figures.")
flags.DEFINE_string("title", "", "Title prefix of the figures (model and data set).")
flags.DEFINE_string("model", None, "Only rows of this model (default: all).")
flags.DEFINE_string("ticket", None, "A search output folder whose per-layer sparsity to plot.")
flags.mark_flags_as_required(["csv", "output_dir"])


def frontier_table(rows):
    """The accuracy-size frontier as a Markdown table."""
    configs = pareto.aggregate([r for r in rows if r["source"] != sweep.WEIGHT_TRAINED])
    lines = ["| source | sparsity | p | r | size (bits) | accuracy (%) | seeds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in pareto.frontier(configs):
        lines.append(f"| {c['source']} | {c['sparsity']:g} | {c['prune_ratio']:g} | {c['lock_ratio']:g} "
                     f"| {c['model_size_bits']:,.0f} | {100 * c['accuracy_mean']:.2f} "
                     f"± {100 * c['accuracy_std']:.2f} | {c['seeds']} |")
    return "\n".join(lines)


def main(argv):
    del argv
    if not os.path.isfile(FLAGS.csv):
        raise ValueError(f"--csv: no such file {FLAGS.csv}")
    rows = sweep.read_csv(FLAGS.csv)
    if FLAGS.model:
        rows = [r for r in rows if r["model"] == FLAGS.model]
    if not rows:
        raise ValueError(f"--csv: no runs{' of model ' + FLAGS.model if FLAGS.model else ''} in {FLAGS.csv}")
    title = f"{FLAGS.title}: " if FLAGS.title else ""
    out = FLAGS.output_dir
    paths = plots.accuracy_vs_size(rows, os.path.join(out, "accuracy_vs_size"),
                                   f"{title}accuracy vs ticket size")
    for s in plots.sparsities_in(rows):
        paths += plots.accuracy_vs_freeze_ratio(rows, s, os.path.join(out, f"accuracy_vs_freezing_s{s:g}"),
                                                f"{title}accuracy vs freezing ratio, sparsity {s:g}")
    if FLAGS.ticket:
        results_path = os.path.join(FLAGS.ticket, run_files.RESULTS)
        layer_sparsity = sweep.read_results(results_path).get("layer_sparsity")
        if not isinstance(layer_sparsity, dict):
            raise files.damaged(results_path, "no layer_sparsity", sweep.RERUN)
        paths += plots.layer_sparsity_bars(layer_sparsity, os.path.join(out, "layer_sparsity"),
                                           f"{title}per-layer sparsity of {os.path.basename(FLAGS.ticket.rstrip('/'))}")
    print(frontier_table(rows))
    print("\n".join(f"wrote {p}" for p in paths))


def run():
    common.run(main)

