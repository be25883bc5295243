"""A second hostile round: code from image files, lost user files, silent wrong results.

Written as a hostile user would: each crafted input is refused with a
non-zero exit status and one line naming the file or flag, no traceback, and
nothing of the user's changed (a marker file a payload would write never
appears, a victim file keeps its bytes); a result that must reproduce does.
"""

import csv
import dataclasses
import json
import os
import pickle
import shutil

import keras
import numpy as np
import PIL.EpsImagePlugin
import PIL.Image
import pytest
from fakes import write_cifar_dir, write_folder, write_planetoid
from helpers import StopAfterEpoch, assert_one_line, one_error_line, run_tool, tiny_config

from keras_slt import data, models
from keras_slt.data import DataError
from keras_slt.data.graphs import planetoid
from keras_slt.data.readers import cifar, cifar_folder, image_folder
from keras_slt.deploy import artifacts
from keras_slt.experiments import folder_lock, run_files, runner, sweep_table
from keras_slt.ticket import load_ticket
from keras_slt.utils import files

# --- code from image files ----------------------------------------------------------


def postscript(marker):
    """An EPS file whose PostScript writes `marker` when Ghostscript renders it."""
    return (
        f"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n"
        f"/f ({marker}) (w) file def f (ran) writestring f closefile\nshowpage\n"
    ).encode()


@pytest.fixture
def pillow_never_parses_eps(monkeypatch):
    """Fails the test if Pillow's EPS plugin parses a file (with Ghostscript installed or not)."""
    parsed = []
    real = PIL.EpsImagePlugin.EpsImageFile._open
    monkeypatch.setattr(PIL.EpsImagePlugin.EpsImageFile, "_open", lambda image: parsed.append(image.fp) or real(image))
    yield
    assert not parsed


def test_the_payload_runs_where_pillow_picks_the_decoder(tmp_path):
    """The crafted file is a real threat here: opened by content, Ghostscript writes the marker."""
    if shutil.which("gs") is None:
        pytest.skip("Ghostscript is not installed: the payload cannot run (apt-get install ghostscript)")
    (tmp_path / "x.png").write_bytes(postscript(tmp_path / "marker"))
    with PIL.Image.open(tmp_path / "x.png") as image:
        assert image.format == "EPS"
        try:
            image.load()
        except OSError:
            pass
    assert (tmp_path / "marker").exists()


@pytest.mark.parametrize("name", ["000.png", "001.jpg", "more/x.jpeg"])
def test_image_folder_never_hands_postscript_to_pillow(tmp_path, name, pillow_never_parses_eps):
    # 000.png sorts first in its class: its header gives the folder's image size.
    write_folder(tmp_path / "images", per_class=3)
    crafted = tmp_path / "images" / "dog" / name
    crafted.parent.mkdir(exist_ok=True)
    crafted.write_bytes(postscript(tmp_path / "marker"))
    for formats in (image_folder.DEFAULT_FORMATS, image_folder.FORMATS):
        with pytest.raises(DataError, match="is not a") as error:
            image_folder.load_dir(str(tmp_path / "images"), image_formats=formats)
        assert_one_line(error.value, crafted, "(it starts with b'%!PS-Ado')")
    assert not (tmp_path / "marker").exists()


def cifar10_jpegs_with_postscript(tmp_path, split, name):
    """A CIFAR-10 JPEG folder of one black image a class, plus PostScript posing as a JPEG in split/name."""
    root = tmp_path / "cifar"
    for each_split in cifar_folder.SPLITS:
        for each_name in cifar_folder.CLASSES:
            os.makedirs(root / each_split / each_name)
            PIL.Image.new("RGB", (32, 32)).save(root / each_split / each_name / "0000.jpg")
    crafted = root / split / name / "0001.jpg"
    crafted.write_bytes(postscript(tmp_path / "marker"))
    return root, crafted


