"""Small files that declare gigabytes: refused before the memory is spent, in one line.

Each crafted file is kilobytes on disk. In-process tests lower the budget
(KERAS_SLT_MEMORY_BUDGET) or trace Python's allocations, so that a regression
fails the test without exhausting the machine; `test_refusals_stay_near_the_start`
runs the full-size cases in a child process and compares its peak resident
memory with its start.
"""

import gzip
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib

import keras
import numpy as np
import pytest
from fakes import parts, png_header, with_config_bytes, write_folder, write_planetoid
from helpers import ROOT, StopAfterEpoch, assert_one_line, tiny_config

import keras_slt
from keras_slt.cli import flagfiles
from keras_slt.data import DataError
from keras_slt.data.graphs import planetoid
from keras_slt.data.readers import cifar_folder, idx, image_folder
from keras_slt.experiments import config, model_source
from keras_slt.ticket import TicketError, load_ticket, save_ticket
from keras_slt.utils import budget, files


def traced_peak(function, *args):
    """(the exception `function(*args)` raises, the peak bytes Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        function(*args)
    except Exception as error:  # what is refused, and how
        raised = error
    else:
        raised = None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert raised is not None, "not refused"
    return raised, peak


# --- crafted files ------------------------------------------------------------------


def idx_stream(path, header, zeros):
    """A gzip IDX file: `header`, then `zeros` bytes of zeros, as concatenated gzip members (KB on disk)."""
    chunk = gzip.compress(bytes(1 << 20), 1)
    with open(path, "wb") as f:
        f.write(gzip.compress(header))
        for _ in range(zeros >> 20):
            f.write(chunk)


def images_header(count):
    return struct.pack(">IIII", idx.IMAGES_MAGIC, count, 28, 28)


def kept_embedding_ticket(path, rows):
    """A ticket whose kept Embedding declares `rows` rows (16 stored)."""
    network = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(16, 8, name="embed"),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    with pytest.warns(UserWarning, match="kept as an ordinary trained layer"):
        model = keras_slt.supermaskify(network, sparsity=0.5, seed=1, unsupported="keep")
    save_ticket(model, path)
    data = path.read_bytes()
    ticket_config = json.loads(zlib.decompress(parts(data)[0]))
    layers = ticket_config["config"]["network"]["config"]["layers"]
    next(layer for layer in layers if layer["config"]["name"] == "embed")["config"]["input_dim"] = rows
    path.write_bytes(with_config_bytes(data, zlib.compress(json.dumps(ticket_config).encode())))


def keras_file(path, units=10, extra=None):
    """A .keras file of Dense(units) on 784 inputs (weights of a Dense(10)); `extra`: (name, bytes) member."""
    keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)]).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    model_config = json.loads(members["config.json"])
    model_config["config"]["layers"][1]["config"]["units"] = units
    members["config.json"] = json.dumps(model_config).encode()
    if extra:
        members[extra[0]] = extra[1]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def jpeg_header(path, width, height):
    """A JPEG whose frame header declares `width` x `height` (the pixels of an 8x8 image)."""
    import PIL.Image

    buffer = io.BytesIO()
    PIL.Image.new("RGB", (8, 8), "white").save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))


def planetoid_features(tmp_path, rows, columns):
    """Planetoid files whose allx declares `rows` x `columns` features (a few stored)."""
    sparse = pytest.importorskip("scipy.sparse")
    write_planetoid(tmp_path)
    indptr = np.zeros(rows + 1, np.int32)
    matrix = sparse.csr_matrix((np.zeros(0, np.float32), np.zeros(0, np.int32), indptr), shape=(rows, columns))
    (tmp_path / "ind.tiny.allx").write_bytes(pickle.dumps(matrix, protocol=4))
    return tmp_path / "ind.tiny.allx"


# --- the budget ---------------------------------------------------------------------


def test_budget_reads_sizes_and_names_its_variable(monkeypatch):
    for text, expected in (("4G", 4 << 30), ("512m", 512 << 20), ("1000", 1000), ("2GiB", 2 << 30)):
        monkeypatch.setenv(budget.VARIABLE, text)
        assert budget.limit() == expected
    monkeypatch.setenv(budget.VARIABLE, "lots")
    with pytest.raises(ValueError, match="KERAS_SLT_MEMORY_BUDGET must be a size") as error:
        budget.limit()
    assert_one_line(error.value, "'lots'")
    monkeypatch.delenv(budget.VARIABLE)
    assert budget.limit() == 1 << 30


# --- IDX -----------------------------------------------------------------------------


def test_idx_stream_longer_than_its_header_is_refused_unread(tmp_path):
    path = tmp_path / idx.TRAIN_IMAGES
    idx_stream(path, images_header(300) + bytes(300 * 784), 64 << 20)  # 64 MiB more, 64 KB on disk
    error, peak = traced_peak(idx.read_idx, path, idx.IMAGES_MAGIC)
    assert isinstance(error, DataError)
    assert_one_line(error, path, "holds more data than the 235200 bytes its header declares")
    # Inflated whole, the stream took 64 MiB: the header's 235 KB are read, then one byte.
    assert peak < 4 << 20, peak


def test_idx_header_beyond_the_budget_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / idx.TRAIN_IMAGES
    idx_stream(path, images_header(2**32 - 1), 0)
    with pytest.raises(
        DataError,
        match="declares 4294967295x28x28 bytes of data .3.1 TiB., more than the memory "
        "budget of 1.0 GiB; set KERAS_SLT_MEMORY_BUDGET",
    ) as error:
        idx.read_idx(path, idx.IMAGES_MAGIC)
    assert_one_line(error.value, path)
    monkeypatch.setenv(budget.VARIABLE, "100K")  # 300 images of 28x28 are 235 KB
    path.write_bytes(gzip.compress(images_header(300) + bytes(300 * 784)))
    with pytest.raises(DataError, match="more than the memory budget of 100.0 KiB"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_idx_labels_declaring_another_count_are_refused_before_reading(tmp_path):
    images, labels = tmp_path / idx.TRAIN_IMAGES, tmp_path / idx.TRAIN_LABELS
    images.write_bytes(gzip.compress(images_header(3) + bytes(3 * 784)))
    idx_stream(labels, struct.pack(">II", idx.LABELS_MAGIC, 1 << 26) + bytes(1 << 20), 63 << 20)
    error, peak = traced_peak(idx.read_idx_pair, images, labels)
    assert_one_line(error, labels, "declares dimensions 67108864, expected 3")
    assert peak < 4 << 20, peak


# --- Planetoid -----------------------------------------------------------------------


def test_planetoid_features_beyond_the_budget_are_refused_before_densifying(tmp_path, monkeypatch):
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    path = planetoid_features(tmp_path, 8000, 65536)  # 2 GiB dense, from a 32 KB file
    error, peak = traced_peak(planetoid.read, "tiny", str(tmp_path))
    assert isinstance(error, DataError)
    assert_one_line(
        error,
        path,
        "(8000, 65536) read as dense float32 features (2.0 GiB), more than the memory "
        "budget of 1.0 GiB; set KERAS_SLT_MEMORY_BUDGET",
    )
    assert "batch_size" not in str(error)
    assert peak < 16 << 20, peak


# --- .slt tickets ----------------------------------------------------------------------


def test_ticket_whose_kept_layer_declares_more_than_it_stores_is_refused_unbuilt(tmp_path):
    path = tmp_path / "embedding.slt"
    kept_embedding_ticket(path, 1 << 20)  # 32 MiB of embeddings; the ticket stores 16 rows
    with pytest.raises(
        TicketError, match="ticket holds 128 floats, its network config declares 8388608; refused before building it"
    ) as error:
        load_ticket(path)
    assert_one_line(error.value, path)


# --- .keras files --------------------------------------------------------------------


def test_keras_file_declaring_weights_beyond_the_budget_is_refused_unbuilt(tmp_path, monkeypatch):
    path = tmp_path / "wide.keras"
    keras_file(path, units=100_000)  # 314 MB of weights declared in a few bytes
    monkeypatch.setenv(budget.VARIABLE, "64M")
    with pytest.raises(
        ValueError, match="its config declares 78500000 weights .299.5 MiB., more than the memory budget of 64.0 MiB"
    ) as error:
        model_source.load_file(str(path))
    assert_one_line(error.value, path)
    keras_file(path, units=10)
    assert model_source.load_file(str(path)).output_shape == (None, 10)  # within the budget it loads


def test_keras_archive_inflating_beyond_the_budget_is_refused_uninflated(tmp_path, monkeypatch):
    path = tmp_path / "bomb.keras"
    keras_file(path, extra=("assets/blob", bytes(40 << 20)))
    monkeypatch.setenv(budget.VARIABLE, "32M")
    error, peak = traced_peak(model_source.load_file, str(path))
    assert isinstance(error, ValueError) and "archive members inflate (40.0 MiB), more than the memory budget" in str(
        error
    )
    assert_one_line(error, path)
    assert peak < 8 << 20, peak


# --- images --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the budget refuses it
@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_image_beyond_the_budget_is_refused_from_its_header(tmp_path, kind):
    write_folder(tmp_path, per_class=2)
    large = tmp_path / "cat" / f"001.{kind}"  # 160M pixels, under Pillow's limit of 179M
    os.remove(tmp_path / "cat" / "001.png")
    (png_header if kind == "png" else jpeg_header)(large, 20000, 8000)
    with pytest.raises(
        DataError,
        match="image .* of 20000x8000 pixels, decoded 4 at a time at up to 4 bytes a pixel "
        r"\(2.4 GiB\), more than the memory budget",
    ) as error:
        image_folder.load_dir(str(tmp_path), (8, 8))
    assert_one_line(error.value, large)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_cifar_jpeg_of_another_size_is_refused_from_its_header(tmp_path):
    path = tmp_path / "0001.jpg"
    jpeg_header(path, 13000, 13000)
    error, peak = traced_peak(cifar_folder.decode, [str(path)])
    assert_one_line(error, path, "is 13000x13000x3; CIFAR-10 images are 32x32x3")
    assert peak < 4 << 20, peak


# --- flagfiles and run-folder files --------------------------------------------------


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "sparse 3 GB"])
def test_flagfiles_and_state_json_that_are_no_small_regular_file_are_refused_unread(tmp_path, kind):
    path = tmp_path / "state.json"
    if kind == "/dev/zero":
        path = "/dev/zero"
    elif kind == "fifo":
        os.mkfifo(path)  # no writer: reading it would wait forever
    else:
        with open(path, "wb") as f:
            f.truncate(3 << 30)
    expected = "larger than" if kind == "sparse 3 GB" else "not a regular file"
    start = time.monotonic()
    error, peak = traced_peak(files.read_json, path, "start over")
    assert isinstance(error, files.DamagedFileError)
    assert_one_line(error, path, expected, "; start over")
    error, _ = traced_peak(flagfiles.check, ["--seed=1", f"--flagfile={path}"])
    assert_one_line(error, f"--flagfile={path}: ", expected)
    assert time.monotonic() - start < 10 and peak < 4 << 20, peak


def test_flagfiles_that_include_each_other_or_expand_without_end_are_refused(tmp_path):
    a, b = tmp_path / "a.flags", tmp_path / "b.flags"
    a.write_text(f"--seed=1\n--flagfile={b}\n")
    b.write_text(f"# b\n--flagfile={a}\n")
    with pytest.raises(ValueError, match="flagfiles include each other") as error:
        flagfiles.check([f"--flagfile={a}"])
    assert_one_line(error.value, repr(str(a)), repr(str(b)))
    # Each file includes the next twice: 2**30 expansions of 1 KB files.
    for level in range(30):
        nested = f"--flagfile={tmp_path / f'{level + 1}.flags'}\n" * 2 if level < 29 else ""
        (tmp_path / f"{level}.flags").write_text("# " + "x" * 1000 + "\n" + nested)
    start = time.monotonic()
    with pytest.raises(ValueError, match=f"hold more than {flagfiles.MAX_BYTES} bytes in all"):
        flagfiles.check(["--flagfile", str(tmp_path / "0.flags")])
    assert time.monotonic() - start < 10
    flagfiles.check([f"--flagfile={os.path.join(ROOT, 'configs', 'fashion_mnist_fc.flags')}", "--", "--flagfile=x"])


def test_a_pipe_as_the_runs_history_is_refused_unopened(tmp_path, data_dir):
    from keras_slt.experiments import runner

    with pytest.raises(KeyboardInterrupt):  # a run to resume, stopped after its first epoch
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=2), callbacks=[StopAfterEpoch(1)], verbose=0)
    os.remove(tmp_path / "logs" / "history.csv")
    os.mkfifo(tmp_path / "logs" / "history.csv")  # Keras's CSV logger would wait for a writer

    def hung(signum, frame):
        raise TimeoutError("the search waits on the pipe")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        with pytest.raises(config.ConfigError, match="history.csv: not a regular file") as error:
            runner.run_search(tiny_config(data_dir, tmp_path, epochs=2), verbose=0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert_one_line(error.value, tmp_path / "logs" / "history.csv")


def test_epochs_beyond_the_cap_are_refused_before_any_schedule(tmp_path):
    run = config.SearchConfig(model="fc", dataset="fashion_mnist", epochs=300_000_000, output_dir=str(tmp_path))
    with pytest.raises(config.ConfigError, match=f"epochs must be at most {config.MAX_EPOCHS}, got 300000000"):
        run.validate()


# --- the full-size cases, in a child process ---------------------------------------------

PROBE = """
import json, os, resource
import keras, keras_slt
from keras_slt.utils import files
from keras_slt.cli import flagfiles
from keras_slt.data.readers import image_folder
from keras_slt.data.readers import cifar_folder
from keras_slt.data.readers import idx
from keras_slt.data.graphs import planetoid
from keras_slt.experiments import config, model_source
from keras_slt.ticket import load_ticket

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

