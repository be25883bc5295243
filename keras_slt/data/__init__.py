"""Dataset pipelines for training and evaluating strong lottery tickets.

`load(name, ...)` returns batched pipelines (`tf.data`, or NumPy
`keras.utils.PyDataset`s where TensorFlow is not installed) for the training,
validation and test splits of MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100,
ImageNet (ILSVRC 2012), any TFDS image classification dataset
(`"tfds:NAME"`) and a folder of class subfolders (`"image_folder"`). The
validation split is a deterministic, seeded 20% of the training set.

Example:

>>> import keras_slt
>>> data = keras_slt.data.load("cifar10", data_dir="/data", seed=0)
>>> model.fit(data.train, steps_per_epoch=data.steps_per_epoch, epochs=100,
...           validation_data=data.validation)
>>> model.evaluate(data.test)
"""

from keras_slt.data.catalog import IMAGE_FOLDER
from keras_slt.data.catalog import NAMES
from keras_slt.data.catalog import SPECS
from keras_slt.data.catalog import TFDS_PREFIX
from keras_slt.data.custom import is_custom
from keras_slt.data.custom import parse_image_size
from keras_slt.data.catalog import DatasetSpec
from keras_slt.data.errors import DataError
from keras_slt.data.dataset import Dataset
from keras_slt.data.dataset import split_indices
from keras_slt.data.loader import AUGMENTATIONS
from keras_slt.data.loader import PIPELINES
from keras_slt.data.loader import arrays_and_spec
from keras_slt.data.loader import load
from keras_slt.data.loader import load_arrays
from keras_slt.data.plan import normalize

__all__ = [
    "AUGMENTATIONS",
    "arrays_and_spec",
    "DataError",
    "IMAGE_FOLDER",
    "TFDS_PREFIX",
    "Dataset",
    "DatasetSpec",
    "NAMES",
    "PIPELINES",
    "SPECS",
    "load",
    "load_arrays",
    "is_custom",
    "normalize",
    "parse_image_size",
    "split_indices",
]
