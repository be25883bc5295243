"""Sweeps, the frontier and the figures, without running real searches."""

import sys

import pytest
from fakes import FAKE_SEARCH, fake_results
from helpers import ROOT, run_tool

from keras_slt.experiments import pareto, plots, sweep, sweep_table


def test_grid_contents():
    runs = sweep.grid(["fc"], [0.5, 0.9], [0.0, 0.3, 0.7], [0, 1])
    names = {r.name for r in runs}
    assert len(runs) == len(names)
    # per seed: 1 weight-trained + 2 dense source + 4 frozen + pruned where f <= s (0.3@0.5, 0.3@0.9, 0.7@0.9)
    assert len(runs) == 2 * (1 + 2 + 4 + 3)
    frozen = dict(next(r for r in runs if r.name == "fc_s0.9_f0.7_frozen_seed1").flags)
    assert float(frozen["prune_ratio"]) == pytest.approx(0.63) and float(frozen["lock_ratio"]) == pytest.approx(0.07)
    pruned = dict(next(r for r in runs if r.name == "fc_s0.9_f0.7_pruned_seed1").flags)
    assert float(pruned["prune_ratio"]) == 0.7 and float(pruned["lock_ratio"]) == 0
    assert "fc_s0.5_f0.7_pruned_seed0" not in names  # p > s is not a valid search


def test_lock_shares():
    runs = sweep.grid(["fc"], [0.5], [0.4], [0], lock_shares=[0.0, 1.0], pruned_source=False, weight_trained=False)
    flags = {r.name: dict(r.flags) for r in runs}
    assert flags["fc_s0.5_f0.4_lock0_frozen_seed0"]["lock_ratio"] == "0"
    assert flags["fc_s0.5_f0.4_lock1_frozen_seed0"]["prune_ratio"] == "0"


def test_listed_runs_are_grid_runs_in_entry_order():
    entries = [sweep.parse_listed(t) for t in ("frozen:f0.5:s0.5", "pruned:f0.5:s0.7", "dense:s0.5", "weights")]
    assert entries[1] == (sweep_table.PRUNED_SOURCE, 0.7, 0.5, None)
    assert entries[3] == (sweep_table.WEIGHT_TRAINED, None, None, None)
    runs = sweep.listed(["conv6"], entries, [0, 1])
    assert [r.name for r in runs] == [
        f"conv6_{name}_seed{seed}"
        for seed in (0, 1)
        for name in ("s0.5_f0.5_frozen", "s0.7_f0.5_pruned", "s0.5_dense", "weights")
    ]
    # the same flags as the grid's runs of those names
    grid = {r.name: r for r in sweep.grid(["conv6"], [0.5, 0.7], [0.0, 0.5], [0, 1])}
    assert all(grid[r.name] == r for r in runs)
    assert dict(runs[1].flags)["prune_ratio"] == "0.5" and dict(runs[1].flags)["sparsity"] == "0.7"
    with pytest.raises(ValueError, match="pruned source needs f <= s"):
        sweep.listed(["fc"], [sweep.parse_listed("pruned:f0.7:s0.5")], [0])


@pytest.mark.parametrize(
    "text",
    [
        "frozen:s0.5",
        "dense:f0.5:s0.5",
        "pruned:f0:s0.5",
        "frozen:fx:s0.5",
        "dense:s1",
        "weights:s0.5",
        "tickets",
        "dense:w0.5:s0.5",
        "dense:s0.5:w0",
        "dense:s0.5:wx",
        "dense:s0.5:w1:w2",
    ],
)
def test_parse_listed_rejects(text):
    with pytest.raises(ValueError, match=f"run '{text}'"):
        sweep.parse_listed(text)


@pytest.mark.slow
def test_sweep_cli_runs_flag(tmp_path):
    result = run_tool(
        "tools/sweep.py",
        f"--output_dir={tmp_path}",
        "--models=fc",
        "--seeds=3",
        "--runs=pruned:f0.5:s0.7,weights",
        "--dry_run",
    )
    assert result.returncode == 0, result.stderr
    names = [line.split("--output_dir=")[1] for line in result.stdout.strip().splitlines()]
    assert names == [str(tmp_path / "fc_s0.7_f0.5_pruned_seed3"), str(tmp_path / "fc_weights_seed3")]
    result = run_tool("tools/sweep.py", f"--output_dir={tmp_path}", "--runs=frozen:s0.5")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --runs: run 'frozen:s0.5' is not one of")


def test_source_classification():
    assert sweep_table.source_of("dense", 0, 0) == sweep_table.WEIGHT_TRAINED
    assert sweep_table.source_of("ep", 0, 0) == sweep_table.DENSE_SOURCE
    assert sweep_table.source_of("ep", 0.3, 0) == sweep_table.PRUNED_SOURCE
    assert sweep_table.source_of("ep", 0.3, 0.1) == sweep_table.FROZEN_SOURCE