keras.ops.convert_to_numpy(keras.ops.ones((2, 2)) @ keras.ops.ones((2, 2)))  # the backend started
planetoid.NAMES = ("tiny",)
start = peak_mb()
d = {folder!r}
cases = {{
    "IDX 2 GiB behind 300 images": lambda: idx.read_idx(os.path.join(d, "idx", idx.TRAIN_IMAGES), idx.IMAGES_MAGIC),
    "IDX 2**32-1 images": lambda: idx.read_idx(os.path.join(d, "huge.gz"), idx.IMAGES_MAGIC),
    "ticket Embedding 2**25 rows": lambda: load_ticket(os.path.join(d, "embedding.slt")),
    "Planetoid 8000x65536": lambda: planetoid.read("tiny", os.path.join(d, "planetoid")),
    "keras Dense(500000)": lambda: model_source.load_file(os.path.join(d, "wide.keras")),
    "PNG 20000x8000": lambda: image_folder.load_dir(os.path.join(d, "png"), (8, 8)),
    "JPEG 13000x13000": lambda: image_folder.load_dir(os.path.join(d, "jpeg"), (8, 8)),
    "CIFAR JPEG 20000x8000": lambda: cifar_folder.decode([os.path.join(d, "cifar.jpg")]),
    "state.json 3 GB": lambda: files.read_json(os.path.join(d, "state.json")),
    "state.json fifo": lambda: files.read_json(os.path.join(d, "fifo.json")),
    "flagfile /dev/zero": lambda: flagfiles.check(["--flagfile=/dev/zero"]),
    "epochs 300000000": lambda: config.SearchConfig(model="fc", dataset="fashion_mnist", epochs=300_000_000,
                                                    output_dir=d).validate(),
}}
report = {{"start": start}}
for name, case in cases.items():
    try:
        case()
        report[name] = ["accepted", peak_mb()]
    except ValueError as error:
        report[name] = [str(error), peak_mb()]
