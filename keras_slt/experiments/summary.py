"""The one line a search run ends with: what ran, its test accuracy and its size."""


def summary(results):
    """One line: what ran, its test accuracy and its size.

    Example:

    >>> results = {"flags": {"algo": "ep", "model": "fc", "dataset": "fashion_mnist", "sparsity": 0.5},
    ...            "prune_ratio": 0.25, "lock_ratio": 0.25, "compression": 31.9,
    ...            "actual_sparsity": 0.5, "test_accuracy": 0.841, "best_epoch": 3,
    ...            "val_accuracy": 0.85, "model_size_bits": 1372352, "wall_time_s": 35.2}
    >>> print(summary(results))
    fc on fashion_mnist, ep (sparsity s=0.5, prune ratio p=0.25, lock ratio r=0.25): test accuracy 84.10% (best epoch 3, val 85.00%), size 1,372,352 bits (0.164 MiB, 31.9x smaller than dense float32, actual sparsity 0.5000), 35 s
    """
    flags = results["flags"]
    bits = results["model_size_bits"]
    if flags["algo"] == "ep":
        what = (
            f"ep (sparsity s={flags['sparsity']:g}, prune ratio p={results['prune_ratio']:g}, "
            f"lock ratio r={results['lock_ratio']:g})"
        )
        size = (
            f"{results['compression']:.1f}x smaller than dense float32, "
            f"actual sparsity {results['actual_sparsity']:.4f}"
        )
    else:
        what, size = "dense weights", "float32"
    return (
        f"{flags['model']} on {flags['dataset']}, {what}: "
        f"test accuracy {100 * results['test_accuracy']:.2f}% "
        f"(best epoch {results['best_epoch']}, val {100 * results['val_accuracy']:.2f}%), "
        f"size {bits:,} bits ({bits / 8 / 2**20:.3f} MiB, {size}), "
        f"{results['wall_time_s']:.0f} s"
    )