def test_collect_csv_frontier_and_plots(tmp_path):
    root = tmp_path / "sweep"
    fake_results(root / "a", 0.80, 1000, algo="ep", sparsity=0.5, freeze_ratio=0.5, seed=0)
    fake_results(root / "b", 0.84, 1000, algo="ep", sparsity=0.5, freeze_ratio=0.5, seed=1)
    fake_results(root / "c", 0.83, 2000, algo="ep", sparsity=0.5, prune_ratio=0, lock_ratio=0, seed=0)
    fake_results(root / "d", 0.70, 1500, algo="ep", sparsity=0.5, prune_ratio=0.25, lock_ratio=0, seed=0)
    fake_results(root / "e", 0.90, 64000, algo="dense", seed=0)
    rows = sweep_table.collect(root)
    assert [r["source"] for r in rows] == [
        sweep_table.FROZEN_SOURCE,
        sweep_table.FROZEN_SOURCE,
        sweep_table.DENSE_SOURCE,
        sweep_table.PRUNED_SOURCE,
        sweep_table.WEIGHT_TRAINED,
    ]
    assert rows[0]["prune_ratio"] == 0.25 and rows[0]["lock_ratio"] == 0.25
    sweep_table.write_csv(rows, tmp_path / "r.csv")
    back = sweep_table.read_csv(tmp_path / "r.csv")
    assert [r["test_accuracy"] for r in back] == [0.8, 0.84, 0.83, 0.7, 0.9]
    configs = pareto.aggregate([r for r in back if r["source"] != sweep_table.WEIGHT_TRAINED])
    frozen = next(c for c in configs if c["source"] == sweep_table.FROZEN_SOURCE)
    assert frozen["seeds"] == 2 and frozen["accuracy_mean"] == pytest.approx(0.82)
    front = pareto.frontier(configs)
    # The pruned source at 1500 bits is beaten by the frozen one at 1000 bits.
    assert [c["source"] for c in front] == [sweep_table.FROZEN_SOURCE, sweep_table.DENSE_SOURCE]
    paths = plots.accuracy_vs_size(back, tmp_path / "fig" / "size", "t")
    paths += plots.accuracy_vs_freeze_ratio(back, 0.5, tmp_path / "fig" / "freeze_s0.5", "t")
    paths += plots.layer_sparsity_bars({"dense": 0.5, "dense_1": 0.4}, tmp_path / "fig" / "layers", "t")
    assert all(p.stat().st_size > 1000 for p in paths) and len(set(paths)) == 6
    assert tmp_path.joinpath("fig", "freeze_s0.5.svg").is_file()


@pytest.mark.slow
def test_plot_reads_a_sweep_folder_and_tables_every_configuration(tmp_path):
    root = tmp_path / "sweep"
    fake_results(root / "a", 0.80, 1000, algo="ep", sparsity=0.5, prune_ratio=0.25, lock_ratio=0.25, seed=1)
    fake_results(root / "b", 0.84, 1000, algo="ep", sparsity=0.5, prune_ratio=0.25, lock_ratio=0.25, seed=0)
    fake_results(root / "c", 0.70, 1000, algo="ep", sparsity=0.7, prune_ratio=0.5, lock_ratio=0, seed=0)
    fake_results(root / "d", 0.90, 64000, algo="dense", seed=0)
    (root / "e").mkdir()  # a run still going: no results.json yet
    result = run_tool("tools/plot.py", f"--sweep_dir={root}", f"--output_dir={tmp_path / 'fig'}", "--table=all")
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")][2:]
    assert table == [
        "| weight-trained | default | - | 0 | 0 | 64,000 | 90.00 ± 0.00 | 90.00 (seed 0) |",
        "| pruned source | default | 0.7 | 0.5 | 0 | 1,000 | 70.00 ± 0.00 | 70.00 (seed 0) |",
        "| frozen source | default | 0.5 | 0.25 | 0.25 | 1,000 | 82.00 ± 2.83 | 84.00 (seed 0), 80.00 (seed 1) |",
    ]
    assert (tmp_path / "fig" / "accuracy_vs_size.png").is_file()
    result = run_tool("tools/plot.py", f"--output_dir={tmp_path / 'fig'}")
    assert (
        result.returncode == 2 and result.stderr.strip().splitlines()[-1] == "error: give one of --csv and --sweep_dir"
    )


def test_frontier_ties_and_order():
    configs = [
        {"model_size_bits": 2, "accuracy_mean": 0.5},
        {"model_size_bits": 1, "accuracy_mean": 0.5},
        {"model_size_bits": 3, "accuracy_mean": 0.6},
        {"model_size_bits": 3, "accuracy_mean": 0.7},
    ]
    assert pareto.frontier(configs) == [configs[1], configs[3]]


def test_execute_skips_finished_runs(tmp_path):
    script = tmp_path / "fake_search.py"
    script.write_text(FAKE_SEARCH)
    runs = sweep.grid(["fc"], [0.5], [0.0, 0.5], [0, 1], weight_trained=False)
    root = tmp_path / "out"
    launch = sweep.subprocess_launcher(program=(sys.executable, str(script)))
    assert sweep.execute(runs[:2], root, launch, parallel=2, log=lambda m: None) == []
    assert sweep.execute(runs, root, launch, parallel=2, log=lambda m: None) == []
    calls = (root / "calls.txt").read_text().split()
    assert sorted(calls) == sorted(r.name for r in runs)  # each run exactly once


@pytest.mark.slow
def test_sweep_cli_rejects_bad_flags(tmp_path):
    result = run_tool("tools/sweep.py", f"--output_dir={tmp_path}", "--sparsities=0.5,1.5")
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1] == "error: --sparsities values must be in [0.0, 0.999999], got 0.5,1.5"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_sweep_flagfiles_expand(tmp_path):
    import pathlib

    for flagfile in sorted(pathlib.Path(ROOT, "configs").glob("sweep_*.flags")):
        result = run_tool("tools/sweep.py", f"--flagfile={flagfile}", "--dry_run")
        assert result.returncode == 0, result.stderr
        commands = result.stdout.strip().splitlines()
        assert commands and all("keras_slt.cli.search --flagfile=configs/" in c for c in commands)
