"""What a search run ends with: its masks layer by layer, then one line of what ran, its accuracy and size."""

from keras_slt.ticket.size import LayerSize, mask_table

# Beyond this many supermask layers the mask table is its total line alone
# (a ResNet-50 has 53): the whole table is `keras_slt.mask_summary(model)`.
MAX_TABLE_LAYERS = 20


def report(results):
    """The lines a search prints at its end: `layer_table` (tickets), then `summary`."""
    return [*layer_table(results), summary(results)]


def layer_table(results, max_rows=MAX_TABLE_LAYERS):
    """`keras_slt.mask_summary`'s table of a ticket from its results; no lines for weight training.

    Args:
        results: a run's results (`runner.run_search`'s, or its results.json).
        max_rows: beyond this many layers, the total line alone.

    Example:

    >>> layer = {"name": "fc1", "shape": [16, 8], "weights": 128, "free": 64, "pruned": 32,
    ...          "locked": 32, "kept": 61, "kept_free": 29, "mask_bits": 64, "entropy_bits": 63.9}
    >>> print("\\n".join(layer_table({"size": {"layers": [layer]}})))
    layer  shape    weights  kept  pruned  locked  free  sparsity
    fc1    (16, 8)      128    61      32      32    64    0.5234
    total               128    61      32      32    64    0.5234
    """
    layers = (results.get("size") or {}).get("layers")
    return mask_table([LayerSize(**layer) for layer in layers], max_rows) if layers else []


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
