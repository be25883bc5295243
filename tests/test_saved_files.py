"""Selection modes, and files saved by earlier versions.

The supermask layers of a globally selected model refuse to run outside its
call; models (.keras) and tickets (.slt) saved before layers had a selection
mode of their own (tests/data, see its README) still load and give the same
predictions, evaluation, exports and masks.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_slt
from keras_slt import export
from keras_slt.layers import SupermaskDense

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
GLOBAL_ERROR = "under global selection and was called without its model's threshold"


def small_model(selection, sparsity=0.6):
    network = keras.Sequential([
        keras.Input((6,)),
        SupermaskDense(8, activation="relu", seed=2, layer_index=0),
        SupermaskDense(3, seed=2, layer_index=1),
    ])
    return keras_slt.SupermaskModel(network, sparsity=sparsity, selection=selection)


@pytest.mark.agnostic
def test_network_of_a_global_model_refuses_to_run_alone():
    model = small_model("global")
    x = np.ones((2, 6), "float32")
    model(x)
    with pytest.raises(ValueError, match=GLOBAL_ERROR):
        model.network(x)
    cut = keras.Model(model.network.inputs[0], model.network.layers[0].output)
    with pytest.raises(ValueError, match=GLOBAL_ERROR):
        cut(x)


@pytest.mark.agnostic
def test_network_of_a_layerwise_model_selects_alone():
    model = small_model("layerwise")
    x = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(model.network(x)), ops.convert_to_numpy(model(x)))


@pytest.mark.agnostic
def test_model_owns_selection_and_sparsity():
    model = small_model("global", sparsity=0.7)
    assert [(l.selection, l.sparsity) for l in model.supermask_layers] == [("global", 0.7)] * 2
    network = keras.Sequential([keras.Input((6,)), SupermaskDense(3, sparsity=0.5)])
    with pytest.raises(ValueError, match="has sparsity 0.5, its SupermaskModel 0.7"):
        keras_slt.SupermaskModel(network, sparsity=0.7)
    for name in ("sparsity", "selection"):
        with pytest.raises(AttributeError):
            setattr(model, name, 0.5)


def test_static_scale_uses_the_model_sparsity():
    network = keras.Sequential([keras.Input((6,)), SupermaskDense(4, scale="static", seed=1)])
    model = keras_slt.SupermaskModel(network, sparsity=0.75, selection="layerwise")
    x = np.random.default_rng(1).standard_normal((2, 6)).astype("float32")
    layer = model.supermask_layers[0]
    kernel = ops.convert_to_numpy(layer.kernel_weights()) * model.masks()[0] * np.float32(2.0)  # 1/sqrt(1 - 0.75)
    np.testing.assert_allclose(ops.convert_to_numpy(model(x)), x @ kernel, rtol=1e-6)


def assert_same_floats(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def saved():
    return dict(np.load(os.path.join(DATA, "fc_predictions.npz")))


@pytest.mark.parametrize("selection", ["global", "layerwise"])
def test_saved_model_loads_and_predicts_the_same(saved, selection):
    model = keras.saving.load_model(os.path.join(DATA, f"fc_{selection}.keras"))
    x = saved["x"]
    assert [l.selection for l in model.supermask_layers] == [selection] * 2
    # Masks are exact; float outputs may differ in the last bit on another
    # CPU (XLA compiles for the machine it runs on).
    for i, mask in enumerate(model.masks()):
        np.testing.assert_array_equal(mask, saved[f"{selection}_mask{i}"])
    assert_same_floats(model.predict(x, verbose=0), saved[f"{selection}_model"])
    assert_same_floats(ops.convert_to_numpy(model(x)), saved[f"{selection}_model"])
    plain = export.materialize(model)
    assert_same_floats(plain.predict(x, verbose=0), saved[f"{selection}_materialized"])
    y = np.array([0, 1, 2, 3, 0])
    expected = ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y, saved[f"{selection}_model"]))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected.mean(), rtol=1e-6)
    if selection == "global":
        with pytest.raises(ValueError, match=GLOBAL_ERROR):
            model.network(x)
        content = export.to_tflite(model)
        np.testing.assert_allclose(export.tflite.predict(content, x), saved["global_materialized"], atol=1e-5)


def test_saved_ticket_loads_and_predicts_the_same(saved, tmp_path):
    path = os.path.join(DATA, "fc_global.slt")
    assert_same_floats(export.load_ticket(path).predict(saved["x"], verbose=0), saved["global_ticket"])
    model = export.load_ticket(path, supermask=True)
    for i, mask in enumerate(model.masks()):
        np.testing.assert_array_equal(mask, saved[f"global_mask{i}"])
    # Saved again by this version, the ticket's masks and floats are unchanged.
    export.save_ticket(model, tmp_path / "again.slt")
    assert_same_floats(export.load_ticket(tmp_path / "again.slt").predict(saved["x"], verbose=0), saved["global_ticket"])


@pytest.mark.agnostic
def test_functional_network_builds_before_the_model_sets_sparsity():
    # Building the graph traces the layers symbolically, before any model
    # (or sparsity) exists; static scale needs the sparsity only when run.
    inputs = keras.Input((6, 6, 2))
    x = keras_slt.SupermaskConv2D(3, 3, scale="static", layer_index=0)(inputs)
    x = keras.layers.Flatten()(x)
    network = keras.Model(inputs, SupermaskDense(2, scale="static", layer_index=1)(x))
    model = keras_slt.SupermaskModel(network, sparsity=0.5)
    assert model(np.ones((1, 6, 6, 2), "float32")).shape == (1, 2)
