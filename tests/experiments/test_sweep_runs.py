"""Running a sweep: searches in the sweep's process, progress and the time left, run flags."""

import json

import pytest
from helpers import one_error_line, run_tool

from keras_slt.cli import in_process
from keras_slt.experiments import sweep


def test_progress_counts_runs_and_estimates_the_time_left(tmp_path):
    runs = sweep.grid(["fc"], [0.5], [0.0], [0, 1, 2, 3], weight_trained=False)
    ticks = iter([0.0, 30.0, 60.0, 100.0])  # start, then the end of each launched run

    def launch(run, output_root, log):
        log.write("searching\n")
        if run.name.endswith("seed2"):
            print("error: sparsity=2 must be in [0, 1)", file=log)
            return 2
        (sweep.run_folder(output_root, run) / "results.json").write_text(
            json.dumps({"test_accuracy": 0.5, "model_size_bits": 10, "flags": dict(run.flags)})
        )
        return 0

    (tmp_path / runs[0].name).mkdir()
    (tmp_path / runs[0].name / "results.json").write_text(
        json.dumps({"test_accuracy": 0.5, "model_size_bits": 10, "flags": {}})
    )
    lines = []
    failed = sweep.execute(runs, tmp_path, launch, log=lines.append, clock=lambda: next(ticks))
    assert failed == ["fc_s0.5_dense_seed2"]
    assert lines[0] == "1 of 4 runs already finished; running 3"
    assert lines[1].startswith("done: fc_s0.5_dense_seed1 (")
    assert lines[1].endswith(" [1 of 3 done, 30 s elapsed, about 1 min left]")
    assert lines[2] == (
        f"FAILED (2): fc_s0.5_dense_seed2: sparsity=2 must be in [0, 1); "
        f"its log: {tmp_path / 'fc_s0.5_dense_seed2' / 'log.txt'} [2 of 3 done, 1 min elapsed, "
        "about 30 s left]"
    )
    assert lines[3].endswith(" [3 of 3 done, 2 min elapsed]")
    assert (tmp_path / "fc_s0.5_dense_seed1" / "log.txt").read_text() == "searching\n"


@pytest.mark.slow
def test_searches_in_the_sweeps_process(tmp_path, data_dir):
    runs = sweep.grid(["fc"], [0.5], [0.5], [0], weight_trained=False, pruned_source=False, widths=[16])
    base = ["--dataset=fashion_mnist", f"--data_dir={data_dir}", "--epochs=1", "--batch_size=32"]
    lines = []
    assert sweep.execute(runs, tmp_path, in_process.search_launcher(base), log=lines.append) == []
    assert [line.split(" (")[0] for line in lines[1:]] == [f"done: {run.name}" for run in runs]
    for run in runs:
        results = json.loads((tmp_path / run.name / "results.json").read_text())
        assert results["flags"]["width"] == 16 and results["epochs_done"] == 1
        log = (tmp_path / run.name / "log.txt").read_text()
        # one line per epoch (160 training examples: 5 batches of 32), then the summary
        assert (
            "5/5 - " in log
            and f"fc on fashion_mnist, ep (sparsity s=0.5, prune ratio p={results['prune_ratio']:g}" in log
        )
    # a run that fails says why in its log and the sweep goes on
    bad = sweep.grid(["fc"], [0.5], [0.0], [1], weight_trained=False, widths=[16])
    lines = []
    failed = sweep.execute(
        bad + runs, tmp_path, in_process.search_launcher(base + ["--image_size=8,8"]), log=lines.append
    )
    assert failed == [bad[0].name]
    assert lines[1].startswith(f"FAILED (2): {bad[0].name}: --image_size=8,8 does not apply to --dataset fashion_mnist")
    assert (tmp_path / bad[0].name / "log.txt").read_text().startswith("error: --image_size=8,8 does not apply")


@pytest.mark.slow
def test_a_search_in_the_sweeps_process_matches_the_search_tool(tmp_path, data_dir):
    (run,) = sweep.grid(["fc"], [0.5], [0.5], [3], weight_trained=False, pruned_source=False, widths=[16])
    base = ["--dataset=fashion_mnist", f"--data_dir={data_dir}", "--epochs=2", "--batch_size=32"]
    assert sweep.execute([run], tmp_path / "here", in_process.search_launcher(base), log=lambda m: None) == []
    assert sweep.execute([run], tmp_path / "tool", sweep.subprocess_launcher(base), log=lambda m: None) == []
    here, tool = (json.loads((tmp_path / where / run.name / "results.json").read_text()) for where in ("here", "tool"))
    assert here["model_size_bits"] == tool["model_size_bits"]
    assert here["layer_sparsity"] == pytest.approx(tool["layer_sparsity"], abs=1e-6)
    assert here["test_accuracy"] == pytest.approx(tool["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_sweep_passes_run_flags_and_checks_every_run_first(tmp_path):
    result = run_tool(
        "tools/sweep.py",
        f"--output_dir={tmp_path}",
        "--models=fc",
        "--sparsities=0.5",
        "--freeze_ratios=0",
        "--noweight_trained",
        "--search_flagfile=configs/fashion_mnist_fc.flags",
        "--epochs=1",
        "--batch_size=64",
        "--dry_run",
    )
    assert result.returncode == 0, result.stderr
    (command,) = result.stdout.strip().splitlines()
    assert "--flagfile=configs/fashion_mnist_fc.flags --epochs=1 --batch_size=64 --model=fc " in command
    result = run_tool(
        "tools/sweep.py",
        f"--output_dir={tmp_path}",
        "--models=fc",
        "--sparsities=0.5",
        "--freeze_ratios=0,0.5",
        "--noweight_trained",
        "--epochs=1",
        "--dataset=cifar10",
    )
    assert one_error_line(result, 2).startswith("error: Unknown command line flag 'dataset'")
    result = run_tool(
        "tools/sweep.py",
        f"--output_dir={tmp_path / 'out'}",
        "--models=fc",
        "--sparsities=0.5",
        "--freeze_ratios=0",
        "--noweight_trained",
        "--search_flagfile=configs/fashion_mnist_fc.flags",
        "--batch_size=0",
    )
    assert one_error_line(result, 2).startswith("error: run fc_s0.5_dense_seed0: --batch_size")
    assert not (tmp_path / "out").exists()  # refused before any run started
