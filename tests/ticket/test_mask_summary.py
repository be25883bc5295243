"""`keras_slt.mask_summary`: the masks' counts layer by layer, printed and returned."""

import numpy as np

import keras_slt


def test_rows_count_each_layer_and_the_table_prints_them():
    model = keras_slt.models.get(
        "fc", (6, 6, 1), 3, width=16, sparsity=0.6, prune_ratio=0.3, lock_ratio=0.1, distribution="erk", seed=4
    )
    lines = []
    rows = keras_slt.mask_summary(model, print_fn=lines.append)
    layers, masks = model.supermask_layers, model.masks()
    assert [row.name for row in rows] == [layer.name for layer in layers]
    for row, layer, mask in zip(rows, layers, masks):
        freeze = layer.freeze_pattern()
        assert row.weights == mask.size == layer.num_weights
        assert row.kept == int(mask.sum())
        assert (row.pruned, row.locked, row.free) == (
            int((freeze == -1).sum()),
            int((freeze == 1).sum()),
            int((freeze == 0).sum()),
        )
        assert row.pruned + row.locked + row.free == row.weights
        assert row.sparsity == 1 - mask.mean()
        # Locked weights are in every mask, pruned ones in none.
        assert mask[freeze == 1].all() and not mask[freeze == -1].any()
    assert lines[0].split() == ["layer", "shape", "weights", "kept", "pruned", "locked", "free", "sparsity"]
    assert len(lines) == len(rows) + 2
    for line, row in zip(lines[1:], rows):
        assert line.startswith(row.name + " ")
        assert line.split()[-6:] == [
            str(row.weights),
            str(row.kept),
            str(row.pruned),
            str(row.locked),
            str(row.free),
            f"{row.sparsity:.4f}",
        ]
    total = sum(row.weights for row in rows)
    kept = sum(row.kept for row in rows)
    assert kept == total - int(np.floor(total * 0.6 + 1e-6))  # one global selection
    assert lines[-1].split() == [
        "total",
        str(total),
        str(kept),
        str(sum(r.pruned for r in rows)),
        str(sum(r.locked for r in rows)),
        str(sum(r.free for r in rows)),
        f"{1 - kept / total:.4f}",
    ]


def test_print_fn_none_prints_nothing(capsys):
    model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    rows = keras_slt.mask_summary(model, print_fn=None)
    assert [row.weights for row in rows] == [128, 64, 24] and capsys.readouterr().out == ""
    keras_slt.mask_summary(model)
    assert capsys.readouterr().out.splitlines()[-1].split() == ["total", "216", "108", "0", "0", "216", "0.5000"]