print(json.dumps(report))
"""


@pytest.mark.slow
def test_refusals_stay_near_the_start(tmp_path):
    """Every case of the hostile round at its full size: refused within 300 MB of the start (was 3.8-11 GB)."""
    (tmp_path / "idx").mkdir()
    idx_stream(tmp_path / "idx" / idx.TRAIN_IMAGES, images_header(300) + bytes(300 * 784), 2 << 30)
    idx_stream(tmp_path / "huge.gz", images_header(2**32 - 1), 0)
    kept_embedding_ticket(tmp_path / "embedding.slt", 1 << 25)
    (tmp_path / "planetoid").mkdir()
    planetoid_features(tmp_path / "planetoid", 8000, 65536)
    keras_file(tmp_path / "wide.keras", units=500_000)
    for kind, write, size in (("png", png_header, (20000, 8000)), ("jpeg", jpeg_header, (13000, 13000))):
        write_folder(tmp_path / kind, per_class=2)
        write(tmp_path / kind / "cat" / "000.png", *size)
    jpeg_header(tmp_path / "cifar.jpg", 20000, 8000)
    with open(tmp_path / "state.json", "wb") as f:
        f.truncate(3 << 30)
    os.mkfifo(tmp_path / "fifo.json")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop(budget.VARIABLE, None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(folder=str(tmp_path))], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    start = report.pop("start")
    print(f"start: {start:.0f} MB")
    for name, (message, peak) in report.items():
        print(f"{name}: peak {peak:.0f} MB (+{peak - start:.0f}): {message}")
    for name, (message, peak) in report.items():
        assert message != "accepted" and "\n" not in message, (name, message)
        assert peak < start + 300, (name, peak, start)