def test_cifar10_jpeg_folder_never_hands_postscript_to_pillow(tmp_path, pillow_never_parses_eps):
    root, crafted = cifar10_jpegs_with_postscript(tmp_path, "test", "truck")
    with pytest.raises(DataError, match="it is not a JPEG file") as error:
        cifar_folder.load_dir(str(root))
    assert_one_line(error.value, crafted)
    assert not (tmp_path / "marker").exists()


@pytest.mark.slow
def test_search_refuses_postscript_in_the_cifar10_jpeg_folder(tmp_path):
    root, crafted = cifar10_jpegs_with_postscript(tmp_path, "train", "airplane")
    result = run_tool(
        "tools/search.py",
        "--dataset=cifar10",
        f"--data_dir={root}",
        "--model=fc",
        "--epochs=1",
        f"--output_dir={tmp_path / 'run'}",
        timeout=300,
    )
    assert_one_line(one_error_line(result, 2), crafted, "it is not a JPEG file")
    assert not (tmp_path / "marker").exists()


def test_bmp_and_gif_are_read_only_when_asked_for(tmp_path):
    write_folder(tmp_path, per_class=3)
    bmp = tmp_path / "owl" / "zz.bmp"
    PIL.Image.new("RGB", (5, 6), "white").save(bmp)
    with pytest.raises(DataError, match="it is a BMP file, and only JPEG, PNG images are read") as error:
        image_folder.load_dir(str(tmp_path))
    assert_one_line(error.value, bmp, "add BMP to image_formats")
    x_train, _, x_test, _, _ = image_folder.load_dir(str(tmp_path), image_formats="png,bmp")
    assert len(x_train) + len(x_test) == 10
    # A PNG named .jpg is read as what it is, a PNG; formats are known by content, never by name.
    os.rename(bmp, tmp_path / "owl" / "zz.jpg")
    PIL.Image.new("RGB", (5, 6), "white").save(tmp_path / "owl" / "zz.jpg", format="PNG")
    assert len(image_folder.load_dir(str(tmp_path))[0]) == 8


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"image_formats": "png,eps"}, "image_formats must be some of JPEG, PNG, BMP, GIF; got 'png,eps'"),
        ({"image_formats": ""}, "image_formats must be some of"),
        (
            {"image_formats": "png", "dataset": "fashion_mnist", "data_dir": None},
            "image_formats=png does not apply to dataset fashion_mnist",
        ),
    ],
)
def test_image_formats_setting_is_checked(tmp_path, settings, message):
    config = runner.SearchConfig(
        **{
            "model": "fc",
            "dataset": "image_folder",
            "data_dir": str(tmp_path),
            "output_dir": str(tmp_path / "run"),
            **settings,
        }
    )
    with pytest.raises(runner.ConfigError, match=message) as error:
        config.validate()
    assert "\n" not in str(error.value)


# --- files lost or overwritten ---------------------------------------------------------

VICTIM = b"the user's own file\n"


