"""`--strategy=data_parallel` reads ImageNet: each process decodes its rows of every tf.data batch.

The host shards of the record pipelines are checked in this process with a
stand-in placement; the placement on 2 virtual JAX devices, a few steps and
an evaluation ending with a batch that does not divide run in a process of
their own on JAX (`data_parallel_imagenet.py`), on TFDS's mock ImageNet.
"""

import importlib.util

import numpy as np
import pytest
from helpers import tiny_config
from test_data_parallel import TOLERANCE, Placement, run_script

from keras_slt.experiments.jax_parallel import HostShard

pytestmark = pytest.mark.requires_tensorflow

tf = pytest.importorskip("tensorflow")
from keras_slt.data.batching import tf_batches  # noqa: E402


def check_hosts(whole, hosts, count, num_devices):
    """Batch k of each host in `hosts` is its rows of batch k of `whole`, for the first `count`."""
    for k, (x, y) in enumerate(whole.take(count).as_numpy_iterator()):
        parts = [host[k] for host in hosts]
        if len(y) % num_devices:  # an epoch's last batch: every host decodes it whole
            assert all(np.array_equal(px, x) and np.array_equal(py, y) for px, py in parts), k
        else:
            assert [len(py) for _, py in parts] == [len(y) // len(hosts)] * len(hosts), k
            np.testing.assert_array_equal(np.concatenate([px for px, _ in parts]), x)
            np.testing.assert_array_equal(np.concatenate([py for _, py in parts]), y)


@pytest.mark.parametrize("num_devices, num_processes", [(4, 2), (8, 4), (2, 2)])
def test_the_hosts_decode_together_the_batches_of_one_host(num_devices, num_processes):
    """Shuffled through a buffer, augmented with each example's seed: 23 = 5 * 4 + 3 examples an epoch."""
    rng = np.random.default_rng(0)
    records = tf.data.Dataset.from_tensor_slices(
        (rng.integers(0, 256, (23, 3, 3, 1), dtype=np.uint8), rng.integers(0, 10, 23).astype(np.int32))
    )

    def transform(record, seed):  # the seed drawn for each example must stay with it
        return tf.cast(record, tf.float32) + tf.random.stateless_uniform((), seed)

    placement = Placement(num_devices, num_processes)
    shards = [HostShard(placement, index) for index in range(num_processes)]

    def training(rows):
        return tf_batches.shuffled_stream(records, transform, 4, seed=3, shuffle_buffer=8, first_epoch=1, rows=rows)

    hosts = [tf_batches.HostBatches(training(shard.rows), shard) for shard in shards]
    check_hosts(training(None), hosts, 14, num_devices)  # into the third epoch

    def evaluation(rows):
        return tf_batches.evaluation_pipeline(records, lambda image: tf.cast(image, tf.float32), 4, rows)

    hosts = [tf_batches.HostBatches(evaluation(shard.rows), shard, num_batches=6) for shard in shards]
    check_hosts(evaluation(None), hosts, 6, num_devices)
    check_hosts(evaluation(None), hosts, 6, num_devices)  # batch 0 starts a new pass


def test_a_host_decodes_only_its_rows():
    decoded = []

    def decode(i, label):
        return tf.py_function(lambda value: decoded.append(int(value)) or value, [i], tf.int64), label

    examples = tf.data.Dataset.range(10).map(lambda i: (i, i))
    shard = HostShard(Placement(2, 2), index=1)
    batches = tf_batches.batch_rows(examples, decode, 4, shard.rows)
    assert [(y.tolist(), int(n)) for _, y, n in batches.as_numpy_iterator()] == [([2, 3], 4), ([6, 7], 4), ([9], 2)]
    assert sorted(decoded) == [2, 3, 6, 7, 9]


def test_host_batches_are_read_in_order():
    batches = tf.data.Dataset.range(3).map(lambda i: (i, i, tf.constant(1)))
    host = tf_batches.HostBatches(batches, HostShard(Placement(1, 1), 0), num_batches=3)
    assert [int(host[k][0]) for k in (0, 1, 0, 1, 2)] == [0, 1, 0, 1, 2]
    host[0]
    with pytest.raises(IndexError, match="batch 2 asked for after batch 0"):
        host[2]


def test_a_record_pipeline_with_rows_needs_its_cardinality():
    unknown = tf.data.Dataset.range(4).filter(lambda i: i > 0).map(lambda i: (i, i))
    with pytest.raises(ValueError, match="known cardinality when rows is given"):
        tf_batches.batch_rows(unknown, lambda x, y: (x, y), 2, lambda n: slice(0, n))


def test_imagenet_is_a_data_parallel_dataset(tmp_path):
    tiny_config(
        None, tmp_path, strategy="data_parallel", model="resnet50", dataset="imagenet2012", width=None
    ).validate()


@pytest.mark.slow
def test_load_gives_each_host_its_rows_of_imagenet():
    """TFDS's mock ImageNet, 7 examples a split: training 5 (batches 4, 1), validation 2, test 7 (4, 3)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from keras_slt import data

    placement = Placement(4, 2)
    with tfds.testing.mock_data(num_examples=7):
        whole = data.load("imagenet2012", batch_size=4)
        hosts = [data.load("imagenet2012", batch_size=4, shard=HostShard(placement, index)) for index in (0, 1)]
        check_hosts(whole.train_from(1), [host.train_from(1) for host in hosts], 4, 4)
        for split, batches in (("validation", 1), ("test", 2)):
            assert [getattr(host, split).num_batches for host in hosts] == [batches] * 2
            check_hosts(getattr(whole, split), [getattr(host, split) for host in hosts], batches, 4)


@pytest.mark.slow
@pytest.mark.skipif(not importlib.util.find_spec("jax"), reason="needs JAX beside TensorFlow")
def test_imagenet_on_two_devices_matches_one_device():
    (report,) = run_script("data_parallel_imagenet.py", devices=2)
    assert report["devices"] == 2
    split, replicated = "P('batch',)", "P()"
    assert report["test"] == {"equal": True, "rows": [4, 4, 4, 1], "specs": [split] * 3 + [replicated]}
    assert report["validation"] == {"equal": True, "rows": [3], "specs": [replicated]}
    assert report["train"] == {"equal": True, "rows": [4, 4, 2, 4], "specs": [split] * 4}
    fc = report["fc"]
    assert fc["first_masks_equal"]
    assert fc["loss_gap"] < TOLERANCE and fc["score_gap"] < TOLERANCE, fc
    assert fc["flips_far_from_threshold"] == 0, fc
    one, several = report["test_loss"]
    assert several == pytest.approx(one, abs=TOLERANCE)
