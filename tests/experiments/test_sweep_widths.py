"""The sweep's width axis: runs, refusals, table, resume and per-source curves."""

import dataclasses
import json
import sys

import pytest
from fakes import FAKE_SEARCH, fake_results
from helpers import one_error_line, run_tool

from keras_slt.cli import search_flags
from keras_slt.experiments import markdown_tables, pareto, plots, sweep, sweep_table


def test_grid_widths_name_and_set_each_run():
    runs = sweep.grid(["fc"], [0.5], [0.0, 0.5], [0], widths=[None, 646])
    assert [r.name for r in runs] == [
        "fc_weights_seed0",
        "fc_s0.5_dense_seed0",
        "fc_s0.5_f0.5_frozen_seed0",
        "fc_s0.5_f0.5_pruned_seed0",
        "fc_w646_weights_seed0",
        "fc_w646_s0.5_dense_seed0",
        "fc_w646_s0.5_f0.5_frozen_seed0",
        "fc_w646_s0.5_f0.5_pruned_seed0",
    ]
    flags = {r.name: dict(r.flags) for r in runs}
    assert "width" not in flags["fc_s0.5_dense_seed0"]
    assert flags["fc_w646_s0.5_dense_seed0"]["width"] == 646
    assert flags["fc_w646_weights_seed0"] == {"model": "fc", "width": 646, "algo": "dense", "seed": 0}
    (conv,) = sweep.grid(["conv6"], [0.7], [0.0], [2], weight_trained=False, widths=[0.354])
    assert conv.name == "conv6_w0.354_s0.7_dense_seed2"
    assert conv.command("out", program=())[:2] == ["--model=conv6", "--width_factor=0.354"]
    # the search reads the width the sweep gives, after the shared flagfile's
    config = search_flags.config_of_command(
        conv.command("out", ["--flagfile=configs/cifar10_conv6_short.flags"], program=())
    )
    assert config.width_factor == 0.354 and config.sparsity == 0.7 and config.seed == 2


@pytest.mark.parametrize(
    "model, width, message",
    [
        ("fc", 0.5, "width 0.5 of fc: fc takes a whole number of hidden units"),
        ("fc", 0, "width 0 of fc: widths must be positive"),
        # conv1 has 64 channels at width factor 1: 64 x 0.0078 = 0.4992 rounds to 0
        (
            "conv6",
            0.0078,
            (
                "width factor 0.0078 of conv6: its layer conv1 would have 64 x 0.0078 = 0.4992 channels, "
                "which rounds to zero"
            ),
        ),
        (
            "resnet18",
            0.007,
            (
                "width factor 0.007 of resnet18: its layer stem_conv would have 64 x 0.007 = 0.448 "
                "channels, which rounds to zero"
            ),
        ),
        ("keras.applications.ResNet50", 0.5, "model keras.applications.ResNet50 takes no width"),
    ],
)
def test_widths_a_model_cannot_take_are_refused(model, width, message):
    with pytest.raises(ValueError) as error:
        sweep.grid([model], [0.5], [0.0], [0], widths=[width])
    assert str(error.value).startswith(message)


def test_smallest_width_factor_that_keeps_a_channel():
    (run,) = sweep.grid(["conv6"], [0.5], [0.0], [0], weight_trained=False, widths=[0.0079])
    assert dict(run.flags)["width_factor"] == "0.0079"  # 64 x 0.0079 = 0.5056 rounds to 1


def test_listed_runs_with_widths_are_grid_runs():
    entries = [sweep.parse_listed(t) for t in ("dense:s0.5:w0.354", "frozen:f0.5:s0.5", "weights:w0.354")]
    assert entries[0] == (sweep_table.DENSE_SOURCE, 0.5, None, 0.354)
    runs = sweep.listed(["conv6"], entries, [0, 1])
    assert [r.name for r in runs] == [
        f"conv6_{name}_seed{seed}"
        for seed in (0, 1)
        for name in ("w0.354_s0.5_dense", "s0.5_f0.5_frozen", "w0.354_weights")
    ]
    grid = {r.name: r for r in sweep.grid(["conv6"], [0.5], [0.0, 0.5], [0, 1], widths=[None, 0.354])}
    assert all(grid[r.name] == r for r in runs)
    with pytest.raises(ValueError, match="takes a whole number"):
        sweep.listed(["fc"], [sweep.parse_listed("dense:s0.5:w0.5")], [0])


