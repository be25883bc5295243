"""Graph data, the GIN model and full-batch search (the paper's node classification)."""

import gzip
import os
import pickle
import re

import keras
import numpy as np
import pytest
from fakes import random_graph, write_planetoid
from helpers import StopAfterEpoch, run_tool

import keras_slt
from keras_slt.data import DataError
from keras_slt.data.graphs import load_graph, ogb, planetoid
from keras_slt.data.readers import safe_pickle
from keras_slt.models.gin import GINAggregation, neighbour_mean

# The folder of the real Cora files (Planetoid's ind.cora.*), if any.
CORA_DIR = os.environ.get("PLANETOID_DIR", "")


def reference_mean(values, senders, receivers):
    """Mean over in-neighbours, one node at a time."""
    out = np.zeros_like(values)
    for node in range(len(values)):
        incoming = senders[receivers == node]
        if len(incoming):
            out[node] = values[incoming].mean(axis=0)
    return out


def test_aggregation_matches_numpy_reference():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(9, 5)).astype(np.float32)
    # Node 8 has no in-edges; (1 -> 0) appears twice and counts twice.
    senders = np.array([1, 2, 3, 1, 0, 5, 7, 6, 4, 2, 1], np.int32)
    receivers = np.array([0, 0, 0, 0, 1, 4, 4, 4, 5, 6, 7], np.int32)
    expected = reference_mean(values, senders, receivers)
    got = keras.ops.convert_to_numpy(neighbour_mean(values, senders, receivers))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert not got[8].any()
    layer = GINAggregation()
    edges = np.stack([senders, receivers])[None]
    got = keras.ops.convert_to_numpy(layer([values[None], edges]))
    np.testing.assert_allclose(got[0], values + expected, rtol=1e-6, atol=1e-6)


