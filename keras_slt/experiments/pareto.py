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
