"""Dataset pipelines for training and evaluating strong lottery tickets.

`load(name, ...)` returns batched `tf.data` pipelines for the training,
validation and test splits of MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100,
ImageNet (ILSVRC 2012), any TFDS image classification dataset
(`"tfds:NAME"`) and a folder of class subfolders (`"image_folder"`). The
validation split is a deterministic, seeded 20% of the training set.

Example:

>>> import keras_slt
>>> data = keras_slt.data.load("cifar10", data_dir="/data", seed=0)
>>> model.fit(data.train, validation_data=data.validation, epochs=100)
>>> model.evaluate(data.test)
"""

from keras_slt.data.catalog import NAMES
from keras_slt.data.catalog import SPECS
from keras_slt.data.custom import IMAGE_FOLDER
from keras_slt.data.custom import TFDS_PREFIX
from keras_slt.data.custom import is_custom
from keras_slt.data.custom import parse_image_size
from keras_slt.data.catalog import DatasetSpec
from keras_slt.data.errors import DataError
from keras_slt.data.loader import AUGMENTATIONS
from keras_slt.data.loader import arrays_and_spec
from keras_slt.data.loader import load
from keras_slt.data.loader import load_arrays
from keras_slt.data.pipeline import Dataset
from keras_slt.data.pipeline import normalize
from keras_slt.data.pipeline import split_indices

__all__ = [
    "AUGMENTATIONS",
    "arrays_and_spec",
    "DataError",
    "IMAGE_FOLDER",
    "TFDS_PREFIX",
    "Dataset",
    "DatasetSpec",
    "NAMES",
    "SPECS",
    "load",
    "load_arrays",
    "is_custom",
    "normalize",
    "parse_image_size",
    "split_indices",
]
