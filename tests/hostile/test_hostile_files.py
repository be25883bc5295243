"""Files written by a hostile user: nothing runs, nothing blows up, every refusal is one line.

CIFAR batches and Planetoid graphs are pickles read by `safe_pickle`; `.slt`
tickets are checked, config and sizes, before any weight is generated; image
folders are listed without opening what is not a regular file.
"""

import json
import os
import pickle
import struct
import subprocess
import sys
import types
import zlib

import keras
import numpy as np
import pytest
from fakes import parts, png_header, with_config_bytes, with_payload, write_cifar_dir, write_folder, write_planetoid
from helpers import ROOT, assert_one_line, run_tool, tool_lines

import keras_slt
from keras_slt.data import DataError
from keras_slt.data.graphs import planetoid
from keras_slt.data.readers import cifar, cifar_folder, image_folder, safe_pickle
from keras_slt.ticket import TicketError, coding, load_ticket, save_ticket, slt_file, slt_format


def assert_cli_refused(result, *fragments):
    """Non-zero exit, no traceback, the last line `error: ...` holding `fragments`."""
    assert result.returncode != 0, result.stdout + result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = tool_lines(result.stderr)
    assert lines and lines[-1].startswith("error: "), result.stderr[-2000:]
    assert_one_line(lines[-1], *fragments)


# --- pickles that would run code ---------------------------------------------


class _Runs:
    """Unpickling it calls `function(*args)`."""

    def __init__(self, function, *args):
        self.call = (function, args)

    def __reduce__(self):
        return self.call


def code_runners(marker):
    """Objects whose unpickling would create `marker`, each through another global."""
    return {
        "os.system": _Runs(os.system, f"touch {marker}"),
        "builtins.open": _Runs(open, str(marker), "w"),
        "subprocess.call": _Runs(subprocess.call, ["touch", str(marker)]),
        "builtins.exec": _Runs(exec, f"open({str(marker)!r}, 'w')"),
    }


@pytest.mark.slow
def test_search_refuses_a_cifar_batch_that_runs_code(tmp_path):
    write_cifar_dir(tmp_path, "cifar10", per_file=2)
    marker = tmp_path / "marker"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    with open(batch, "wb") as f:
        pickle.dump({b"data": _Runs(os.system, f"touch {marker}"), b"labels": [0, 1]}, f, protocol=2)
    result = run_tool(
        "tools/search.py",
        "--dataset=cifar10",
        f"--data_dir={tmp_path}",
        "--model=conv2",
        "--epochs=1",
        f"--output_dir={tmp_path / 'run'}",
    )
    assert_cli_refused(result, batch, "refusing to load posix.system")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("kind", ["os.system", "builtins.open", "subprocess.call", "builtins.exec"])
def test_cifar_batches_that_run_code_are_refused_before_anything_is_built(tmp_path, kind, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "data_batch_1"
    # The code runner sits after a genuine array: the scan refuses the file
    # before the array before it is built.
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [code_runners(marker)[kind]]}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    with pytest.raises(DataError, match="refusing to load") as error:
        cifar.read_batch(str(path), b"labels")
    assert_one_line(error.value, path)
    assert not marker.exists()


def python2_batch(images, labels):
    """A batch as the official archive holds it: Python 2 strings, NumPy 1 globals."""
    raw = images.transpose(0, 3, 1, 2).reshape(len(images), 3072).tobytes()
    return (
        b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04"
        b"K\x00\x85U\x01b\x87Rq\x05(K\x01" + b"K" + bytes([len(images)]) + b"M\x00\x0c\x86cnumpy\ndtype\nq\x06"
        b"U\x02u1K\x00K\x01\x87Rq\x07(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T"
        + struct.pack("<I", len(raw))
        + raw
        + b"tbU\x06labelsq\x08]q\t("
        + b"".join(b"K" + bytes([int(v)]) for v in labels)
        + b"eu."
    )


def test_genuine_cifar_batches_load_in_every_form(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), np.uint8)
    labels = [4, 0, 9]
    flat = images.transpose(0, 3, 1, 2).reshape(3, 3072)
    forms = {"python2": python2_batch(images, labels)}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        batch = {b"data": flat, b"labels": labels, b"batch_label": b"training batch 1 of 5"}
        forms[f"protocol {protocol}"] = pickle.dumps(batch, protocol=protocol)
    path = tmp_path / "data_batch_1"
    for form, content in forms.items():
        assert pickle.loads(content, encoding="bytes")[b"labels"] == labels, form
        path.write_bytes(content)
        x, y = cifar.read_batch(str(path), b"labels")
        np.testing.assert_array_equal(x, images, err_msg=form)
        np.testing.assert_array_equal(y, labels, err_msg=form)


