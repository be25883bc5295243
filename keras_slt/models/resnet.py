"""ResNets in the torchvision layout: BasicBlock ResNet-18/34 (CIFAR or
ImageNet stem) and bottleneck ResNet-50/101 and Wide-ResNet-50-2 ("v1.5").

As in torchvision and the paper's official code: the stride of a
downsampling block is on its 3x3 convolution (keras.applications' ResNet50
puts it on the first 1x1), a projection shortcut (1x1 convolution and
BatchNorm) where the shape changes, BatchNorm momentum 0.9 in Keras terms
(0.1 in PyTorch terms) and epsilon 1e-5, padding k // 2 on both sides of a
strided convolution. Convolutions and the classifier have no bias, BatchNorm
is non-affine (the official `use_affine_bn: False`) and the initial weights
are Kaiming-uniform, so `supermask=False` is the official weight-trained
baseline; `keras_slt.supermaskify` replaces the weights of the supermask
version. keras.applications networks stay usable through `supermaskify`.

Two stems:
- "imagenet": 7x7/2 convolution, BatchNorm, ReLU, 3x3/2 max-pool.
- "cifar": 3x3/1 convolution, BatchNorm, ReLU, no max-pool.
ResNet-18/34 pick the CIFAR stem for inputs of at most 64x64 pixels (CIFAR,
Tiny ImageNet, MNIST) and the ImageNet stem for larger ones, unless `stem`
says otherwise; the bottleneck networks always have the ImageNet stem.
"""

import keras
from keras import layers

from keras_slt.models.catalog import BASIC_BLOCKS, BOTTLENECK_BLOCKS, STEMS
from keras_slt.models.convnets import check_width_factor, kaiming_uniform, scaled
from keras_slt.utils.validation import check_one_of

STAGE_CHANNELS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4


def basic_resnet(input_shape, num_classes, depth, stem=None, width_factor=1.0):
    """ResNet-18 or ResNet-34 built from BasicBlocks.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of output logits.
        depth: 18 or 34.
        stem: "imagenet", "cifar", or None to choose by input size (see the
            module docstring).
        width_factor: multiplies every layer's channels.

    Returns:
        A `keras.Model` named `{stem}_resnet{depth}` with logits output.

    Example:

    >>> model = basic_resnet((32, 32, 3), 10, 18, stem="cifar")
    >>> model.count_params()  # kernels and BatchNorm statistics
    11173952
    """
    check_one_of("depth", depth, tuple(BASIC_BLOCKS))
    check_width_factor(width_factor)
    if stem is None:
        stem = "cifar" if max(input_shape[:2]) <= 64 else "imagenet"
    inputs = keras.Input(input_shape, name="image")
    x = _stem(inputs, stem, scaled(64, width_factor))
    for stage, (blocks, channels) in enumerate(zip(BASIC_BLOCKS[depth], STAGE_CHANNELS)):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, scaled(channels, width_factor), stride, name=f"stage{stage + 1}_block{block + 1}")
    return _classifier(inputs, x, num_classes, f"{stem}_resnet{depth}")


def bottleneck_resnet(input_shape, num_classes, depth, width_factor=1.0, inner_factor=1):
    """ResNet-50 or ResNet-101 (torchvision v1.5) built from bottlenecks.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of output logits.
        depth: 50 or 101.
        width_factor: multiplies every layer's channels.
        inner_factor: widens each bottleneck's 1x1-3x3 inner part (2 for
            Wide-ResNet-50-2).

    Returns:
        A `keras.Model` named `resnet{depth}` (or `wide_resnet{depth}_2`)
        with logits output.

    Example:

    >>> model = bottleneck_resnet((224, 224, 3), 1000, 50)
    >>> sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    25502912
    """
    check_one_of("depth", depth, tuple(BOTTLENECK_BLOCKS))
    check_width_factor(width_factor)
    inputs = keras.Input(input_shape, name="image")
    x = _stem(inputs, "imagenet", scaled(64, width_factor))
    for stage, (blocks, channels) in enumerate(zip(BOTTLENECK_BLOCKS[depth], STAGE_CHANNELS)):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _bottleneck(
                x,
                scaled(inner_factor * channels, width_factor),
                scaled(BOTTLENECK_EXPANSION * channels, width_factor),
                stride,
                name=f"stage{stage + 1}_block{block + 1}",
            )
    name = f"wide_resnet{depth}_{inner_factor}" if inner_factor != 1 else f"resnet{depth}"
    return _classifier(inputs, x, num_classes, name)


def wide_resnet50_2(input_shape, num_classes, width_factor=1.0):
    """Wide-ResNet-50-2: ResNet-50 with twice the bottlenecks' inner width.

    Example:

    >>> model = wide_resnet50_2((224, 224, 3), 1000)
    """
    return bottleneck_resnet(input_shape, num_classes, 50, width_factor, inner_factor=2)


def _conv(x, filters, kernel_size, stride, name):
    """A bias-free convolution padded like PyTorch's (kernel_size // 2 per side)."""
    if stride > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=kaiming_uniform(),
        name=name,
    )(x)


def _batchnorm(x, name):
    # PyTorch's BatchNorm2d(momentum=0.1, eps=1e-5, affine=False).
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, scale=False, name=name)(x)


def _stem(x, stem, channels):
    check_one_of("stem", stem, STEMS)
    if stem == "cifar":
        x = _conv(x, channels, 3, 1, "stem_conv")
        return layers.ReLU(name="stem_relu")(_batchnorm(x, "stem_bn"))
    x = _conv(x, channels, 7, 2, "stem_conv")
    x = layers.ReLU(name="stem_relu")(_batchnorm(x, "stem_bn"))
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def _shortcut(x, channels, stride, name):
    if stride == 1 and x.shape[-1] == channels:
        return x
    return _batchnorm(_conv(x, channels, 1, stride, f"{name}_proj"), f"{name}_proj_bn")


def _basic_block(x, channels, stride, name):
    shortcut = _shortcut(x, channels, stride, name)
    y = _conv(x, channels, 3, stride, f"{name}_conv1")
    y = layers.ReLU(name=f"{name}_relu1")(_batchnorm(y, f"{name}_bn1"))
    y = _batchnorm(_conv(y, channels, 3, 1, f"{name}_conv2"), f"{name}_bn2")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def _bottleneck(x, inner, channels, stride, name):
    shortcut = _shortcut(x, channels, stride, name)
    y = _conv(x, inner, 1, 1, f"{name}_conv1")
    y = layers.ReLU(name=f"{name}_relu1")(_batchnorm(y, f"{name}_bn1"))
    y = _conv(y, inner, 3, stride, f"{name}_conv2")
    y = layers.ReLU(name=f"{name}_relu2")(_batchnorm(y, f"{name}_bn2"))
    y = _batchnorm(_conv(y, channels, 1, 1, f"{name}_conv3"), f"{name}_bn3")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def _classifier(inputs, x, num_classes, name):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, use_bias=False, kernel_initializer=kaiming_uniform(), name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
