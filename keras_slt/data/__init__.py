"""Dataset pipelines for training and evaluating strong lottery tickets.

`load(name, ...)` returns a `Dataset`, batched pipelines (`tf.data`, or
NumPy `keras.utils.PyDataset`s where TensorFlow is not installed) for the
training, validation and test splits of MNIST, Fashion-MNIST, CIFAR-10,
CIFAR-100, ImageNet (ILSVRC 2012), any TFDS image classification dataset
(`"tfds:NAME"`), a folder of class subfolders (`"image_folder"`) and the
node-classification graphs `GRAPH_NAMES` (one batch, the whole graph). The
validation split of images is a deterministic, seeded 20% of the training
set; graphs keep their published split. `load_arrays` and `load_graph`
return the data itself: image arrays, or a `Graph`.

Example:

>>> import os, tempfile
>>> import PIL.Image
>>> import keras
>>> import keras_slt
>>> data_dir = tempfile.mkdtemp()
>>> for name, color in (("dark", "black"), ("light", "white")):
...     os.mkdir(os.path.join(data_dir, name))
...     for i in range(10):
...         PIL.Image.new("RGB", (8, 8), color).save(os.path.join(data_dir, name, f"{i}.png"))
>>> data = keras_slt.data.load("image_folder", data_dir=data_dir, batch_size=4, seed=0)
>>> data.num_train, data.num_validation, data.num_test
(12, 4, 4)
>>> model = keras_slt.models.get("fc", data.input_shape, data.num_classes, width=16)
>>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
...               metrics=["accuracy"])
>>> _ = model.fit(data.train, steps_per_epoch=data.steps_per_epoch, epochs=2,
...               validation_data=data.validation, verbose=0)
>>> sorted(model.evaluate(data.test, verbose=0, return_dict=True))
['accuracy', 'loss']
"""

from keras_slt.data.catalog import NAMES, SPECS, DatasetSpec
from keras_slt.data.dataset import Dataset, split_indices
from keras_slt.data.errors import DataError
from keras_slt.data.graphs import NAMES as GRAPH_NAMES
from keras_slt.data.graphs import Graph, load_graph
from keras_slt.data.loader import AUGMENTATIONS, PIPELINES, load, load_arrays

__all__ = [
    "AUGMENTATIONS",
    "DataError",
    "Dataset",
    "DatasetSpec",
    "GRAPH_NAMES",
    "Graph",
    "NAMES",
    "PIPELINES",
    "SPECS",
    "load",
    "load_arrays",
    "load_graph",
    "split_indices",
]