class _Reduces:
    """Pickles as `function(*args)` followed by BUILD with `state`."""

    def __init__(self, function, args, state):
        self.reduced = (function, args, state)

    def __reduce__(self):
        return self.reduced


def numpy_reconstruct(shape, dtype, raw):
    from numpy._core.multiarray import _reconstruct

    return _Reduces(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, False, raw))


def flagged_uint8():
    """A uint8 dtype whose pickled state claims it holds Python objects."""
    return _Reduces(np.dtype, ("u1", False, True), (3, "|", None, None, None, -1, -1, 63))


def structured_uint8():
    """A uint8 dtype whose pickled state gives it fields."""
    return _Reduces(np.dtype, ("u1", False, True), (3, "|", None, ("a",), {"a": (np.dtype("u1"), 0)}, 1, 1, 0))


@pytest.mark.parametrize(
    "array,message",
    [
        (lambda: numpy_reconstruct((10**10,), np.dtype("O"), [1, 2]), "not a plain number type"),
        (lambda: numpy_reconstruct((10**6, 3072), np.dtype("u1"), b"\0" * 3072), "in 3072 bytes"),
        (lambda: numpy_reconstruct((-1,), np.dtype("u1"), b""), "shape (-1,)"),
        (lambda: numpy_reconstruct((1, 3072), np.dtype([("a", "u1")]), b"\0" * 3072), "'V1' is not a plain number"),
        (lambda: numpy_reconstruct((1, 3072), structured_uint8(), b"\0" * 3072), "structured or malformed state"),
    ],
)
def test_numpy_state_from_the_file_never_reaches_numpy(tmp_path, array, message):
    # NumPy's own hooks would allocate 80 GB of object pointers, or accept
    # any shape for the bytes: the stand-ins refuse them.
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": array(), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="not a valid pickle") as error:
        cifar.read_batch(str(path), b"labels")
    assert_one_line(error.value, path, message)


def test_dtype_flags_from_the_file_are_ignored(tmp_path):
    path = tmp_path / "data_batch_1"
    array = numpy_reconstruct((1, 3072), flagged_uint8(), b"\7" * 3072)
    path.write_bytes(pickle.dumps({b"data": array, b"labels": [0]}, protocol=2))
    x, _ = cifar.read_batch(str(path), b"labels")
    assert x.dtype == np.uint8 and not x.dtype.hasobject and int(x.sum()) == 7 * 3072


def test_far_memo_index_and_oversized_files_are_refused(tmp_path):
    # LONG_BINPUT 2**31 - 1: the unpickler would size its memo table to it.
    path = tmp_path / "memo"
    path.write_bytes(b"\x80\x02]r\xff\xff\xff\x7f.")
    with pytest.raises(DataError, match="memo index 2147483647") as error:
        safe_pickle.load(str(path), {})
    assert_one_line(error.value, path)
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(safe_pickle.MAX_BYTES + 1)  # sparse: no disk used
    with pytest.raises(DataError, match="larger than") as error:
        safe_pickle.load(str(big), {})
    assert_one_line(error.value, big)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DataError, match="not a regular file"):
        safe_pickle.load(str(tmp_path / "fifo"), {})


# --- Planetoid sizes -----------------------------------------------------------


def test_planetoid_matrices_declaring_absurd_shapes_are_refused(tmp_path, monkeypatch):
    sparse = pytest.importorskip("scipy.sparse")
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    write_planetoid(tmp_path)
    path = tmp_path / "ind.tiny.tx"
    matrix = sparse.csr_matrix(np.eye(10, 12, dtype=np.float32))
    matrix._shape = (10, 10**12)  # 40 TB dense, backed by 10 values
    path.write_bytes(pickle.dumps(matrix, protocol=4))
    with pytest.raises(DataError, match=f"at most {planetoid.MAX_FEATURES} columns") as error:
        planetoid.read("tiny", str(tmp_path))
    assert_one_line(error.value, path)
    matrix._shape = (10**9, 12)  # rows beyond its indptr
    path.write_bytes(pickle.dumps(matrix, protocol=4))
    with pytest.raises(DataError, match="inconsistent indptr") as error:
        planetoid.read("tiny", str(tmp_path))
    assert_one_line(error.value, path)


