"""Run folders, flags and files as a hostile user gives them.

Two processes on one folder, non-finite settings and losses, every kind of
damaged file a run folder or a sweep holds, folders that cannot be written:
each is refused with one line naming the file or flag, with a non-zero exit
status from the command lines, no traceback, and the user's files unchanged.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib

import keras
import numpy as np
import pytest
from helpers import ROOT, one_error_line, run_tool, tiny_config

import keras_slt
from keras_slt.cli import common
from keras_slt.experiments import folder_lock, run_files, runner, sources, sweep, sweep_table
from keras_slt.search import callbacks
from keras_slt.utils import files


def snapshot(folder):
    """Every file below `folder` (the lock file aside) and its bytes."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            if name != run_files.LOCK:
                path = os.path.join(parent, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, folder)] = f.read()
    return found


# --- two processes on one folder ----------------------------------------------

HOLDER_SCRIPT = textwrap.dedent("""
    import sys, time
    import keras
    sys.path.insert(0, "tests")
    from helpers import tiny_config
    from keras_slt.experiments import runner

    class Stall(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            open(sys.argv[3], "w").close()  # tells the test the first epoch is saved
            time.sleep(600)  # stopped, then killed, here

    runner.run_search(tiny_config(sys.argv[1], sys.argv[2], epochs=3), callbacks=[Stall()])
""")