def test_gin_has_the_papers_shape_and_weight_count():
    model = keras_slt.models.get("gin", (128,), 40, sparsity=0.7)
    layers = model.supermask_layers
    assert [layer.name for layer in layers] == ["gin1", "gin2", "gin3", "gin4", "readout"]
    assert [layer.kernel_weights().shape for layer in layers] == [
        (128, 386),
        (386, 386),
        (386, 386),
        (386, 40),
        (386, 40),
    ]
    assert sum(layer.num_weights for layer in layers) == 378_280
    dense = keras_slt.models.get("gin", (128,), 40, supermask=False)
    kernels = [w for w in dense.trainable_weights]
    assert sum(int(np.prod(w.shape)) for w in kernels) == 378_280 and len(kernels) == 5
    norms = [layer for layer in dense.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 4 and not any(n.center or n.scale for n in norms)
    assert all(n.momentum == 0.9 and n.epsilon == 1e-5 for n in norms)


def test_planetoid_reader_rebuilds_the_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    features, labels, edges = write_planetoid(tmp_path)
    graph = planetoid.read("tiny", str(tmp_path))
    rows = features / features.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(graph.features, rows, rtol=1e-6)
    np.testing.assert_array_equal(graph.labels, labels)
    expected = {(int(a), int(b)) for a, b in edges if a != b} | {(int(b), int(a)) for a, b in edges if a != b}
    assert set(map(tuple, graph.edges.T.tolist())) == expected and graph.num_edges == len(expected)
    assert (len(graph.train), len(graph.validation), len(graph.test)) == (12, 500, 10)
    np.testing.assert_array_equal(graph.test, np.arange(512, 522))


@pytest.mark.skipif(
    not (CORA_DIR and os.path.isfile(os.path.join(CORA_DIR, "ind.cora.x"))),
    reason=f"PLANETOID_DIR names no folder of Cora files ({CORA_DIR or 'unset'})",
)
def test_real_cora_has_the_public_split():
    graph = load_graph("cora", CORA_DIR)
    assert (graph.num_nodes, graph.num_features, graph.num_classes) == (2708, 1433, 7)
    assert graph.num_edges == 10556  # 5278 undirected edges, both directions
    assert (len(graph.train), len(graph.validation), len(graph.test)) == (140, 500, 1000)
    assert np.bincount(graph.labels).tolist() == [351, 217, 418, 818, 426, 298, 180]


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_code_without_running_it(tmp_path, monkeypatch):
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    write_planetoid(tmp_path)
    marker = tmp_path / "marker"
    # A list whose second item would run a shell command when built.
    with open(tmp_path / "ind.tiny.graph", "wb") as f:
        pickle.dump({0: [1], 1: [_RunsCode(marker)]}, f, protocol=2)
    with pytest.raises(DataError, match=r"ind\.tiny\.graph: refusing to load posix\.system") as error:
        planetoid.read("tiny", str(tmp_path))
    assert "\n" not in str(error.value)
    assert not marker.exists()
    # Protocol 5 names globals from the stack (STACK_GLOBAL): refused as well.
    path = tmp_path / "p5.pkl"
    path.write_bytes(pickle.dumps([_RunsCode(marker)], protocol=5))
    with pytest.raises(DataError, match="refusing to load posix.system"):
        safe_pickle.load(str(path), {})
    assert not marker.exists()


def write_ogb(folder, num_nodes=30, labels=None, extra_edge=None):
    features, classes, edges = random_graph(num_nodes, num_classes=40 if labels is None else 3)
    labels = classes if labels is None else labels
    edges = np.concatenate([edges, [[3, 3], [4, 5], [5, 4]]])  # a self-loop and a duplicate
    if extra_edge is not None:
        edges = np.concatenate([edges, [extra_edge]])
    root = folder / "arxiv"
    (root / "raw").mkdir(parents=True)
    (root / "split" / "time").mkdir(parents=True)

    def write(path, array, fmt):
        with gzip.open(path, "wt") as f:
            np.savetxt(f, array, fmt=fmt, delimiter=",")

    write(root / "raw" / "node-feat.csv.gz", features, "%.6f")
    write(root / "raw" / "edge.csv.gz", edges, "%d")
    write(root / "raw" / "node-label.csv.gz", np.asarray(labels)[:, None], "%d")
    for name, nodes in zip(ogb.SPLITS, np.split(np.arange(num_nodes), [18, 24])):
        write(root / "split" / "time" / name, nodes[:, None], "%d")
    return features, labels, edges


def test_ogb_reader_makes_edges_undirected(tmp_path):
    features, labels, edges = write_ogb(tmp_path)
    graph = load_graph("ogbn_arxiv", str(tmp_path))
    np.testing.assert_allclose(graph.features, features, atol=1e-6)
    np.testing.assert_array_equal(graph.labels, labels)
    pairs = set(map(tuple, graph.edges.T.tolist()))
    assert (3, 3) not in pairs and graph.num_edges == len(pairs)
    assert all((b, a) in pairs for a, b in pairs)
    assert pairs == {(int(a), int(b)) for a, b in edges if a != b} | {(int(b), int(a)) for a, b in edges if a != b}
    assert (len(graph.train), len(graph.validation), len(graph.test)) == (18, 6, 6)


@pytest.mark.parametrize(
    "labels, extra_edge, message",
    [
        (np.full(30, 40), None, r"node-label\.csv\.gz: label 40 is outside \[0, 40\)"),
        (None, [2, 30], r"edge\.csv\.gz: edge end 30 is not a node index in \[0, 30\)"),
    ],
)
def test_ogb_reader_refuses_bad_files(tmp_path, labels, extra_edge, message):
    write_ogb(tmp_path, labels=labels, extra_edge=extra_edge)
    with pytest.raises(DataError, match=message):
        load_graph("ogbn_arxiv", str(tmp_path))


def tiny_config(data_dir, output_dir, **overrides):
    from keras_slt.experiments import runner

    settings = dict(
        model="gin",
        dataset="cora",
        data_dir=str(data_dir),
        width=16,
        epochs=6,
        output_dir=str(output_dir),
        sparsity=0.5,
        freeze_ratio=0.5,
        optimizer="adam",
        lr=0.01,
        weight_decay=0.0,
        weight_init="kaiming_uniform",
        jit=True,
    )
    settings.update(overrides)
    return runner.SearchConfig(**settings)


@pytest.fixture(scope="module")
def cora_like(tmp_path_factory):
    """A tiny graph in Cora's files (so that --dataset=cora reads it)."""
    folder = tmp_path_factory.mktemp("planetoid")
    write_planetoid(folder, name="cora", num_validation=500)
    return folder


def test_load_gives_a_graph_as_a_full_batch_dataset(cora_like):
    data = keras_slt.data.load("cora", data_dir=str(cora_like), pipeline="numpy", augment="none")
    graph = keras_slt.data.load_graph("cora", str(cora_like))
    assert (data.num_train, data.num_validation, data.num_test) == (12, 500, 10)
    assert (data.input_shape, data.num_classes, data.steps_per_epoch) == ((12,), 3, 1)
    for split, stream in (("train", data.train_from(3)), ("validation", data.validation), ("test", data.test)):
        inputs, labels, weights = stream[0]
        np.testing.assert_array_equal(inputs["features"], graph.inputs()["features"])
        np.testing.assert_array_equal(inputs["edges"], graph.inputs()["edges"])
        expected_labels, expected_weights = graph.targets(split)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(weights, expected_weights)
    assert data.train.num_batches is None and data.test.num_batches == 1
    # The same fit and evaluate as for images.
    model = keras_slt.models.get("gin", data.input_shape, data.num_classes, width=8, sparsity=0.5)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(
        data.train,
        steps_per_epoch=data.steps_per_epoch,
        epochs=2,
        validation_data=data.validation,
        shuffle=False,
        verbose=0,
    )
    labels, weights = graph.targets("test")
    direct = model.evaluate(graph.inputs(), labels, sample_weight=weights, batch_size=1, verbose=0, return_dict=True)
    through_load = model.evaluate(data.test, verbose=0, return_dict=True)
    assert through_load["accuracy"] == direct["accuracy"]
    assert through_load["loss"] == pytest.approx(direct["loss"], rel=1e-6)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"batch_size": 32}, "batch_size does not apply to graph cora: it trains full batch"),
        ({"validation_fraction": 0.1}, "validation_fraction does not apply to graph cora"),
        ({"augment": "crop_flip"}, "got augment='crop_flip'"),
        ({"pipeline": "tf.data"}, "pipeline does not apply"),
        ({"image_size": (8, 8)}, "image_size does not apply"),
        ({"normalize": False}, "normalize does not apply"),
    ],
)
def test_load_refuses_image_options_for_a_graph(cora_like, options, message):
    with pytest.raises(ValueError, match=message):
        keras_slt.data.load("cora", data_dir=str(cora_like), **options)