def test_planetoid_test_index_past_the_graph_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    write_planetoid(tmp_path)
    path = tmp_path / "ind.tiny.test.index"
    index = np.loadtxt(path, dtype=np.int64)
    index[3] = 10**11  # the features would be 10**11 rows
    np.savetxt(path, index, fmt="%d")
    with pytest.raises(DataError, match="is past the 522 nodes") as error:
        planetoid.read("tiny", str(tmp_path))
    assert_one_line(error.value, path, 10**11)


# --- .slt tickets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    """The bytes of a small valid ticket."""
    base = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(32, activation="relu", name="dense"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(4, name="logits"),
        ]
    )
    path = tmp_path_factory.mktemp("ticket") / "fc.slt"
    save_ticket(keras_slt.supermaskify(base, sparsity=0.7, freeze_ratio=0.5, seed=3), path)
    return path.read_bytes()


def with_config(data, edit):
    config = json.loads(zlib.decompress(parts(data)[0]))
    edit(config)
    return with_config_bytes(data, zlib.compress(json.dumps(config).encode()))


def layer(config, index):
    """The config of the network's layer `index`: 1 and 3 are supermask Dense, 2 BatchNormalization."""
    return config["config"]["network"]["config"]["layers"][index]


def first_dense(config):
    return layer(config, 1)


def set_units(units):
    return lambda config: first_dense(config)["config"].update(units=units)


def with_first_layer_field(data, field, value):
    """The ticket with `field` (num_free, ones, ...) of its first layer set to `value`."""
    config_bytes, rest = parts(data)
    num_free, ones, fingerprint, coded_size = struct.unpack_from("<QQII", rest, 4)
    fields = dict(num_free=num_free, ones=ones, fingerprint=fingerprint, coded_size=coded_size)
    fields[field] = value
    layer = struct.pack("<QQII", *fields.values())
    return with_payload(struct.pack("<I", len(config_bytes)) + config_bytes + rest[:4] + layer + rest[28:])


def second_layer_index_zero(config):
    layer(config, 3)["config"]["layer_index"] = 0


def set_everywhere(field, value):
    """Sets `field` (sparsity, selection) on the SupermaskModel and each of its layers, as one would by hand."""

    def edit(config):
        for layer_config in [config, layer(config, 1), layer(config, 3)]:
            layer_config["config"][field] = value

    return edit


def with_version(data, version):
    return struct.pack("<4sI", b"KSLT", version) + data[8:]


DAMAGED = {
    "not zlib": (lambda d: with_config_bytes(d, b"not a zlib stream"), "damaged config (zlib"),
    "zlib cut short": (lambda d: with_config_bytes(d, parts(d)[0][:-6]), "does not end"),
    "zlib bomb": (
        lambda d: with_config_bytes(d, zlib.compress(b" " * (slt_format.MAX_CONFIG_BYTES + 1), 9)),
        f"inflates past {slt_format.MAX_CONFIG_BYTES}",
    ),
    "not JSON": (lambda d: with_config_bytes(d, zlib.compress(b'{"class_name": ')), "not JSON"),
    "JSON list": (lambda d: with_config_bytes(d, zlib.compress(b"[1, 2]")), "a list, not an object"),
    "not UTF-8": (lambda d: with_config_bytes(d, zlib.compress(b"\xff\xfe{}")), "not JSON"),
    "unknown class": (
        lambda d: with_config(d, lambda c: layer(c, 2).update(class_name="NoSuchLayer")),
        "cannot be rebuilt",
    ),
    "negative units": (lambda d: with_config(d, set_units(-5)), "supermask layer 'dense' has a damaged config"),
    "units a string": (lambda d: with_config(d, set_units("32")), "supermask layer 'dense' has a damaged config"),
    "no build_config": (
        lambda d: with_config(d, lambda c: first_dense(c).pop("build_config")),
        "has a damaged config (KeyError",
    ),
    "3,000,000 units": (
        lambda d: with_config(d, set_units(3_000_000)),
        "declares 24000000 free mask entries, the ticket codes 256",
    ),
    "beyond MAX_WEIGHTS": (
        lambda d: with_config(d, set_units(30_000_000)),
        f"declare more than {slt_file.MAX_WEIGHTS} weights",
    ),
    "BatchNormalization of 10**9 features": (
        lambda d: with_config(d, lambda c: layer(c, 2)["build_config"].update(input_shape=[None, 10**9])),
        "declares inputs of 1000000000 values per example, more than",
    ),
    "class_name a list": (
        lambda d: with_config(d, lambda c: first_dense(c).update(class_name=[1], registered_name=None)),
        "ticket holds 2 masks for 1 supermask layers",
    ),
    "build_config a string": (
        lambda d: with_config(d, lambda c: first_dense(c).update(build_config="x")),
        "layer 'dense' has a damaged build_config",
    ),
    "layer_index twice": (lambda d: with_config(d, second_layer_index_zero), "layer_index 0"),
    "num_free off by one": (lambda d: with_first_layer_field(d, "num_free", 255), "the ticket codes 255"),
    "ones past num_free": (lambda d: with_first_layer_field(d, "ones", 257), "with 257 kept"),
    "coded size past the payload": (lambda d: with_first_layer_field(d, "coded_size", 2**32 - 1), "runs past"),
    "config size past the payload": (lambda d: with_payload(struct.pack("<I", 2**32 - 1) + d[24:]), "runs past"),
    # The config's own claims, each against the masks it codes.
    "sparsity raised": (
        lambda d: with_config(d, set_everywhere("sparsity", 0.8)),
        "its sparsity 0.8 and global selection do not select the masks it stores",
    ),
    "selection changed": (
        lambda d: with_config(d, set_everywhere("selection", "layerwise")),
        "its sparsity 0.7 and layerwise selection do not select the masks it stores",
    ),
    "format version 0": (lambda d: with_version(d, 0), "ticket format version 0 does not exist"),
    "layer_index a float": (
        lambda d: with_config(d, lambda c: layer(c, 3)["config"].update(layer_index=1.0)),
        "supermask layer 'logits' has a damaged config (ValueError: layer_index 1.0 is not",
    ),
    "layer_index a bool": (
        lambda d: with_config(d, lambda c: layer(c, 3)["config"].update(layer_index=True)),
        "layer_index True is not an integer",
    ),
}