def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_bytes(VICTIM)
    return path


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a_lock_that_is_a_link_is_refused_unwritten(tmp_path, link):
    target = victim(tmp_path)
    (tmp_path / "run").mkdir()
    (os.symlink if link == "symbolic" else os.link)(target, tmp_path / "run" / run_files.LOCK)
    with (
        pytest.raises(folder_lock.LockFileError, match="symbolic link" if link == "symbolic" else "2 hard links"),
        folder_lock.hold(tmp_path / "run"),
    ):
        pass
    assert target.read_bytes() == VICTIM


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["search", "export", "sweep"])
def test_tools_never_write_a_lock_through_a_link(data_dir, ticket_path, tmp_path, tool):
    target = victim(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    os.symlink(target, folder / run_files.LOCK)
    script, *args = {
        "search": [
            "tools/search.py",
            "--model=fc",
            "--width=8",
            "--dataset=fashion_mnist",
            f"--data_dir={data_dir}",
            "--epochs=1",
            f"--output_dir={folder}",
        ],
        "export": ["deploy/export.py", f"--model_path={ticket_path}", "--format=slt", f"--export_dir={folder}"],
        "sweep": ["tools/sweep.py", f"--output_dir={folder}", "--runs=weights"],
    }[tool]
    line = one_error_line(run_tool(script, *args, timeout=300), 2)
    assert_one_line(line, folder / run_files.LOCK, "is a symbolic link")
    assert target.read_bytes() == VICTIM and sorted(os.listdir(folder)) == [run_files.LOCK]


def test_a_users_own_checkpoint_is_never_deleted(data_dir, tmp_path):
    # A fresh folder holding a file named like a checkpoint: refused, untouched.
    own = tmp_path / "ckpt-1.weights.h5"
    own.write_bytes(VICTIM)
    with pytest.raises(runner.ConfigError, match="holds another run's files \\(ckpt-1.weights.h5\\)") as error:
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=3), verbose=0)
    assert_one_line(error.value, "overwrite")
    assert own.read_bytes() == VICTIM and sorted(os.listdir(tmp_path)) == [run_files.LOCK, own.name]
    # Dropped into a run's folder after the run removed its own ckpt-1: kept.
    own.unlink()
    with pytest.raises(KeyboardInterrupt):
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=3), callbacks=[StopAfterEpoch(2)], verbose=0)
    assert not own.exists()
    own.write_bytes(VICTIM)
    results = runner.run_search(tiny_config(data_dir, tmp_path, epochs=3), verbose=0)
    assert results["epochs_done"] == 3 and own.read_bytes() == VICTIM
    assert sorted(name for name in os.listdir(tmp_path) if run_files.is_checkpoint(name)) == [
        own.name,
        run_files.checkpoint(3),
    ]
    assert json.loads((tmp_path / run_files.STATE).read_text())["checkpoints"] == [run_files.checkpoint(3)]


def folder_bytes(folder):
    return {
        os.path.relpath(os.path.join(root, name), folder): open(os.path.join(root, name), "rb").read()
        for root, _, names in os.walk(folder)
        for name in names
        if name != run_files.LOCK
    }


def test_a_folder_of_another_run_is_refused_unless_started_over(data_dir, tmp_path):
    runner.run_search(tiny_config(data_dir, tmp_path, epochs=2, sparsity=0.5), verbose=0)
    for stored in (True, False):  # another run's state.json, or none at all
        if not stored:
            (tmp_path / run_files.STATE).unlink()
        before = folder_bytes(tmp_path)
        with pytest.raises(runner.ConfigError) as error:
            runner.run_search(tiny_config(data_dir, tmp_path, epochs=1, sparsity=0.7), verbose=0)
        reason = "holds a run with sparsity=0.5, not 0.7" if stored else "holds another run's files (best.keras, "
        assert_one_line(error.value, tmp_path, reason, "overwrite")
        assert folder_bytes(tmp_path) == before
    results = runner.run_search(tiny_config(data_dir, tmp_path, epochs=1, sparsity=0.7, overwrite=True), verbose=0)
    assert results["epochs_done"] == 1 and results["flags"]["sparsity"] == 0.7
    with open(tmp_path / run_files.LOGS_DIR / run_files.HISTORY_CSV) as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1"]  # the new run's epoch alone
    assert json.loads((tmp_path / run_files.RESULTS).read_text())["history"][0]["epoch"] == 1
    # Resuming it needs no overwrite.
    assert runner.run_search(tiny_config(data_dir, tmp_path, epochs=1, sparsity=0.7), verbose=0)["epochs_done"] == 1


class StopInFirstEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


