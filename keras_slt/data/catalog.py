"""Static facts about the supported datasets.

Normalization constants are the per-channel mean and standard deviation of
the training images scaled to [0, 1], as the paper's official code writes
them (utils/dataset.py) where it has the dataset:

- MNIST: 0.1307 / 0.3081.
- Fashion-MNIST: 0.2860 / 0.3530 (computed from the 60000 training images).
- CIFAR-10: (0.491, 0.482, 0.447) / (0.247, 0.243, 0.262).
- CIFAR-100: (0.507, 0.487, 0.441) / (0.267, 0.256, 0.276).
- ImageNet (ILSVRC 2012): (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225),
  the constants used by most published ImageNet models.
"""

import collections

DatasetSpec = collections.namedtuple("DatasetSpec", ["input_shape", "num_classes", "mean", "std", "obtain"])
DatasetSpec.__doc__ = """Static facts about one dataset.

Attributes:
    input_shape: Shape of one model input image.
    num_classes: Number of label values.
    mean: Per-channel mean of the training images scaled to [0, 1].
    std: Per-channel standard deviation of those images.
    obtain: How to obtain the files, for error messages.
"""

_IDX_FILES = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"
)

SPECS = {
    "mnist": DatasetSpec(
        input_shape=(28, 28, 1),
        num_classes=10,
        mean=(0.1307,),
        std=(0.3081,),
        obtain=(
            f"download {_IDX_FILES} from "
            "https://storage.googleapis.com/cvdf-datasets/mnist/ and pass "
            "their directory as data_dir"
        ),
    ),
    "fashion_mnist": DatasetSpec(
        input_shape=(28, 28, 1),
        num_classes=10,
        mean=(0.2860,),
        std=(0.3530,),
        obtain=(
            "run `apt-get install dataset-fashion-mnist` (installs them in "
            f"/usr/share/datasets/fashion-mnist) or download {_IDX_FILES} "
            "from https://github.com/zalandoresearch/fashion-mnist and pass "
            "their directory as data_dir"
        ),
    ),
    "cifar10": DatasetSpec(
        input_shape=(32, 32, 3),
        num_classes=10,
        mean=(0.491, 0.482, 0.447),
        std=(0.247, 0.243, 0.262),
        obtain=(
            "download and extract "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and "
            "pass the cifar-10-batches-py folder or its parent as data_dir, "
            "or pass a folder of train/<class>/ and test/<class>/ JPEG images "
            "named after the ten CIFAR-10 classes"
        ),
    ),
    "cifar100": DatasetSpec(
        input_shape=(32, 32, 3),
        num_classes=100,
        mean=(0.507, 0.487, 0.441),
        std=(0.267, 0.256, 0.276),
        obtain=(
            "download and extract "
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and "
            "pass the cifar-100-python folder or its parent as data_dir"
        ),
    ),
    "imagenet2012": DatasetSpec(
        input_shape=(224, 224, 3),
        num_classes=1000,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        obtain=(
            "download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar "
            "from https://image-net.org/download-images (registration "
            "required) and pass their directory as data_dir"
        ),
    ),
}

NAMES = tuple(SPECS)

# The datasets the user names rather than picks (`keras_slt.data.custom`).
IMAGE_FOLDER = "image_folder"
TFDS_PREFIX = "tfds:"

# Directories read when no data_dir is given, if they exist.
DEFAULT_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
