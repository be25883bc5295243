"""Figures of a sweep: accuracy against size, against freezing, per layer.

Every function writes `<stem>.png` and `<stem>.svg` and returns the paths.
"""

import collections
import pathlib

from keras_slt import files
from keras_slt.experiments import pareto, sweep_table

_STYLE = {
    sweep_table.DENSE_SOURCE: dict(color="tab:blue", marker="o"),
    sweep_table.PRUNED_SOURCE: dict(color="tab:orange", marker="s"),
    sweep_table.FROZEN_SOURCE: dict(color="tab:green", marker="^"),
}


def _subplots(figsize):
    # Figures are made with matplotlib's object API, not pyplot: it needs no
    # display and changes no global backend setting. Imported here: it takes
    # a second or more, which the plot tool's --help should not wait for.
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.add_subplot()


def _save(figure, stem):
    stem = pathlib.Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Not with_suffix: a stem like "..._s0.5" already has a dot.
    paths = [stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"]
    for path in paths:
        with files.atomic_path(path) as temp:
            figure.savefig(temp, dpi=150, bbox_inches="tight")
    return paths


def _weight_trained_line(axis, rows):
    trained = [r for r in rows if r["source"] == sweep_table.WEIGHT_TRAINED]
    if trained:
        (config,) = pareto.aggregate(trained, keys=("source",))
        axis.axhline(100 * config["accuracy_mean"], color="black", linestyle="--",
                     label=f"weight-trained ({config['model_size_bits'] / 8e6:.2f} MB float32)")


def accuracy_vs_size(rows, stem, title):
    """Test accuracy against ticket size (bits, log scale), one curve per source.

    Faint points are every configuration (mean over seeds); the line joins
    each source's accuracy-size frontier, with error bars of one standard
    deviation over seeds.
    """
    figure, axis = _subplots(figsize=(7, 4.5))
    configs = pareto.aggregate([r for r in rows if r["source"] != sweep_table.WEIGHT_TRAINED])
    for source, style in _STYLE.items():
        members = [c for c in configs if c["source"] == source]
        if not members:
            continue
        axis.scatter([c["model_size_bits"] for c in members],
                     [100 * c["accuracy_mean"] for c in members], alpha=0.25, color=style["color"], s=14)
        front = pareto.frontier(members)
        axis.errorbar([c["model_size_bits"] for c in front], [100 * c["accuracy_mean"] for c in front],
                      yerr=[100 * c["accuracy_std"] for c in front], label=f"SLT in {source}",
                      capsize=3, **style)
    _weight_trained_line(axis, rows)
    axis.set_xscale("log")
    axis.set_xlabel("model size (bits, paper's accounting; log scale)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right")
    return _save(figure, stem)


def accuracy_vs_freeze_ratio(rows, sparsity, stem, title):
    """Test accuracy against the freezing ratio at one ticket sparsity.

    The dense source is the point at ratio 0; the pruned source's ratio is
    its pruning ratio p, which gives the same ticket size as the frozen
    source at the same ratio.
    """
    figure, axis = _subplots(figsize=(7, 4.5))
    configs = [c for c in pareto.aggregate([r for r in rows if r["source"] != sweep_table.WEIGHT_TRAINED])
               if abs(float(c["sparsity"]) - sparsity) < 1e-9]
    dense = [c for c in configs if c["source"] == sweep_table.DENSE_SOURCE]
    for source in (sweep_table.FROZEN_SOURCE, sweep_table.PRUNED_SOURCE):
        points = sorted(dense + [c for c in configs if c["source"] == source],
                        key=lambda c: c["freeze_ratio"])
        if len(points) > len(dense):
            axis.errorbar([c["freeze_ratio"] for c in points], [100 * c["accuracy_mean"] for c in points],
                          yerr=[100 * c["accuracy_std"] for c in points], label=f"SLT in {source}",
                          capsize=3, **_STYLE[source])
    _weight_trained_line(axis, rows)
    axis.set_xlabel("freezing ratio f = p + r (pruned source: p)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower left")
    return _save(figure, stem)


def layer_sparsity_bars(layer_sparsity, stem, title):
    """Per-layer sparsity of one ticket as bars.

    Args:
        layer_sparsity: dict layer name -> sparsity (as in results.json).
    """
    names = list(layer_sparsity)
    figure, axis = _subplots(figsize=(max(5, 0.6 * len(names)), 4))
    axis.bar(range(len(names)), [100 * layer_sparsity[n] for n in names], color="tab:green")
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_ylabel("sparsity (%)")
    axis.set_ylim(0, 100)
    axis.set_title(title)
    axis.grid(True, axis="y", alpha=0.3)
    return _save(figure, stem)


def sparsities_in(rows):
    """The ticket sparsities present, for one figure each."""
    counts = collections.Counter(r["sparsity"] for r in rows if r["source"] != sweep_table.WEIGHT_TRAINED)
    return sorted(float(s) for s in counts)