def test_load_arrays_points_a_graph_to_load_graph():
    with pytest.raises(ValueError, match="dataset pubmed is a graph: read it with keras_slt.data.load_graph"):
        keras_slt.data.load_arrays("pubmed")
    assert keras_slt.data.GRAPH_NAMES == ("cora", "citeseer", "pubmed", "ogbn_arxiv")


def test_full_batch_search_lowers_the_loss_and_changes_the_mask(cora_like, tmp_path):
    from keras_slt.experiments import runner

    results = runner.run_search(tiny_config(cora_like, tmp_path))
    losses = [epoch["loss"] for epoch in results["history"]]
    assert losses[-1] < losses[0]
    assert all("test_accuracy" in epoch and "val_accuracy" in epoch for epoch in results["history"])
    assert (results["num_train"], results["num_validation"], results["num_test"]) == (12, 500, 10)
    assert results["actual_sparsity"] == pytest.approx(0.5, abs=1e-3)
    best = keras.saving.load_model(tmp_path / "best.keras")
    start = keras_slt.models.get(
        "gin", (12,), 3, width=16, sparsity=0.5, freeze_ratio=0.5, weight_init="kaiming_uniform"
    )
    inputs = load_graph("cora", str(cora_like)).inputs()
    start(inputs)
    assert any(not np.array_equal(a, b) for a, b in zip(best.masks(), start.masks()))
    # The test accuracy reported is that of the best validation epoch.
    assert results["test_accuracy"] == results["history"][results["best_epoch"] - 1]["test_accuracy"]
    # Export: .keras and .slt written and checked.
    from keras_slt.deploy import artifacts

    exported = artifacts.export_ticket(best, tmp_path / "export", inputs, formats=("keras", "slt"))
    assert exported.passed and set(exported.paths) == {"keras", "slt"}


