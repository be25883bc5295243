"""The accuracy-size frontier of a set of runs, and each source's curve."""

import collections
import statistics


def aggregate(rows, keys=("model", "source", "width", "sparsity", "freeze_ratio", "prune_ratio", "lock_ratio")):
    """Mean and spread over seeds of runs that differ only in their seed.

    Args:
        rows: sweep rows (dicts with `test_accuracy` and `model_size_bits`).
        keys: the columns that identify a configuration.

    Returns:
        One dict per configuration: the key columns, `model_size_bits`,
        `accuracy_mean`, `accuracy_std` (0 for one seed) and `seeds`.
    """
    groups = collections.defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    configs = []
    for key, members in groups.items():
        accuracies = [float(m["test_accuracy"]) for m in members]
        configs.append(
            {
                **dict(zip(keys, key)),
                "model_size_bits": statistics.mean(float(m["model_size_bits"]) for m in members),
                "accuracy_mean": statistics.mean(accuracies),
                "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                "seeds": len(members),
            }
        )
    return configs


def frontier(configs, size="model_size_bits", accuracy="accuracy_mean"):
    """The configurations no other one beats on both size and accuracy.

    A configuration is on the frontier when every smaller-or-equal one is
    strictly less accurate. Returned smallest first.

    Example:

    >>> frontier([{"model_size_bits": 1, "accuracy_mean": 0.5},
    ...           {"model_size_bits": 2, "accuracy_mean": 0.4},
    ...           {"model_size_bits": 3, "accuracy_mean": 0.9}])
    [{'model_size_bits': 1, 'accuracy_mean': 0.5}, {'model_size_bits': 3, 'accuracy_mean': 0.9}]
    """
    ordered = sorted(configs, key=lambda c: (c[size], -c[accuracy]))
    front, best = [], float("-inf")
    for config in ordered:
        if config[accuracy] > best:
            front.append(config)
            best = config[accuracy]
    return front


def source_curves(configs, dense_source="dense source"):
    """Each source's accuracy against size, the most accurate sparsity at each size.

    A ticket's size follows from the network's width and the freezing ratio,
    not from its sparsity, so each (source, model, width, freezing ratio)
    is one point of a curve: its most accurate configuration. The dense
    source's curve runs over its widths; the frozen and pruned sources have
    one curve per width, over their freezing ratios.

    Args:
        configs: configurations of `aggregate` (with a `width` key).
        dense_source: the source whose curve runs over widths.

    Returns:
        `[(source, width, points)]`: width None for the dense source's
        curve; points smallest first.

    Example:

    >>> configs = [dict(model="fc", source="dense source", width=w, freeze_ratio=0, model_size_bits=b,
    ...                 accuracy_mean=a) for w, b, a in ((1024, 20, 0.8), (646, 10, 0.7), (646, 10, 0.75))]
    >>> [(c["width"], c["accuracy_mean"]) for c in source_curves(configs)[0][2]]
    [(646, 0.75), (1024, 0.8)]
    """
    best = {}
    for config in configs:
        point = (config["source"], config["model"], config["width"], config["freeze_ratio"])
        if point not in best or config["accuracy_mean"] > best[point]["accuracy_mean"]:
            best[point] = config
    curves = collections.defaultdict(list)
    for (source, model, width, _), config in best.items():
        curves[(source, model, None if source == dense_source else width)].append(config)
    return [
        (source, width, sorted(points, key=lambda c: c["model_size_bits"]))
        for (source, _, width), points in sorted(curves.items(), key=lambda item: str(item[0]))
    ]


def equal_size_pairs(rows, reference="dense source", tolerance=0.02):
    """Each source against `reference` at equal ticket size, seed by seed.

    The points are those of `source_curves`: each source at its most
    accurate sparsity (by the mean over seeds) per size. A point is paired
    with every `reference` point whose size is within `tolerance` of its
    own, and compared on the seeds both ran.

    Args:
        rows: sweep rows (`model`, `source`, `width`, `sparsity`,
            `freeze_ratio`, `prune_ratio`, `lock_ratio`, `seed`,
            `test_accuracy`, `model_size_bits`).
        reference: the source the others are compared with.
        tolerance: the largest relative size difference still counted as
            equal size.

    Returns:
        One dict per pair, largest reference first: `reference` and
        `other` (configurations as `aggregate` gives them) and
        `differences`, `[(seed, reference accuracy - other accuracy)]`.

    Example:

    >>> rows = [dict(model="fc", source=s, width=w, sparsity=0.5, freeze_ratio=f, prune_ratio=f, lock_ratio=0,
    ...              seed=seed, test_accuracy=a, model_size_bits=b)
    ...         for s, w, f, b, accuracies in (("dense source", 600, 0, 1000, (0.9, 0.8)),
    ...                                        ("pruned source", "", 0.5, 1010, (0.7, 0.75)),
    ...                                        ("dense source", "", 0, 2020, (0.95, 0.9)))
    ...         for seed, a in enumerate(accuracies)]
    >>> (pair,) = equal_size_pairs(rows)
    >>> [(seed, round(d, 2)) for seed, d in pair["differences"]]
    [(0, 0.2), (1, 0.05)]
    """
    keys = ("model", "source", "width", "sparsity", "freeze_ratio", "prune_ratio", "lock_ratio")
    accuracies = collections.defaultdict(dict)
    for row in rows:
        accuracies[tuple(row[k] for k in keys)][int(row["seed"])] = float(row["test_accuracy"])
    points = [point for _, _, curve in source_curves(aggregate(rows, keys), reference) for point in curve]
    references = sorted(
        (p for p in points if p["source"] == reference), key=lambda c: c["model_size_bits"], reverse=True
    )
    pairs = []
    for ours in references:
        for other in points:
            size_ratio = other["model_size_bits"] / ours["model_size_bits"]
            if other["source"] == reference or abs(size_ratio - 1) > tolerance:
                continue
            a, b = (accuracies[tuple(c[k] for k in keys)] for c in (ours, other))
            differences = [(seed, a[seed] - b[seed]) for seed in sorted(a.keys() & b.keys())]
            pairs.append({"reference": ours, "other": other, "differences": differences})
    return pairs
