"""The epoch plan, and the tf.data and NumPy pipelines that follow it batch for batch."""

import numpy as np
import pytest

from keras_slt import data
from keras_slt.data import custom
from keras_slt.data.batching import numpy_batches, plan

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def images_and_labels(n=50, shape=(32, 32, 3)):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int32)


def test_epoch_plan_is_keyed_by_seed_and_epoch():
    order = plan.epoch_order(3, 0, 100)
    assert sorted(order.tolist()) == list(range(100))
    np.testing.assert_array_equal(order, plan.epoch_order(3, 0, 100))
    assert not np.array_equal(order, plan.epoch_order(3, 1, 100))
    assert not np.array_equal(order, plan.epoch_order(4, 0, 100))
    rows, cols, flips = plan.crop_flip_draws(3, 0, 9000)
    # Every offset of the 9 x 9 window positions, and both flips, occur.
    assert set(rows.tolist()) == set(cols.tolist()) == set(range(9))
    assert 0.45 < flips.mean() < 0.55


def test_numpy_crop_flip_is_the_padded_window():
    images, _ = images_and_labels(8)
    rows, cols, flips = plan.crop_flip_draws(1, 2, 8)
    out = plan.crop_flip(images, rows, cols, flips)
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    for i in range(8):
        window = padded[i, rows[i] : rows[i] + 32, cols[i] : cols[i] + 32]
        np.testing.assert_array_equal(out[i], window[:, ::-1] if flips[i] else window)


def test_numpy_stream_visits_every_example_once_per_epoch():
    images, labels = images_and_labels(50)
    labels = np.arange(50, dtype=np.int32)  # a label per example: which one was visited
    stream = numpy_batches.TrainingBatches(images, labels, MEAN, STD, 16, seed=0, augment=True)
    assert stream.steps_per_epoch == 4
    epochs = [np.concatenate([stream[4 * e + k][1] for k in range(4)]) for e in range(3)]
    for e, visited in enumerate(epochs):
        np.testing.assert_array_equal(visited, plan.epoch_order(0, e, 50))
    # A stream started at epoch 2 (a resumed run) sees epoch 2's batches.
    resumed = numpy_batches.TrainingBatches(images, labels, MEAN, STD, 16, seed=0, augment=True, first_epoch=2)
    for k in range(4):
        np.testing.assert_array_equal(resumed[k][0], stream[8 + k][0])


@pytest.mark.requires_tensorflow
@pytest.mark.parametrize("augment", [True, False])
def test_tf_and_numpy_streams_are_equal(augment):
    from keras_slt.data.batching import tf_batches

    images, labels = images_and_labels(50)
    for first_epoch in (0, 2):
        tf_stream = tf_batches.training_stream(images, labels, MEAN, STD, 16, 7, augment, first_epoch)
        numpy_stream = numpy_batches.TrainingBatches(images, labels, MEAN, STD, 16, 7, augment, first_epoch)
        # Three epochs of 4 batches, the last of each epoch 2 examples.
        for k, (x, y) in enumerate(tf_stream.take(12).as_numpy_iterator()):
            expected_x, expected_y = numpy_stream[k]
            assert len(y) == (2 if k % 4 == 3 else 16)
            np.testing.assert_array_equal(x, expected_x, err_msg=f"batch {k}")
            np.testing.assert_array_equal(y, expected_y, err_msg=f"batch {k}")


@pytest.mark.requires_tensorflow
@pytest.mark.parametrize("augment", ["auto", "crop_flip"])
@pytest.mark.parametrize(
    "dataset, folder, image_size, steps",
    [
        ("fashion_mnist", "data_dir", None, 3),  # 160 training examples
        ("image_folder", "image_dir", (12, 10), 3),  # 36 images: 8 test, 22 training, 6 validation
    ],
)
def test_load_gives_the_same_batches_on_both_pipelines(request, dataset, folder, image_size, steps, augment):
    loads = [
        data.load(
            dataset,
            data_dir=request.getfixturevalue(folder),
            batch_size=10 if image_size else 64,
            seed=4,
            augment=augment,
            image_size=image_size,
            pipeline=kind,
        )
        for kind in ("tf.data", "numpy")
    ]
    tf_data, numpy_data = loads
    assert tf_data.steps_per_epoch == numpy_data.steps_per_epoch == steps
    # Three epochs from epoch 1 on.
    for k, (x, y) in enumerate(tf_data.train_from(1).take(3 * steps).as_numpy_iterator()):
        expected_x, expected_y = numpy_data.train_from(1)[k]
        np.testing.assert_array_equal(x, expected_x, err_msg=f"batch {k}")
        np.testing.assert_array_equal(y, expected_y, err_msg=f"batch {k}")
    for split in ("validation", "test"):
        tf_batches = list(getattr(tf_data, split).as_numpy_iterator())
        numpy_batches = getattr(numpy_data, split)
        assert len(tf_batches) == len(numpy_batches)
        for k, (x, y) in enumerate(tf_batches):
            np.testing.assert_array_equal(x, numpy_batches[k][0])
            np.testing.assert_array_equal(y, numpy_batches[k][1])


def test_image_folder_batches_without_tf_data(image_dir):
    ds = data.load("image_folder", data_dir=image_dir, batch_size=10, seed=4, image_size=(12, 10), pipeline="numpy")
    assert (ds.num_train, ds.num_validation, ds.num_test, ds.input_shape) == (22, 6, 8, (12, 10, 3))
    x_pool, y_pool, x_test, y_test = data.load_arrays("image_folder", image_dir, image_size=(12, 10))
    mean, std = custom.channel_statistics(x_pool)
    # Epoch 2 visits the training images in the plan's order, standardized by the pool's statistics.
    order = data.split_indices(28, 0.2, 4)[0][plan.epoch_order(4, 2, 22)]
    x, y = zip(*(ds.train_from(2)[k] for k in range(3)))
    np.testing.assert_array_equal(np.concatenate(y), y_pool[order])
    np.testing.assert_array_equal(np.concatenate(x), plan.normalize(x_pool[order], mean, std))
    np.testing.assert_array_equal(np.concatenate([ds.test[k][1] for k in range(len(ds.test))]), y_test)


def test_load_refuses_an_unknown_pipeline():
    with pytest.raises(ValueError, match="pipeline must be one of auto, tf.data, numpy"):
        data.load("mnist", pipeline="torch")