def test_table_carries_the_width(tmp_path):
    root = tmp_path / "sweep"
    fake_results(root / "a", 0.80, 1000, algo="ep", sparsity=0.5, prune_ratio=0, lock_ratio=0, width=646, seed=0)
    fake_results(root / "b", 0.84, 2000, algo="ep", sparsity=0.5, prune_ratio=0, lock_ratio=0, seed=0)
    fake_results(
        root / "c",
        0.70,
        1500,
        algo="ep",
        sparsity=0.5,
        prune_ratio=0,
        lock_ratio=0,
        width=None,
        width_factor=0.354,
        seed=0,
    )
    rows = sweep_table.collect(root)
    assert [r["width"] for r in rows] == [646.0, "", 0.354]
    sweep_table.write_csv(rows, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().splitlines()[0].endswith(",width")
    assert [r["width"] for r in sweep_table.read_csv(tmp_path / "r.csv")] == [646.0, "", 0.354]
    # a table written before widths were swept reads with the search flags' width
    old = [
        ",".join(c for c in sweep_table.COLUMNS if c != "width"),
        "a,fc,fashion_mnist,dense source,ep,0.5,0,0,0,0,0.8,0.8,1000,32000,0.5,3",
    ]
    (tmp_path / "old.csv").write_text("\n".join(old) + "\n")
    (row,) = sweep_table.read_csv(tmp_path / "old.csv")
    assert row["width"] == "" and row["test_accuracy"] == 0.8
    # each width is a configuration of its own
    configs = pareto.aggregate(rows)
    assert sorted(c["model_size_bits"] for c in configs) == [1000, 1500, 2000]


def test_sweep_resumes_by_width_and_refuses_a_changed_width(tmp_path):
    script = tmp_path / "fake_search.py"
    script.write_text(FAKE_SEARCH)
    launch = sweep.subprocess_launcher(program=(sys.executable, str(script)))
    runs = sweep.grid(["fc"], [0.5], [0.0], [0, 1], weight_trained=False, widths=[None, 646, 300])
    root = tmp_path / "out"
    assert sweep.execute(runs[:3], root, launch, log=lambda m: None) == []
    lines = []
    assert sweep.execute(runs, root, launch, log=lines.append) == []
    assert lines[0].startswith(f"3 of {len(runs)} runs already finished; running 3")
    calls = (root / "calls.txt").read_text().split()
    assert sorted(calls) == sorted(r.name for r in runs)  # each run exactly once
    # a finished run stored with another width is found, never reused
    (run,) = [r for r in runs if r.name == "fc_w646_s0.5_dense_seed0"]

    def config_of(r):
        return search_flags.config_of_command(r.command(root, program=()))

    stored = dataclasses.asdict(config_of(run)) | {"width": 512}
    results = root / run.name / "results.json"
    results.write_text(json.dumps({"test_accuracy": 0.5, "model_size_bits": 10, "flags": stored}))
    others = [r for r in runs if r.name.startswith("fc_w646")]
    for other in others:
        if other is not run:
            finished = root / other.name / "results.json"
            finished.write_text(
                json.dumps({"test_accuracy": 0.5, "model_size_bits": 10, "flags": dataclasses.asdict(config_of(other))})
            )
    assert sweep.changed_runs(others, root, config_of) == [(run, ("width", 512, 646))]


def configuration(source, width, f, s, bits):
    """The columns naming an FC configuration of `source` (p = f, r = 0) and its size."""
    return {
        "model": "fc",
        "source": source,
        "width": width,
        "sparsity": s,
        "freeze_ratio": f,
        "prune_ratio": f,
        "lock_ratio": 0,
        "model_size_bits": bits,
    }


def dense_and_frozen_configs():
    def config(source, width, f, s, bits, accuracy, std=0.0):
        return {
            **configuration(source, width, f, s, bits),
            "accuracy_mean": accuracy,
            "accuracy_std": std,
            "seeds": 3,
        }

    return [
        config(sweep_table.DENSE_SOURCE, "", 0, 0.5, 2000, 0.86),
        config(sweep_table.DENSE_SOURCE, "", 0, 0.7, 2000, 0.87),
        config(sweep_table.DENSE_SOURCE, 646, 0, 0.5, 1000, 0.85),
        config(sweep_table.DENSE_SOURCE, 646, 0, 0.7, 1000, 0.84),
        config(sweep_table.DENSE_SOURCE, 477, 0, 0.5, 600, 0.83),
        config(sweep_table.FROZEN_SOURCE, "", 0.5, 0.5, 1000, 0.845),
        config(sweep_table.FROZEN_SOURCE, "", 0.7, 0.7, 600, 0.82),
        config(sweep_table.FROZEN_SOURCE, 646, 0.5, 0.5, 500, 0.80),
        config(sweep_table.PRUNED_SOURCE, "", 0.5, 0.7, 1000, 0.846),
    ]


def test_source_curves_dense_over_widths_frozen_per_width():
    curves = pareto.source_curves(dense_and_frozen_configs(), sweep_table.DENSE_SOURCE)
    summary = {
        (source, width): [(c["width"], c["freeze_ratio"], c["sparsity"]) for c in points]
        for source, width, points in curves
    }
    assert summary == {
        # the best sparsity at each width, smallest ticket first
        (sweep_table.DENSE_SOURCE, None): [(477, 0, 0.5), (646, 0, 0.5), ("", 0, 0.7)],
        (sweep_table.FROZEN_SOURCE, ""): [("", 0.7, 0.7), ("", 0.5, 0.5)],
        (sweep_table.FROZEN_SOURCE, 646): [(646, 0.5, 0.5)],
        (sweep_table.PRUNED_SOURCE, ""): [("", 0.5, 0.7)],
    }


def equal_size_rows():
    def runs(source, width, f, s, bits, accuracies):
        return [
            {
                **configuration(source, width, f, s, bits),
                "seed": str(seed),  # as sweep_table.read_csv gives it
                "test_accuracy": accuracy,
            }
            for seed, accuracy in enumerate(accuracies)
            if accuracy is not None
        ]

    dense, frozen, pruned = sweep_table.DENSE_SOURCE, sweep_table.FROZEN_SOURCE, sweep_table.PRUNED_SOURCE
    return (
        runs(dense, "", 0, 0.7, 2000, (0.87, 0.88, 0.86))
        + runs(dense, 646, 0, 0.5, 1000, (0.85, 0.86, 0.84))
        + runs(dense, 646, 0, 0.7, 1000, (0.80, 0.80, 0.80))
        + runs(frozen, "", 0.5, 0.9, 1010, (0.84, 0.83, 0.85))
        + runs(frozen, "", 0.5, 0.7, 1010, (0.70, 0.70, 0.70))
        + runs(pruned, "", 0.5, 0.9, 1030, (0.90, 0.90, 0.90))  # 3 % larger: not equal size
        + runs(dense, 477, 0, 0.5, 600, (0.83, 0.82, 0.84))
        + runs(frozen, "", 0.7, 0.9, 600, (0.80, 0.81, None))  # seed 2 not run
    )


def test_equal_size_pairs_best_sparsity_common_seeds():
    pairs = pareto.equal_size_pairs(equal_size_rows(), sweep_table.DENSE_SOURCE, tolerance=0.02)
    summary = [
        (p["reference"]["width"], p["reference"]["sparsity"], p["other"]["freeze_ratio"], p["other"]["sparsity"])
        for p in pairs
    ]
    # largest first; each source at its most accurate sparsity; the pruned
    # source 3 % larger and the full-width dense source have no partner
    assert summary == [(646, 0.5, 0.5, 0.9), (477, 0.5, 0.7, 0.9)]
    assert [seed for seed, _ in pairs[0]["differences"]] == [0, 1, 2]
    assert [d for _, d in pairs[0]["differences"]] == pytest.approx([0.01, 0.03, -0.01])
    assert [seed for seed, _ in pairs[1]["differences"]] == [0, 1]
    assert [d for _, d in pairs[1]["differences"]] == pytest.approx([0.03, 0.01])
    wider = pareto.equal_size_pairs(equal_size_rows(), sweep_table.DENSE_SOURCE, tolerance=0.05)
    assert [p["other"]["source"] for p in wider[:2]] == [sweep_table.FROZEN_SOURCE, sweep_table.PRUNED_SOURCE]


def test_paired_markdown_table():
    assert markdown_tables.paired(equal_size_rows()).splitlines()[2:] == [
        "| 1,000 / 1,010 | 85.00 ± 1.00 (width 646, s 0.5) | frozen source: 84.00 ± 1.00 (width default, f 0.5, s 0.9) "
        "| +1.00 ± 2.00 | +1.00 (seed 0), +3.00 (seed 1), -1.00 (seed 2) |",
        "| 600 / 600 | 83.00 ± 1.00 (width 477, s 0.5) | frozen source: 80.50 ± 0.71 (width default, f 0.7, s 0.9) "
        "| +2.00 ± 1.41 | +3.00 (seed 0), +1.00 (seed 1) |",
    ]


def test_figures_of_a_sweep_with_widths(tmp_path):
    rows = []
    for c in dense_and_frozen_configs():
        rows += [
            {**c, "test_accuracy": c["accuracy_mean"] + d, "seed": seed} for seed, d in enumerate((-0.01, 0.0, 0.01))
        ]
    rows.append(
        {
            "model": "fc",
            "source": sweep_table.WEIGHT_TRAINED,
            "width": "",
            "sparsity": "",
            "freeze_ratio": 0,
            "prune_ratio": 0,
            "lock_ratio": 0,
            "model_size_bits": 64000,
            "test_accuracy": 0.88,
            "seed": 0,
        }
    )
    paths = plots.accuracy_vs_size(rows, tmp_path / "size", "t")
    paths += plots.accuracy_vs_freeze_ratio(rows, 0.5, tmp_path / "freeze", "t")
    assert [p.name for p in paths] == ["size.png", "size.svg", "freeze.png", "freeze.svg"]
    svg = (tmp_path / "size.svg").read_text()
    # the legend names each curve (matplotlib writes text as paths, with the text in a comment)
    for label in (
        "SLT in dense source (over widths 477, 646, default)",
        "SLT in frozen source, width default",
        "SLT in frozen source, width 646",
        "SLT in pruned source",
        "weight-trained",
    ):
        assert f"<!-- {label}" in svg, label


@pytest.mark.slow
def test_sweep_cli_widths(tmp_path):
    result = run_tool(
        "tools/sweep.py",
        f"--output_dir={tmp_path}",
        "--models=fc",
        "--sparsities=0.5",
        "--freeze_ratios=0",
        "--widths=1024,646",
        "--noweight_trained",
        "--dry_run",
    )
    assert result.returncode == 0, result.stderr
    assert [line.split(" --")[-2:] for line in result.stdout.strip().splitlines()] == [
        ["seed=0", f"output_dir={tmp_path / 'fc_w1024_s0.5_dense_seed0'}"],
        ["seed=0", f"output_dir={tmp_path / 'fc_w646_s0.5_dense_seed0'}"],
    ]
    assert "--width=646 " in result.stdout
    result = run_tool("tools/sweep.py", f"--output_dir={tmp_path}", "--models=conv6", "--widths=0.5,0.001")
    assert one_error_line(result, 2) == (
        "error: --widths: width factor 0.001 of conv6: its layer conv1 would have 64 x 0.001 = 0.064 channels, "
        "which rounds to zero"
    )
    result = run_tool("tools/sweep.py", f"--output_dir={tmp_path}", "--runs=dense:s0.5:w0.5", "--widths=1")
    assert one_error_line(result, 2) == "error: --widths applies to the grid; give the widths of --runs as :wW"