@pytest.mark.slow
def test_second_search_on_a_busy_folder_is_refused_and_a_killed_run_resumes(data_dir, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    stalled = tmp_path / "stalled"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, data_dir, str(out), str(stalled)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not stalled.exists():  # the first epoch is saved, the holder stalls
            assert holder.poll() is None, holder.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # The stalled holder's background threads (TensorBoard's event writer
        # flushes on its own clock) may still write to the folder; stopped,
        # it holds its lock and writes nothing, so any change to the folder
        # from here on would be the refused run's.
        holder.send_signal(signal.SIGSTOP)
        lock_text = (out / run_files.LOCK).read_text()
        assert lock_text.startswith(f"pid {holder.pid} on ")
        before = snapshot(out)
        second = run_tool(
            "tools/search.py",
            "--model=fc",
            "--width=16",
            "--dataset=fashion_mnist",
            f"--data_dir={data_dir}",
            "--epochs=3",
            "--batch_size=32",
            f"--output_dir={out}",
            timeout=300,
        )
        line = one_error_line(second, 1)
        assert line == f"error: {out} is in use by {lock_text.strip()}; wait for that run to end, or use another folder"
        assert snapshot(out) == before and (out / run_files.LOCK).read_text() == lock_text
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The killed run's lock file stays behind but blocks nothing: the run resumes.
    assert json.loads((out / run_files.STATE).read_text())["epoch"] == 1
    results = runner.run_search(tiny_config(data_dir, out, epochs=3))
    assert results["epochs_done"] == 3 and [h["epoch"] for h in results["history"]] == [1, 2, 3]
    assert (out / run_files.LOCK).read_text().startswith(f"pid {os.getpid()} on ")


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    with folder_lock.hold(tmp_path / "a"):
        with pytest.raises(folder_lock.FolderInUseError, match=f"pid {os.getpid()} on "):
            with folder_lock.hold(tmp_path / "a"):
                pass
    with folder_lock.hold(tmp_path / "a"):  # released at the end of the block
        pass


# --- non-finite settings and losses -------------------------------------------


@pytest.mark.parametrize(
    "setting, value",
    [
        ("lr", float("inf")),
        ("lr", float("nan")),
        ("momentum", float("nan")),
        ("weight_decay", float("inf")),
        ("sparsity", float("nan")),
        ("freeze_ratio", float("-inf")),
        ("width_factor", float("nan")),
    ],
)
def test_non_finite_settings_are_refused(data_dir, tmp_path, setting, value):
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(tiny_config(data_dir, tmp_path / "out", **{setting: value}))
    assert str(error.value) == f"{setting} must be a finite number, got {value}"
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_non_finite_flag_exits_with_one_line(data_dir, tmp_path):
    result = run_tool(
        "tools/search.py",
        "--model=fc",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--lr=inf",
        f"--output_dir={tmp_path / 'out'}",
        timeout=120,
    )
    assert one_error_line(result, 2) == "error: --lr must be a finite number, got inf"
    assert not (tmp_path / "out").exists()


class Poison(keras.callbacks.Callback):
    """Makes the first layer's scores NaN after epoch `after` (its checkpoint written)."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            scores = self.model.supermask_layers[0].scores
            scores.assign(np.full(scores.shape, np.nan, "float32"))


def test_nan_during_a_run_stops_it_keeping_the_last_good_checkpoint(data_dir, tmp_path):
    with pytest.raises(callbacks.NonFiniteTrainingError) as error:
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=3), callbacks=[Poison(after=1)])
    message = str(error.value)
    assert "\n" not in message and "in epoch 2" in message
    assert message.endswith(f"{tmp_path} keeps the checkpoint of the last complete epoch (1)")
    state = json.loads((tmp_path / run_files.STATE).read_text())
    assert state["epoch"] == 1 and (tmp_path / run_files.checkpoint(1)).is_file()
    assert not (tmp_path / run_files.RESULTS).exists()
    best = keras.saving.load_model(tmp_path / run_files.BEST_MODEL)
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in best.trainable_variables)
    resumed = runner.run_search(tiny_config(data_dir, tmp_path, epochs=3))
    assert resumed["epochs_done"] == 3 and all(np.isfinite(h["loss"]) for h in resumed["history"])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_supermask_fit_refuses_non_finite_inputs(bad):
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    model = keras_slt.supermaskify(base, sparsity=0.5, seed=0)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.ones((8, 4), "float32")
    x[5, 1] = bad
    with pytest.raises(callbacks.NonFiniteTrainingError, match="training loss became (nan|inf) in epoch 1, batch 2"):
        model.fit(
            x,
            np.zeros(8, "int32"),
            batch_size=4,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[callbacks.StopOnNonFinite()],
        )


# --- folders that cannot be written --------------------------------------------


def test_output_dir_under_a_file_is_refused_before_data_is_loaded(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"user data")
    empty = tmp_path / "no_data"  # loading data from here would fail first, naming data_dir
    empty.mkdir()
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(tiny_config(str(empty), blocker / "run"))
    assert str(error.value) == f"output_dir {blocker / 'run'}: cannot write there (Not a directory)"
    assert blocker.read_bytes() == b"user data"


@pytest.mark.parametrize(
    "call, failure, reason",
    [
        ("open", PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
        ("pwrite", OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    ],
)
def test_read_only_or_full_output_dir_is_refused(data_dir, tmp_path, monkeypatch, call, failure, reason):
    def refuse(*args, **kwargs):
        raise failure

    monkeypatch.setattr(folder_lock.os, call, refuse)
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(tiny_config(data_dir, tmp_path / "run"))
    assert str(error.value) == f"output_dir {tmp_path / 'run'}: cannot write there ({reason})"


@pytest.mark.parametrize(
    "error, line",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "runs/a/ckpt-1.weights.h5"),
            "error: runs/a/ckpt-1.weights.h5: no space left on device",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "out/ticket.slt"),
            "error: out/ticket.slt: Permission denied",
        ),
        (MemoryError(), "error: out of memory; lower --batch_size or use a smaller model"),
        (
            zlib.error("Error -3 while decompressing data"),
            "error: damaged compressed data (Error -3 while decompressing data)",
        ),
        (KeyError("layer_sparsity"), "error: KeyError: 'layer_sparsity'"),
        (
            folder_lock.FolderInUseError("runs/a is in use by pid 1 on h; wait"),
            "error: runs/a is in use by pid 1 on h; wait",
        ),
        (files.DamagedFileError("runs/a/state.json is damaged (x)"), "error: runs/a/state.json is damaged (x)"),
        (
            callbacks.NonFiniteTrainingError("training loss became nan in epoch 2, batch 1; lower the learning rate"),
            "error: training loss became nan in epoch 2, batch 1; lower the learning rate",
        ),
        (
            runner.WorkerLostError("lost worker 1 (host1:12345): x; start the same command on every worker"),
            "error: lost worker 1 (host1:12345): x; start the same command on every worker",
        ),
    ],
)
def test_error_families_become_one_line_at_the_command_line(monkeypatch, capsys, error, line):
    assert tool_error(monkeypatch, capsys, error) == (2 if isinstance(error, ValueError) else 1, [line])


@pytest.mark.requires_tensorflow
@pytest.mark.parametrize(
    "name, message, line",
    [
        (
            "ResourceExhaustedError",
            "OOM when allocating tensor",
            "error: out of memory; lower --batch_size or use a smaller model",
        ),
        (
            "InvalidArgumentError",
            "Input is not finite\n\t [[node x]]",
            "error: InvalidArgumentError: Input is not finite",
        ),
    ],
)
def test_tensorflow_errors_become_one_line_at_the_command_line(monkeypatch, capsys, name, message, line):
    import tensorflow as tf

    assert tool_error(monkeypatch, capsys, getattr(tf.errors, name)(None, None, message)) == (1, [line])


def tool_error(monkeypatch, capsys, error):
    """The exit status and stderr lines of a tool whose main raises `error`."""

    def main(argv):
        raise error

    monkeypatch.setattr(sys, "argv", ["tool"])
    with pytest.raises(SystemExit) as exit_:
        common.run(main)
    return exit_.value.code, capsys.readouterr().err.splitlines()


def test_a_bug_keeps_its_traceback(monkeypatch):
    def main(argv):
        raise AssertionError("a bug")

    monkeypatch.setattr(sys, "argv", ["tool"])
    with pytest.raises(AssertionError):
        common.run(main)


# --- damaged files in a run folder -----------------------------------------------


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):
    """A finished 1-epoch run's folder (copy it before damaging it)."""
    out = tmp_path_factory.mktemp("finished")
    runner.run_search(tiny_config(data_dir, out, epochs=1))
    return out


def damaged_copy(run, tmp_path, name, content):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    (folder / name).write_bytes(content)
    return folder


# A state.json as a run writes it after its first epoch; each damage below changes one thing.
VALID_STATE = {
    "epoch": 1,
    "weights": "ckpt-1.weights.h5",
    "best_epoch": 1,
    "best_value": 0.1,
    "history": [],
    "elapsed_s": 1.0,
    "metadata": {"flags": {}},
}
STATE_DAMAGE = [
    (b'{"epoch": 1,', "Expecting"),
    (b"\xff\xfe garbage", "invalid start byte"),
    (b"[1, 2]", "not the state of a run"),
    (json.dumps(dict(VALID_STATE, weights="../../elsewhere.weights.h5")).encode(), "not the state of a run"),
    (json.dumps(dict(VALID_STATE, epoch="1")).encode(), "not the state of a run"),
]


@pytest.mark.parametrize("content, reason", STATE_DAMAGE)
def test_damaged_state_is_refused_naming_it(finished_run, data_dir, tmp_path, content, reason):
    folder = damaged_copy(finished_run, tmp_path, run_files.STATE, content)
    before = snapshot(folder)
    with pytest.raises(files.DamagedFileError) as error:
        runner.run_search(tiny_config(data_dir, folder, epochs=1))
    message = str(error.value)
    assert message.startswith(f"{folder / run_files.STATE} is damaged (") and reason in message
    assert message.endswith("; delete the run folder, or use another output folder, to start the run over")
    assert "\n" not in message and snapshot(folder) == before


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + bytes(100), b"not hdf5 at all"])
def test_damaged_checkpoint_is_refused_naming_it(finished_run, data_dir, tmp_path, content):
    folder = damaged_copy(finished_run, tmp_path, run_files.checkpoint(1), content)
    (folder / run_files.RESULTS).unlink()  # a finished run's results are returned without its checkpoint
    before = snapshot(folder)
    with pytest.raises(files.DamagedFileError) as error:
        runner.run_search(tiny_config(data_dir, folder, epochs=1))
    message = str(error.value)
    assert message.startswith(f"{folder / run_files.checkpoint(1)} is damaged (")
    assert message.endswith("to start the run over") and "\n" not in message
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{"flags": ', "Expecting value: line 1 column 11 (char 10)"),
        (b"[]", "not the results of a search"),
        (b'{"flags": 3, "test_accuracy": 0.5, "model_size_bits": 1}', "not the results of a search"),
        (
            b'{"flags": {"sparsity": "half"}, "test_accuracy": 0.5, "model_size_bits": 1}',
            "could not convert string to float: 'half'",
        ),
    ],
)
def test_damaged_results_are_refused_by_the_sweep(finished_run, tmp_path, content, reason):
    folder = damaged_copy(finished_run, tmp_path, run_files.RESULTS, content)
    with pytest.raises(files.DamagedFileError) as error:
        sweep_table.collect(tmp_path)
    assert str(error.value) == (
        f"{folder / run_files.RESULTS} is damaged ({reason}); delete that run's folder to run it again"
    )