def test_a_run_stopped_in_its_first_epoch_starts_again(data_dir, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        runner.run_search(tiny_config(data_dir, tmp_path), callbacks=[StopInFirstEpoch()], verbose=0)
    # Its state, of no epoch done, was written before any other file: the folder is this run's.
    assert json.loads((tmp_path / run_files.STATE).read_text())["epoch"] == 0
    # As a kill after the first checkpoint and before its state would leave them.
    for name in (run_files.checkpoint(1), run_files.BEST_MODEL):
        (tmp_path / name).write_bytes(b"half written")
    results = runner.run_search(tiny_config(data_dir, tmp_path), verbose=0)
    assert [h["epoch"] for h in results["history"]] == [1, 2]
    assert not (tmp_path / run_files.checkpoint(1)).exists()


def test_export_names_are_plain_file_names(ticket_path, tmp_path):
    model = load_ticket(ticket_path, supermask=True)
    for name in ("../../x", "/tmp/x", "..", "", "a/b", "x\ny"):
        with pytest.raises(ValueError, match="name must be a plain file name") as error:
            artifacts.export_ticket(
                model, str(tmp_path / "out"), np.zeros((1, 28, 28, 1), "float32"), formats=("slt",), name=name
            )
        assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_export_refuses_a_name_leaving_the_export_dir(ticket_path, tmp_path):
    out = tmp_path / "a" / "b" / "out"
    result = run_tool(
        "deploy/export.py", f"--model_path={ticket_path}", "--format=slt", f"--export_dir={out}", "--name=../../x"
    )
    assert_one_line(one_error_line(result, 2), "--name must be a plain file name", "'../../x'")
    assert list(tmp_path.rglob("x.*")) == [] and not out.exists()


# --- silent wrong results -----------------------------------------------------------


def initial_weights(name, seed, **options):
    keras.utils.set_random_seed(seed)
    return [keras.ops.convert_to_numpy(w) for w in models.get(name, (16, 16, 3), 3, supermask=False, **options).weights]


@pytest.mark.parametrize(
    "name, options", [("fc", {"width": 8}), ("conv4", {"width_factor": 0.125}), ("resnet18", {"width_factor": 0.125})]
)
def test_weight_trained_networks_start_from_the_runs_seed(name, options):
    # The kernels (BatchNorm's statistics start as constants).
    first, again, other = ([w for w in initial_weights(name, seed, **options) if w.ndim > 1] for seed in (0, 0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other))
    # Each layer draws its own values: no two kernels of one shape are equal.
    kernels = first
    assert not any(np.array_equal(a, b) for i, a in enumerate(kernels) for b in kernels[i + 1 :] if a.shape == b.shape)


@pytest.mark.slow
def test_a_weight_trained_baseline_reproduces_across_processes(data_dir, tmp_path):
    runs = []
    for folder in ("a", "b"):
        result = run_tool(
            "tools/search.py",
            "--algo=dense",
            "--seed=0",
            "--model=fc",
            "--width=16",
            "--dataset=fashion_mnist",
            f"--data_dir={data_dir}",
            "--epochs=2",
            "--batch_size=32",
            f"--output_dir={tmp_path / folder}",
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        runs.append(json.loads((tmp_path / folder / run_files.RESULTS).read_text()))
    first, second = runs
    assert first["test_accuracy"] == second["test_accuracy"]
    np.testing.assert_allclose([h["loss"] for h in first["history"]], [h["loss"] for h in second["history"]], rtol=1e-6)


def test_jit_cannot_change_on_resume(data_dir, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=2), callbacks=[StopAfterEpoch(1)], verbose=0)
    state = (tmp_path / run_files.STATE).read_bytes()
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=2, jit=True), verbose=0)
    assert_one_line(error.value, "holds a run with jit=False, not True")
    assert (tmp_path / run_files.STATE).read_bytes() == state


