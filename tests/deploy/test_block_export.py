"""Blocked tickets deployed: .slt bits per free block, LiteRT's block-sparse kernels."""

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt.ticket import load_ticket, materialize, save_ticket, slt_format


def blocked_ticket(block_size, sparsity=0.9, freeze_ratio=0.5, seed=1):
    base = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(48, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(4),
        ]
    )
    return keras_slt.supermaskify(base, sparsity=sparsity, freeze_ratio=freeze_ratio, seed=seed, block_size=block_size)


def test_ticket_stores_one_bit_per_free_block(tmp_path):
    model = blocked_ticket(4, sparsity=0.7)
    save_ticket(model, tmp_path / "t.slt")
    _, coded, _ = slt_format.read(tmp_path / "t.slt")
    free_blocks = [int((layer.freeze_pattern() == 0).sum()) for layer in model.supermask_layers]
    assert [c.num_free for c in coded] == free_blocks
    assert [c.num_free * 4 for c in coded] == [layer.num_free for layer in model.supermask_layers]
    plain, loaded = materialize(model), load_ticket(tmp_path / "t.slt")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(plain.get_weights(), loaded.get_weights()))
    again = load_ticket(tmp_path / "t.slt", supermask=True)
    for found, expected in zip(again.masks(), model.masks()):
        np.testing.assert_array_equal(found, expected)


@pytest.mark.requires_tensorflow
def test_float_1x4_blocks_run_on_the_block_kernel():
    from keras_slt.deploy import block_sparse, tflite

    model = blocked_ticket(4)
    x = np.random.default_rng(0).standard_normal((200, 64)).astype("float32")
    content = tflite.to_tflite(model)
    found = block_sparse.layouts(content)
    assert [(layout.kind, layout.block, layout.shape) for layout in found] == [
        (block_sparse.BLOCK, 4, (48, 64)),
        (block_sparse.BLOCK, 4, (32, 48)),
        (block_sparse.BLOCK, 4, (4, 32)),
    ]
    assert block_sparse.summary(content) == "FULLY_CONNECTED: 3 block-sparse 1x4"
    np.testing.assert_allclose(tflite.predict(content, x), materialize(model).predict(x, verbose=0), atol=1e-4)
    # The same sparsity without blocks is stored as CSR and densified at load.
    unblocked = tflite.to_tflite(blocked_ticket(1))
    assert {layout.kind for layout in block_sparse.layouts(unblocked)} == {block_sparse.DENSIFIED}


@pytest.mark.requires_tensorflow
def test_int8_1x16_blocks_run_on_the_block_kernel():
    from keras_slt.deploy import block_sparse, tflite

    base = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)])
    model = keras_slt.supermaskify(base, sparsity=0.9, seed=2, block_size=16)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 64)).astype("float32")
    content = tflite.to_tflite(model, int8=True, representative_data=x[:200])
    assert [(layout.kind, layout.block) for layout in block_sparse.layouts(content)] == [(block_sparse.BLOCK, 16)] * 2
    expected = materialize(model).predict(x[200:], verbose=0)
    agreement = np.mean(tflite.predict(content, x[200:]).argmax(1) == expected.argmax(1))
    assert agreement >= 0.95, agreement
    dense = tflite.to_tflite(model, int8=True, representative_data=x[:200], sparse=False)
    assert block_sparse.summary(dense) == "FULLY_CONNECTED: 2 dense"