@pytest.mark.parametrize("content", [b"\x00\x01", b'{"flags": [1]}'])
def test_damaged_results_are_refused_by_the_export(finished_run, tmp_path, content):
    folder = damaged_copy(finished_run, tmp_path, run_files.RESULTS, content)
    with pytest.raises(files.DamagedFileError, match=f"^{folder / run_files.RESULTS} is damaged"):
        sources.search_run(str(folder))


REQUIRED_COLUMNS = [c for c in sweep_table.COLUMNS if c not in sweep_table.OPTIONAL_COLUMNS]


def csv_text(rows):
    return "\n".join([",".join(REQUIRED_COLUMNS)] + rows) + "\n"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("run,model\nx,fc\n", f"not a sweep table: no column {', '.join(REQUIRED_COLUMNS[2:])}"),
        (
            csv_text(["a,fc,fashion_mnist,frozen source,ep,0.5,0.5,0.25,0.25,0,high,0.8,100,200,0.5,3"]),
            "line 2: test_accuracy 'high' is not a number",
        ),
        (csv_text(["a,fc,fashion_mnist,frozen source,ep,0.5"]), "line 2 has 6 fields, not 16"),
        (
            csv_text(["a,fc,fashion_mnist,frozen source,ep,0.5,0.5,0.25,0.25,0,0.8,0.8,100,200,0.5,3,extra"]),
            "line 2 has 17 fields, not 16",
        ),
    ],
)
def test_garbled_sweep_table_is_refused_naming_it(tmp_path, text, reason):
    path = tmp_path / "results.csv"
    path.write_text(text)
    with pytest.raises(files.DamagedFileError) as error:
        sweep_table.read_csv(path)
    assert str(error.value) == f"{path} is damaged ({reason})"