@pytest.mark.requires_tensorflow
def test_graph_ticket_export_declines_tflite(cora_like, tmp_path):
    from keras_slt.deploy import artifacts, report

    inputs = load_graph("cora", str(cora_like)).inputs()
    model = keras_slt.models.get("gin", (12,), 3, width=8, sparsity=0.5, freeze_ratio=0.5)
    model(inputs)
    exported = artifacts.export_ticket(model, tmp_path, inputs, latency_budget_s=None)
    assert exported.passed and set(exported.paths) == {"keras", "slt"}
    assert [str(c) for c in exported.checks if c.value is None] == [
        "[skipped] TFLite: not written: TFLite needs fixed input shapes, input edges (None, 2, None)"
    ]
    assert re.search(r"TFLite float32, sparse +not written", report.size_table(model, exported.sizes))


@pytest.mark.slow
def test_resumed_full_batch_run_ends_like_an_uninterrupted_one(cora_like, tmp_path):
    from keras_slt.experiments import runner

    straight = runner.run_search(tiny_config(cora_like, tmp_path / "straight", epochs=4))
    with pytest.raises(KeyboardInterrupt):
        runner.run_search(tiny_config(cora_like, tmp_path / "resumed", epochs=4), callbacks=[StopAfterEpoch(2)])
    resumed = runner.run_search(tiny_config(cora_like, tmp_path / "resumed", epochs=4))
    assert [e["loss"] for e in resumed["history"]] == [e["loss"] for e in straight["history"]]
    for key in ("test_accuracy", "val_accuracy", "best_epoch", "actual_sparsity"):
        assert resumed[key] == straight[key], key
    masks = [keras.saving.load_model(tmp_path / run / "best.keras").masks() for run in ("straight", "resumed")]
    assert all(np.array_equal(a, b) for a, b in zip(*masks))


def test_gin_fits_saves_and_loads_with_xla(tmp_path):
    features, labels, edges = random_graph()
    graph_inputs = {"features": features[None], "edges": np.stack([edges[:, 0], edges[:, 1]]).astype(np.int32)[None]}
    model = keras_slt.models.get("gin", (12,), 3, width=8, sparsity=0.5, freeze_ratio=0.5)
    model.compile(
        keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    weights = np.ones((1, len(labels)), np.float32)
    history = model.fit(graph_inputs, labels[None], sample_weight=weights, batch_size=1, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.evaluate(graph_inputs, labels[None], batch_size=1, verbose=0)
    logits = model.predict(graph_inputs, batch_size=1, verbose=0)
    assert logits.shape == (1, 40, 3)
    model.save(tmp_path / "gin.keras")
    loaded = keras.saving.load_model(tmp_path / "gin.keras")
    np.testing.assert_array_equal(loaded.predict(graph_inputs, batch_size=1, verbose=0), logits)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model=gin", "--dataset=fashion_mnist"], "--model gin does not fit --dataset fashion_mnist"),
        (["--model=gin", "--dataset=cora", "--data_dir=/"], "--data_dir: /ind.cora.x does not exist"),
        (
            ["--model=gin", "--dataset=cora", "--optimizer=rmsprop"],
            "flag --optimizer=rmsprop: value should be one of <sgd|adam>",
        ),
    ],
)
def test_bad_graph_flags_exit_with_one_line(tmp_path, flags, message):
    result = run_tool("tools/search.py", *flags, f"--output_dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert "Traceback" not in result.stderr
