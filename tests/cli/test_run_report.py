"""What a search prints at its end: the ticket's masks layer by layer, then its summary line."""

import json
import os

import keras
from helpers import tiny_config

import keras_slt
from keras_slt.experiments import run_files, runner, summary


def test_a_ticket_search_ends_with_its_mask_table(data_dir, tmp_path):
    results = runner.run_search(tiny_config(data_dir, tmp_path, epochs=1, freeze_ratio=0.5), verbose=0)
    lines = summary.report(results)
    # The table of the best model, as `keras_slt.mask_summary` prints it, then the one line.
    best = keras.saving.load_model(os.path.join(tmp_path, run_files.BEST_MODEL))
    table = []
    keras_slt.mask_summary(best, print_fn=table.append)
    assert lines == [*table, summary.summary(results)]
    assert [line.split()[0] for line in table] == ["layer", "fc1", "fc2", "logits", "total"]
    assert lines[-1].startswith("fc on fashion_mnist, ep (sparsity s=0.5, prune ratio p=0.25, lock ratio r=0.25)")
    # A finished run, rerun, prints the same from its results.json.
    with open(os.path.join(tmp_path, run_files.RESULTS)) as f:
        assert summary.report(json.load(f)) == lines


def _layer(index):
    return {
        "name": f"conv{index}",
        "shape": [3, 3, 8, 8],
        "weights": 576,
        "free": 288,
        "pruned": 144,
        "locked": 144,
        "kept": 288,
        "kept_free": 144,
        "mask_bits": 288,
        "entropy_bits": 288.0,
    }


def test_a_big_model_shows_its_total_alone():
    n = summary.MAX_TABLE_LAYERS
    listed = summary.layer_table({"size": {"layers": [_layer(i) for i in range(n)]}})
    assert len(listed) == 1 + n + 1
    assert listed[1].split() == ["conv0", "(3,", "3,", "8,", "8)", "576", "288", "144", "144", "288", "0.5000"]
    collapsed = summary.layer_table({"size": {"layers": [_layer(i) for i in range(n + 1)]}})
    assert collapsed[0].split() == ["layer", "shape", "weights", "kept", "pruned", "locked", "free", "sparsity"]
    counts = [576 * (n + 1), 288 * (n + 1), 144 * (n + 1), 144 * (n + 1), 288 * (n + 1)]
    assert len(collapsed) == 2
    assert collapsed[1].split() == ["total", f"({n + 1}", "layers)", *map(str, counts), "0.5000"]


def test_weight_training_prints_its_summary_line_alone():
    results = {
        "flags": {"algo": "dense", "model": "fc", "dataset": "fashion_mnist"},
        "test_accuracy": 0.8,
        "best_epoch": 1,
        "val_accuracy": 0.8,
        "model_size_bits": 32 * 1000,
        "layer_sparsity": {},
        "wall_time_s": 3.0,
    }
    assert summary.report(results) == [summary.summary(results)]