@pytest.mark.slow
def test_garbled_table_through_the_plot_tool(tmp_path):
    path = tmp_path / "results.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    result = run_tool("tools/plot.py", f"--csv={path}", f"--output_dir={tmp_path / 'figures'}", timeout=120)
    assert one_error_line(result, 2).startswith(f"error: {path} is damaged (")
    assert path.read_bytes() == b"\xff\xfe\x00garbage"


# --- model files ------------------------------------------------------------------


def unknown_class_model(path):
    """A .keras file whose first Dense layer names a class Keras does not know."""
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(path.with_suffix(".tmp.keras"))
    with zipfile.ZipFile(path.with_suffix(".tmp.keras")) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "config.json":
                content = content.replace(b'"Dense"', b'"NoSuchLayer"')
            target.writestr(item, content)
    os.remove(path.with_suffix(".tmp.keras"))
    return path


def test_unknown_class_is_refused_naming_the_file(tmp_path):
    path = unknown_class_model(tmp_path / "odd.keras")
    with pytest.raises(
        ValueError, match=f"^model file {path} cannot be loaded \\(ValueError: .*'keras.layers.NoSuchLayer'"
    ):
        sources.load_model(str(path))


@pytest.mark.slow
@pytest.mark.parametrize(
    "tool, flags",
    [
        ("deploy/export.py", ["--format=keras"]),
        pytest.param("deploy/benchmark_tflite.py", ["--runs=1"], marks=pytest.mark.requires_tensorflow),
    ],
)
def test_unknown_class_through_the_deploy_tools(tmp_path, tool, flags):
    path = unknown_class_model(tmp_path / "odd.keras")
    before = snapshot(tmp_path)
    result = run_tool(tool, f"--model_path={path}", *flags, timeout=120)
    line = one_error_line(result, 2)
    assert line.startswith(f"error: model file {path} cannot be loaded (") and "NoSuchLayer" in line
    assert snapshot(tmp_path) == before


def test_best_keras_of_a_run_as_model_is_refused(finished_run, data_dir, tmp_path):
    best = finished_run / run_files.BEST_MODEL
    with pytest.raises(runner.ConfigError, match=f"^model {best}: model file {best} holds a searched ticket"):
        runner.run_search(tiny_config(data_dir, tmp_path / "out", model=str(best), width=None))


