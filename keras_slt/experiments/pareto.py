"""The accuracy-size frontier of a set of runs."""

import collections
import statistics


def aggregate(rows, keys=("model", "source", "sparsity", "freeze_ratio", "prune_ratio", "lock_ratio")):
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
        configs.append({
            **dict(zip(keys, key)),
            "model_size_bits": statistics.mean(float(m["model_size_bits"]) for m in members),
            "accuracy_mean": statistics.mean(accuracies),
            "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "seeds": len(members),
        })
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
