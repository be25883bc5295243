"""Model-size accounting (docs/METHOD.md, section 7 (Model size))."""

import math

import keras
import pytest

import keras_slt
from keras_slt.ticket.size import SEED_BITS, binary_entropy


def test_binary_entropy():
    assert binary_entropy(0.5) == 1.0 and binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    assert binary_entropy(0.1) == pytest.approx(0.4689955935892812)


def test_accounting_of_a_small_model():
    base = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, use_bias=True),
        ]
    )
    model = keras_slt.supermaskify(base, sparsity=0.6, freeze_ratio=0.5, seed=0, use_bias=True)
    size = keras_slt.model_size(model)
    n_conv, n_dense = 3 * 3 * 2 * 4, 64 * 10
    assert size.supermask_weights == n_conv + n_dense
    assert size.free == size.supermask_weights - size.pruned - size.locked
    # Stored floats: conv bias 4, BN moving mean/var 8 (non-affine), dense bias 10.
    assert size.stored_floats == 4 + 8 + 10
    assert size.mask_bits == size.free
    assert size.model_size_bits == size.free + 32 * 22 + SEED_BITS
    assert size.dense_float32_bits == 32 * (n_conv + n_dense + 22)
    masks = model.masks()
    assert size.kept == sum(int(m.sum()) for m in masks)
    expected_entropy = 0.0
    for layer, mask in zip(model.supermask_layers, masks):
        free = layer.freeze_pattern() == 0
        expected_entropy += free.sum() * binary_entropy(mask[free].mean())
    assert size.entropy_bits == pytest.approx(expected_entropy)
    assert size.entropy_bits < size.mask_bits


def test_freezing_halves_ticket_bits():
    base = keras.Sequential([keras.Input((100,)), keras.layers.Dense(100), keras.layers.Dense(10)])
    dense_source = keras_slt.model_size(keras_slt.supermaskify(base, sparsity=0.5))
    frozen = keras_slt.model_size(keras_slt.supermaskify(base, sparsity=0.5, freeze_ratio=0.5))
    assert dense_source.mask_bits == 11000
    assert frozen.mask_bits == 11000 - frozen.pruned - frozen.locked
    assert math.isclose(frozen.mask_bits / dense_source.mask_bits, 0.5, abs_tol=0.001)
    assert dense_source.dense_float32_bits == 32 * 11000