def test_batch_larger_than_the_data_is_refused(data_dir, tmp_path):
    with pytest.raises(runner.ConfigError, match="^batch_size 1000 is larger than the 160 training examples$"):
        runner.run_search(tiny_config(data_dir, tmp_path, batch_size=1000))


@pytest.mark.slow
def test_export_into_a_symlink_of_the_run_folder_keeps_best_keras(finished_run, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(finished_run)
    before = snapshot(finished_run)
    result = run_tool(
        "deploy/export.py", f"--output_dir={finished_run}", f"--export_dir={link}", "--name=best", timeout=120
    )
    assert one_error_line(result, 2) == (
        f"error: --name=best would overwrite the model being exported, {finished_run / run_files.BEST_MODEL}"
    )
    assert snapshot(finished_run) == before


@pytest.mark.slow
def test_export_dir_that_is_a_file_is_refused(finished_run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"user data")
    result = run_tool("deploy/export.py", f"--output_dir={finished_run}", f"--export_dir={blocker}", timeout=120)
    assert one_error_line(result, 1) == f"error: {blocker}: Not a directory"
    assert blocker.read_bytes() == b"user data"


# --- sweeps --------------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_refuses_a_finished_run_whose_flags_changed(finished_run, tmp_path):
    root = tmp_path / "sweep"
    flagfile = tmp_path / "search.flags"
    flagfile.write_text("--dataset=fashion_mnist\n--width=16\n--epochs=1\n--batch_size=32\n--sparsity=0.5\n--lr=0.2\n")
    (run,) = sweep.grid(["fc"], [0.5], [0.0], [0], weight_trained=False)
    shutil.copytree(finished_run, root / run.name)  # ran with lr=0.1
    results = json.loads((root / run.name / run_files.RESULTS).read_text())
    results["flags"].update(prune_ratio=0.0, lock_ratio=0.0)  # as the sweep's run gives them
    (root / run.name / run_files.RESULTS).write_text(json.dumps(results))
    before = snapshot(root)
    result = run_tool(
        "tools/sweep.py",
        f"--output_dir={root}",
        "--models=fc",
        "--sparsities=0.5",
        "--freeze_ratios=0",
        "--seeds=0",
        "--noweight_trained",
        f"--search_flagfile={flagfile}",
        timeout=120,
    )
    assert one_error_line(result, 2) == (
        f"error: {root / run.name} holds a finished run with --lr=0.1, not 0.2; "
        "pass --rerun_changed to run it again, or use another --output_dir"
    )
    assert snapshot(root) == before and not (root / "results.csv").exists()


def test_sweep_compares_every_setting_of_a_finished_run(finished_run, tmp_path):
    (run,) = sweep.grid(["fc"], [0.5], [0.0], [0], weight_trained=False)
    shutil.copytree(finished_run, tmp_path / run.name)
    stored = json.loads((finished_run / run_files.RESULTS).read_text())["flags"]
    same = runner.SearchConfig(**dict(stored, output_dir="elsewhere", data_dir=None))
    assert sweep.changed_runs([run], tmp_path, lambda r: same) == []
    other = runner.SearchConfig(**dict(stored, seed=1))
    assert sweep.changed_runs([run], tmp_path, lambda r: other) == [(run, ("seed", 0, 1))]


@pytest.mark.parametrize("model", ["../escape", "/abs/path/net.keras", "sub/dir/net.keras", "..", "a b"])
def test_sweep_run_folders_stay_inside_the_output_dir(tmp_path, model):
    runs = sweep.grid([model], [0.5], [0.0, 0.5], [0])
    for run in runs:
        assert "/" not in run.name and not run.name.startswith(".")
        assert sweep.run_folder(tmp_path, run).resolve().parent == tmp_path.resolve()
        assert dict(run.flags)["model"] == model  # the search still gets the model as given
    assert len({sweep.model_tag(m) for m in ("a/net.keras", "b/net.keras")}) == 2


def test_sweep_refuses_a_run_name_leaving_its_folder(tmp_path):
    with pytest.raises(ValueError, match="would write outside the sweep's folder"):
        sweep.run_folder(tmp_path, sweep.Run("../x", ()))