def write_results(folder, **changes):
    """A finished run's results.json (the values a run writes), with `changes`."""
    flags = dataclasses.asdict(tiny_config("unused", folder, sparsity=0.5, freeze_ratio=0.5))
    results = {
        "test_accuracy": 0.84,
        "val_accuracy": 0.85,
        "model_size_bits": 1372352,
        "dense_float32_bits": 43785216,
        "entropy_model_bits": 1372352,
        "compression": 31.9,
        "actual_sparsity": 0.5,
        "layer_sparsity": {"fc1": 0.5},
        "prune_ratio": 0.25,
        "lock_ratio": 0.25,
        "seed": 0,
        "wall_time_s": 35.2,
        "flags": flags,
        **changes,
    }
    folder.mkdir(parents=True)
    (folder / run_files.RESULTS).write_text(json.dumps(results))


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("test_accuracy", "95%", "test_accuracy '95%' is not a fraction in [0, 1]"),
        ("test_accuracy", 7.5, "test_accuracy 7.5 is not a fraction in [0, 1]"),
        ("val_accuracy", -0.1, "val_accuracy -0.1 is not a fraction in [0, 1]"),
        ("model_size_bits", -3, "model_size_bits -3 is not a whole number of bits"),
        ("model_size_bits", 1e400, "model_size_bits inf is not a whole number of bits"),  # JSON's Infinity
        ("dense_float32_bits", 2.5, "dense_float32_bits 2.5 is not a whole number of bits"),
        ("actual_sparsity", True, "actual_sparsity True is not a fraction in [0, 1]"),
        ("wall_time_s", -1, "wall_time_s -1 is not a non-negative number"),
        ("seed", 1.5, "seed 1.5 is not a non-negative integer"),
        ("layer_sparsity", {"fc1": 4}, "layer_sparsity is not fractions in [0, 1] by layer"),
    ],
)
def test_damaged_result_values_never_reach_a_table(tmp_path, key, value, reason):
    write_results(tmp_path / "good")
    write_results(tmp_path / "bad", **{key: value})
    with pytest.raises(files.DamagedFileError) as error:
        sweep_table.collect(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'bad' / run_files.RESULTS} is damaged ({reason}); delete that run's folder to run it again"
    )
    shutil.rmtree(tmp_path / "bad")
    assert [row["test_accuracy"] for row in sweep_table.collect(tmp_path)] == [0.84]


@pytest.mark.slow
def test_plot_refuses_a_sweep_with_a_damaged_accuracy(tmp_path):
    write_results(tmp_path / "sweep" / "good")
    write_results(tmp_path / "sweep" / "bad", test_accuracy=7.5)
    result = run_tool("tools/plot.py", f"--sweep_dir={tmp_path / 'sweep'}", f"--output_dir={tmp_path / 'figures'}")
    assert_one_line(
        one_error_line(result, 2),
        tmp_path / "sweep" / "bad" / run_files.RESULTS,
        "test_accuracy 7.5 is not a fraction in [0, 1]",
    )
    assert not (tmp_path / "figures").exists()


@pytest.mark.parametrize("label", [2**32 + 3, -1, 2**31])
def test_a_cifar_label_past_int32_is_refused_not_wrapped(tmp_path, label):
    write_cifar_dir(tmp_path, "cifar10")
    batch = tmp_path / cifar.LAYOUTS["cifar10"].folder / "test_batch"
    with open(batch, "wb") as f:
        pickle.dump({b"data": np.zeros((3, 3072), np.uint8), b"labels": [3, label, 4]}, f, protocol=2)
    with pytest.raises(DataError) as error:
        data.load_arrays("cifar10", str(tmp_path))
    assert_one_line(error.value, batch, f"holds the label {label}, not a class index")


def test_planetoid_validation_overlapping_the_test_nodes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    # 12 training rows and 400 more known ones: the 500 validation nodes would reach into the test nodes.
    write_planetoid(tmp_path, num_validation=400)
    with pytest.raises(DataError) as error:
        planetoid.read("tiny", str(tmp_path))
    assert_one_line(
        error.value,
        tmp_path / "ind.tiny.allx",
        "412 rows, fewer than the 12 training and 500 "
        "validation nodes of the public split (they would overlap the test nodes)",
    )


def test_planetoid_test_node_listed_twice_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    write_planetoid(tmp_path)
    index = tmp_path / "ind.tiny.test.index"
    nodes = index.read_text().split()
    index.write_text("\n".join(nodes[:-1] + nodes[:1]) + "\n")
    with pytest.raises(DataError) as error:
        planetoid.read("tiny", str(tmp_path))
    assert_one_line(error.value, index, f"test index {nodes[0]} is listed twice")
