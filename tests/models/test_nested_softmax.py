"""A softmax at the end of a nested model is trained as probabilities on every backend.

TensorFlow's cross-entropy finds the logits behind a softmax output even when
told the output is logits; JAX's does not, so a softmax missed inside a
nested model would be trained as logits there, and the run reach another
accuracy without a word.
"""

import keras
import numpy as np
import pytest

from keras_slt.experiments import model_source


def head(kind):
    """The inner model, whose output is a softmax."""
    if kind == "functional":
        inputs = keras.Input((8,))
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    if kind == "softmax layer":
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(3), keras.layers.Softmax()])
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])


def nested(kind):
    """A network whose softmax output is the output of a model inside a model inside it."""
    inputs = keras.Input((4,))
    outputs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), head(kind)])(inputs)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("kind", ["sequential", "functional", "softmax layer"])
def test_a_softmax_inside_a_nested_model_is_trained_as_probabilities(kind):
    keras.utils.set_random_seed(0)
    model = nested(kind)
    assert model_source.ends_in_softmax(model)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = np.arange(16) % 3
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not model_source.ends_in_softmax(model))
    probabilities = keras.ops.convert_to_numpy(model(x))
    expected = -np.mean(np.log(probabilities[np.arange(16), y]))
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loss(y, model(x)))), expected, rtol=1e-5)


def test_logits_inside_a_nested_model_stay_logits():
    inputs = keras.Input((4,))
    outputs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])(inputs)
    assert not model_source.ends_in_softmax(keras.Model(inputs, outputs))
