"""Figures of a sweep: accuracy against size, against freezing, per layer.

Every function writes `<stem>.png` and `<stem>.svg` and returns the paths.
"""

import collections
import pathlib

from keras_slt.experiments import pareto, sweep_table
from keras_slt.utils import files

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


def width_label(width):
    """A width as tables and legends print it: `"default"` for the search flags' own.

    Example:

    >>> width_label(646.0), width_label("")
    ('646', 'default')
    """
    return "default" if width in ("", None) else f"{float(width):g}"


def _weight_trained_line(axis, rows):
    trained = [r for r in rows if r["source"] == sweep_table.WEIGHT_TRAINED]
    configs = pareto.aggregate(trained, keys=("source", "width")) if trained else []
    for config, linestyle in zip(configs, ("--", ":", "-.", (0, (1, 3)))):
        width = "" if len(configs) == 1 else f", width {width_label(config['width'])}"
        axis.axhline(
            100 * config["accuracy_mean"],
            color="black",
            linestyle=linestyle,
            label=f"weight-trained{width} ({config['model_size_bits'] / 8e6:.2f} MB float32)",
        )


def accuracy_vs_size(rows, stem, title):
    """Test accuracy against ticket size (bits, log scale), one curve per source.

    Faint points are every configuration (mean over seeds). Each source's
    curve joins its most accurate sparsity at each size
    (`pareto.source_curves`): the dense source over its widths, the frozen
    and pruned sources over their freezing ratios, one curve per width;
    error bars are one standard deviation over seeds.
    """
    figure, axis = _subplots(figsize=(7, 4.5))
    configs = pareto.aggregate([r for r in rows if r["source"] != sweep_table.WEIGHT_TRAINED])
    curves = pareto.source_curves(configs, sweep_table.DENSE_SOURCE)
    for source, style in _STYLE.items():
        members = [c for c in configs if c["source"] == source]
        axis.scatter(
            [c["model_size_bits"] for c in members],
            [100 * c["accuracy_mean"] for c in members],
            alpha=0.25,
            color=style["color"],
            s=14,
        )
        own = [(width, points) for curve_source, width, points in curves if curve_source == source]
        for (width, points), linestyle in zip(own, ("-", "--", ":", "-.")):
            if source == sweep_table.DENSE_SOURCE:
                over = "widths " + ", ".join(width_label(c["width"]) for c in points)
                label = f"SLT in {source} (over {over})" if len(points) > 1 else f"SLT in {source}"
            else:
                label = f"SLT in {source}" + (f", width {width_label(width)}" if len(own) > 1 else "")
            axis.errorbar(
                [c["model_size_bits"] for c in points],
                [100 * c["accuracy_mean"] for c in points],
                yerr=[100 * c["accuracy_std"] for c in points],
                label=label,
                capsize=3,
                linestyle=linestyle,
                **style,
            )
    _weight_trained_line(axis, rows)
    axis.set_xscale("log")
    axis.set_xlabel("model size (bits, paper's accounting; log scale)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right", fontsize="small")
    return _save(figure, stem)


def accuracy_vs_freeze_ratio(rows, sparsity, stem, title):
    """Test accuracy against the freezing ratio at one ticket sparsity.

    The dense source is the point at ratio 0; the pruned source's ratio is
    its pruning ratio p, which gives the same ticket size as the frozen
    source at the same ratio. One curve per source and width (a dense
    source at a width no other source has is left out).
    """
    figure, axis = _subplots(figsize=(7, 4.5))
    configs = [
        c
        for c in pareto.aggregate([r for r in rows if r["source"] != sweep_table.WEIGHT_TRAINED])
        if abs(float(c["sparsity"]) - sparsity) < 1e-9
    ]
    for source in (sweep_table.FROZEN_SOURCE, sweep_table.PRUNED_SOURCE):
        widths = sorted({c["width"] for c in configs if c["source"] == source}, key=str)
        for width, linestyle in zip(widths, ("-", "--", ":", "-.")):
            points = sorted(
                (c for c in configs if c["width"] == width and c["source"] in (source, sweep_table.DENSE_SOURCE)),
                key=lambda c: c["freeze_ratio"],
            )
            label = f"SLT in {source}" + (f", width {width_label(width)}" if len(widths) > 1 else "")
            axis.errorbar(
                [c["freeze_ratio"] for c in points],
                [100 * c["accuracy_mean"] for c in points],
                yerr=[100 * c["accuracy_std"] for c in points],
                label=label,
                capsize=3,
                linestyle=linestyle,
                **_STYLE[source],
            )
    _weight_trained_line(axis, rows)
    axis.set_xlabel("freezing ratio f = p + r (pruned source: p)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower left", fontsize="small")
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
    """The ticket sparsities of the frozen and pruned sources, for one figure against the freezing ratio each."""
    counts = collections.Counter(
        r["sparsity"] for r in rows if r["source"] in (sweep_table.FROZEN_SOURCE, sweep_table.PRUNED_SOURCE)
    )
    return sorted(float(s) for s in counts)
