"""Files in variable layout 1 of the supermask layers.

Models (.keras) and tickets (.slt) whose layers have no selection mode of
their own (tests/data, see its README) load and give the same predictions,
evaluation, exports and masks.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_slt import deploy, ticket
from test_model import GLOBAL_ERROR

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


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
    plain = ticket.materialize(model)
    assert_same_floats(plain.predict(x, verbose=0), saved[f"{selection}_materialized"])
    y = np.array([0, 1, 2, 3, 0])
    expected = ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y, saved[f"{selection}_model"]))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected.mean(), rtol=1e-6)
    if selection == "global":
        with pytest.raises(ValueError, match=GLOBAL_ERROR):
            model.network(x)
        content = deploy.to_tflite(model)
        np.testing.assert_allclose(deploy.tflite.predict(content, x), saved["global_materialized"], atol=1e-5)


def test_saved_ticket_loads_and_predicts_the_same(saved, tmp_path):
    path = os.path.join(DATA, "fc_global.slt")
    assert_same_floats(ticket.load_ticket(path).predict(saved["x"], verbose=0), saved["global_ticket"])
    model = ticket.load_ticket(path, supermask=True)
    for i, mask in enumerate(model.masks()):
        np.testing.assert_array_equal(mask, saved[f"global_mask{i}"])
    # Saved again by this version, the ticket's masks and floats are unchanged.
    ticket.save_ticket(model, tmp_path / "again.slt")
    assert_same_floats(ticket.load_ticket(tmp_path / "again.slt").predict(saved["x"], verbose=0), saved["global_ticket"])
