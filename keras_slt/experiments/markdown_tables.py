"""A sweep's results as Markdown tables: the frontier, every configuration, equal-size pairs."""

import statistics

from keras_slt.experiments import pareto, plots, sweep_table


def frontier(rows):
    """The accuracy-size frontier as a Markdown table."""
    configs = pareto.aggregate([r for r in rows if r["source"] != sweep_table.WEIGHT_TRAINED])
    lines = [
        "| source | width | sparsity | p | r | size (bits) | accuracy (%) | seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in pareto.frontier(configs):
        lines.append(
            f"| {c['source']} | {plots.width_label(c['width'])} | {c['sparsity']:g} "
            f"| {c['prune_ratio']:g} | {c['lock_ratio']:g} "
            f"| {c['model_size_bits']:,.0f} | {100 * c['accuracy_mean']:.2f} "
            f"± {100 * c['accuracy_std']:.2f} | {c['seeds']} |"
        )
    return "\n".join(lines)


def configurations(rows):
    """Every configuration, largest first, as a Markdown table with each seed's accuracy."""
    keys = ("model", "source", "width", "sparsity", "freeze_ratio", "prune_ratio", "lock_ratio")
    configs = sorted(
        pareto.aggregate(rows, keys),
        key=lambda c: (-c["model_size_bits"], sweep_table.SOURCES.index(c["source"]), str(c["sparsity"])),
    )
    lines = [
        "| source | width | sparsity | p | r | size (bits) | accuracy (%) | per seed (%) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in configs:
        runs = sorted((r for r in rows if all(r[k] == c[k] for k in keys)), key=lambda r: int(r["seed"]))
        per_seed = ", ".join(f"{100 * float(r['test_accuracy']):.2f} (seed {r['seed']})" for r in runs)
        sparsity = "-" if c["source"] == sweep_table.WEIGHT_TRAINED else f"{c['sparsity']:g}"
        lines.append(
            f"| {c['source']} | {plots.width_label(c['width'])} | {sparsity} "
            f"| {c['prune_ratio']:g} | {c['lock_ratio']:g} "
            f"| {c['model_size_bits']:,.0f} | {100 * c['accuracy_mean']:.2f} "
            f"± {100 * c['accuracy_std']:.2f} | {per_seed} |"
        )
    return "\n".join(lines)


def paired(rows):
    """Each source against the dense source at equal ticket size, as a Markdown table.

    Each source is read at its most accurate sparsity per size; the
    differences are the dense source's accuracy minus the other's, in
    points, over the seeds both ran.
    """
    lines = [
        "| size (bits) | dense source | compared with | dense - other | per seed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for pair in pareto.equal_size_pairs(rows, sweep_table.DENSE_SOURCE):
        ours, other = pair["reference"], pair["other"]
        differences = [100 * d for _, d in pair["differences"]]
        spread = f" ± {statistics.stdev(differences):.2f}" if len(differences) > 1 else ""
        mean = f"{statistics.mean(differences):+.2f}{spread}" if differences else "no common seed"
        per_seed = ", ".join(f"{100 * d:+.2f} (seed {seed})" for seed, d in pair["differences"])
        lines.append(
            f"| {ours['model_size_bits']:,.0f} / {other['model_size_bits']:,.0f} "
            f"| {_accuracy(ours)} (width {plots.width_label(ours['width'])}, s {ours['sparsity']:g}) "
            f"| {other['source']}: {_accuracy(other)} (width {plots.width_label(other['width'])}, "
            f"f {other['freeze_ratio']:g}, s {other['sparsity']:g}) | {mean} | {per_seed} |"
        )
    return "\n".join(lines)


def _accuracy(config):
    return f"{100 * config['accuracy_mean']:.2f} ± {100 * config['accuracy_std']:.2f}"
