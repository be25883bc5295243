"""Tiny files in the real on-disk formats, and fake runs, for the tests."""

import gzip
import json
import os
import pickle
import struct
import textwrap
import zlib

import keras
import numpy as np
import pytest

from keras_slt import data
from keras_slt.data.readers import cifar
from keras_slt.ticket import slt_format


def write_idx(path, array, magic=None):
    """Writes `array` as a gzipped IDX file of unsigned bytes (magic 0x0800 | ndim unless given)."""
    array = np.asarray(array, np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_cifar_batch(path, images, labels, label_key):
    flat = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {b"data": flat, label_key: [int(v) for v in labels], b"batch_label": b"test"}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_cifar_dir(parent, name, per_file=3, seed=0):
    """Writes a tiny CIFAR folder; returns (x_train, y_train, x_test, y_test)."""
    layout = cifar.LAYOUTS[name]
    num_classes = data.SPECS[name].num_classes
    folder = os.path.join(parent, layout.folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    result = []
    for files in (layout.train_files, layout.test_files):
        xs, ys = [], []
        for f in files:
            x = rng.integers(0, 256, (per_file, 32, 32, 3), np.uint8)
            y = rng.integers(0, num_classes, per_file)
            write_cifar_batch(os.path.join(folder, f), x, y, layout.label_key)
            xs.append(x)
            ys.append(y)
        result += [np.concatenate(xs), np.concatenate(ys)]
    return tuple(result)


def random_graph(num_nodes=40, num_features=12, num_classes=3, seed=0):
    """Features that carry the class, edges mostly within a class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_nodes)
    features = (rng.random((num_nodes, num_features)) < 0.2).astype(np.float32)
    features[np.arange(num_nodes), labels % num_features] = 1.0
    edges = []
    for node in range(num_nodes):
        same = np.flatnonzero(labels == labels[node])
        edges += [(node, int(rng.choice(same))), (node, int(rng.integers(num_nodes)))]
    return features, labels, np.array(edges)


def write_planetoid(folder, name="tiny", num_train=12, num_validation=500, num_test=10, seed=0):
    """The eight Planetoid files of a random graph (protocol 4: names from the stack)."""
    sparse = pytest.importorskip("scipy.sparse")
    num_nodes = num_train + num_validation + num_test
    features, labels, edges = random_graph(num_nodes, seed=seed)
    onehot = np.eye(3, dtype=np.int32)[labels]
    test_index = np.random.default_rng(seed).permutation(np.arange(num_nodes - num_test, num_nodes))
    known = num_nodes - num_test
    adjacency = {}
    for a, b in edges:
        adjacency.setdefault(int(a), []).append(int(b))
    parts = {
        "x": sparse.csr_matrix(features[:num_train]),
        "y": onehot[:num_train],
        "allx": sparse.csr_matrix(features[:known]),
        "ally": onehot[:known],
        "tx": sparse.csr_matrix(features[test_index]),
        "ty": onehot[test_index],
        "graph": __import__("collections").defaultdict(list, adjacency),
    }
    for part, value in parts.items():
        with open(os.path.join(folder, f"ind.{name}.{part}"), "wb") as f:
            pickle.dump(value, f, protocol=4)
    np.savetxt(os.path.join(folder, f"ind.{name}.test.index"), test_index, fmt="%d")
    return features, labels, edges


CLASSES = ("cat", "dog", "owl")


def write_folder(root, per_class, size=(6, 5), channels=3, seed=0, classes=CLASSES):
    """PNG images, one subfolder per class; returns {class: [images in file order]}."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in classes:
        os.makedirs(root / name, exist_ok=True)
        written[name] = []
        for i in range(per_class):
            image = rng.integers(0, 256, size + (channels,), dtype=np.uint8)
            keras.utils.save_img(root / name / f"{i:03d}.png", image, scale=False)
            written[name].append(image)
    return written


def with_payload(payload):
    """A ticket file around `payload`, with a valid checksum."""
    return struct.pack("<4sIQI", b"KSLT", slt_format.FORMAT_VERSION, len(payload), zlib.crc32(payload)) + payload


def parts(data):
    """(config bytes, the payload after them) of a ticket."""
    payload = data[20:]
    (size,) = struct.unpack_from("<I", payload)
    return payload[4 : 4 + size], payload[4 + size :]


def with_config_bytes(data, config_bytes):
    return with_payload(struct.pack("<I", len(config_bytes)) + config_bytes + parts(data)[1])


def png_header(path, width, height):
    """A PNG that declares `width` x `height` RGB pixels and holds none."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


FAKE_SEARCH = textwrap.dedent(
    """
    import json, pathlib, sys
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
    out = pathlib.Path(args["output_dir"]); out.mkdir(parents=True, exist_ok=True)
    with open(out.parent / "calls.txt", "a") as f: f.write(out.name + "\\n")
    (out / "results.json").write_text(json.dumps({"test_accuracy": 0.5, "model_size_bits": 10,
                                                  "flags": args, "seed": int(args["seed"])}))
    """
)


def fake_results(folder, accuracy, size, **flags):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(
        json.dumps(
            {
                "test_accuracy": accuracy,
                "val_accuracy": accuracy,
                "model_size_bits": size,
                "dense_float32_bits": 32 * size,
                "actual_sparsity": flags.get("sparsity", 0),
                "seed": flags.get("seed", 0),
                "wall_time_s": 1.0,
                "flags": {"model": "fc", "dataset": "fashion_mnist", **flags},
                "layer_sparsity": {"dense": 0.5, "dense_1": 0.4},
            }
        )
    )