@pytest.mark.parametrize("kind", DAMAGED)
def test_tickets_damaged_behind_a_valid_checksum_are_refused(genuine, tmp_path, kind):
    edit, message = DAMAGED[kind]
    path = tmp_path / "t.slt"
    path.write_bytes(edit(genuine))
    with pytest.raises(TicketError, match=message.replace("(", r"\(")) as error:
        load_ticket(path)
    assert_one_line(error.value, path)


def test_a_flipped_mask_byte_is_a_one_line_error(genuine, tmp_path):
    config_bytes, rest = parts(genuine)
    num_free, ones, _, coded_size = struct.unpack_from("<QQII", rest, 4)
    coded = rest[28 : 28 + coded_size]
    # A flip the decoder notices (others decode to another mask of as many
    # ones, which only the checksum catches).
    for position in range(len(coded) * 8):
        flipped = bytearray(coded)
        flipped[position // 8] ^= 1 << position % 8
        try:
            coding.decode_bits(bytes(flipped), num_free, ones)
        except (AssertionError, ValueError):
            break
    else:
        pytest.fail("no flip trips the decoder")
    path = tmp_path / "t.slt"
    path.write_bytes(
        with_payload(
            struct.pack("<I", len(config_bytes)) + config_bytes + rest[:28] + bytes(flipped) + rest[28 + coded_size :]
        )
    )
    with pytest.raises(TicketError, match="damaged mask of layer 'dense'") as error:
        load_ticket(path)
    assert_one_line(error.value, path)


def peak_rss_mb(*args):
    """(result with returncode and stderr, peak resident MB) of a child `python *args`."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not all children's
    child.returncode = os.waitstatus_to_exitcode(status)
    return types.SimpleNamespace(returncode=child.returncode, stderr=stderr), usage.ru_maxrss / 1024


@pytest.mark.slow
def test_export_refuses_a_huge_layer_ticket_in_little_memory(genuine, tmp_path):
    (tmp_path / "start.slt").write_bytes(genuine[:10])  # refused at once: the tool's start-up memory
    (tmp_path / "huge.slt").write_bytes(with_config(genuine, set_units(3_000_000)))
    export = os.path.join(ROOT, "deploy", "export.py")
    runs = {}
    for name in ("start", "huge"):
        runs[name] = peak_rss_mb(
            export, f"--model_path={tmp_path / name}.slt", "--format=slt", f"--export_dir={tmp_path / 'out'}"
        )
    assert_cli_refused(runs["start"][0], tmp_path / "start.slt", "truncated ticket")
    assert_cli_refused(runs["huge"][0], tmp_path / "huge.slt", "declares 24000000 free mask entries")
    # Building the layer, 3,000,000 x 16 weights with their scores and
    # freeze pattern, took 1.5 GB more than the start.
    assert runs["huge"][1] < runs["start"][1] + 200, (runs["huge"][1], runs["start"][1])
    assert not os.path.exists(tmp_path / "out")


# --- image folders ----------------------------------------------------------------


@pytest.mark.slow
def test_search_refuses_a_pipe_named_like_an_image_without_hanging(tmp_path):
    write_folder(tmp_path / "images", per_class=2)
    os.mkfifo(tmp_path / "images" / "dog" / "x.png")
    result = run_tool(
        "tools/search.py",
        "--dataset=image_folder",
        f"--data_dir={tmp_path / 'images'}",
        "--model=fc",
        "--epochs=1",
        f"--output_dir={tmp_path / 'run'}",
        timeout=300,
    )
    assert_cli_refused(result, tmp_path / "images" / "dog" / "x.png", "not a regular file")


@pytest.mark.parametrize("make", ["device", "broken link", "nested pipe"])
def test_image_folder_entries_that_are_not_files_are_refused(tmp_path, make):
    write_folder(tmp_path, per_class=2)
    entry = {
        "device": tmp_path / "cat" / "zero.jpg",
        "broken link": tmp_path / "owl" / "gone.jpeg",
        "nested pipe": tmp_path / "cat" / "more" / "p.bmp",
    }[make]
    if make == "device":
        os.symlink("/dev/zero", entry)
    elif make == "broken link":
        os.symlink(tmp_path / "nothing.png", entry)
    else:
        os.makedirs(entry.parent)
        os.mkfifo(entry)
    with pytest.raises(DataError, match="not a regular file") as error:
        image_folder.load_dir(str(tmp_path))
    assert_one_line(error.value, entry)


def test_a_folder_named_like_an_image_is_not_an_image(tmp_path):
    write_folder(tmp_path, per_class=2)
    # Sorted first in its class: the size of the first image came from it.
    os.makedirs(tmp_path / "cat" / "0.png")
    x_train, y_train, x_test, y_test, names = image_folder.load_dir(str(tmp_path))
    assert len(x_train) + len(x_test) == 6 and names == ["cat", "dog", "owl"]
    assert x_train.shape[1:] == (6, 5, 3)


def test_image_folder_larger_than_memory_is_refused_before_decoding(tmp_path):
    write_folder(tmp_path, per_class=2)
    # 6 x 3 TB: refused from the count and the size alone, nothing allocated.
    with pytest.raises(DataError, match="give a smaller image_size") as error:
        image_folder.load_dir(str(tmp_path), image_size=(10**6, 10**6))
    assert_one_line(error.value, tmp_path, "6 images of 1000000x1000000x3 take 16763.8 GiB")


@pytest.mark.parametrize("image_size", [None, (8, 8)])
def test_image_declaring_gigapixels_is_refused_unread(tmp_path, image_size):
    write_folder(tmp_path, per_class=2)
    bomb = tmp_path / "cat" / "000.png"  # the first image, whose size is the default one
    png_header(bomb, 60000, 60000)
    with pytest.raises(DataError, match="cannot read image .*DecompressionBombError") as error:
        image_folder.load_dir(str(tmp_path), image_size)
    assert_one_line(error.value, bomb)


def jpeg_header(path, width, height):
    """A baseline JPEG that declares `width` x `height` RGB pixels and holds none."""
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    scan = b"\x03" + b"".join(bytes([i, 0]) for i in (1, 2, 3)) + b"\x00\x3f\x00"
    path.write_bytes(
        b"\xff\xd8\xff\xc0"
        + struct.pack(">H", len(frame) + 2)
        + frame
        + b"\xff\xda"
        + struct.pack(">H", len(scan) + 2)
        + scan
        + b"\xff\xd9"
    )


def test_cifar_jpeg_declaring_gigapixels_is_refused_unread(tmp_path):
    bomb = tmp_path / "0001.jpg"
    jpeg_header(bomb, 60000, 60000)
    with pytest.raises(DataError, match="cannot decode .*DecompressionBombError") as error:
        cifar_folder.decode([str(bomb)])
    assert_one_line(error.value, bomb)


@pytest.mark.slow
def test_export_refuses_a_ticket_whose_sparsity_was_raised(genuine, tmp_path):
    path = tmp_path / "t.slt"
    path.write_bytes(with_config(genuine, set_everywhere("sparsity", 0.8)))
    result = run_tool("deploy/export.py", f"--model_path={path}", f"--export_dir={tmp_path / 'out'}")
    assert_cli_refused(result, path, "do not select the masks it stores")
    assert not (tmp_path / "out").exists()
