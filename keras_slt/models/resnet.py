"""ResNets: CIFAR and ImageNet BasicBlock ResNet-18/34, Wide-ResNet-50-2, and
ResNet-50/101 from `keras.applications`.

The BasicBlock networks and Wide-ResNet-50-2 follow the torchvision layout
(stride on the 3x3 convolution, projection shortcut where the shape changes,
BatchNorm momentum 0.1 in PyTorch terms); `keras.applications` has no
ResNet-18/34 and no bottleneck wider than 4x. ResNet-50/101 are
`keras.applications.ResNet50`/`ResNet101` with their biases removed.
Convolutions and the classifier have no bias; BatchNorm is affine here and
becomes non-affine in the supermask version.

Two stems:
- "imagenet": 7x7/2 convolution, BatchNorm, ReLU, 3x3/2 max-pool.
- "cifar": 3x3/1 convolution, BatchNorm, ReLU, no max-pool.
ResNet-18/34 pick the CIFAR stem for inputs of at most 64x64 pixels (CIFAR,
Tiny ImageNet, MNIST) and the ImageNet stem for larger ones, unless `stem`
says otherwise.
"""

import keras
from keras import layers

from keras_slt.models.convnets import check_width_factor, scaled

STEMS = ("cifar", "imagenet")
BASIC_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
STAGE_CHANNELS = (64, 128, 256, 512)
APPLICATIONS = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}


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
    >>> model.count_params()  # weights, BatchNorm gamma/beta and statistics
    11183552
    """
    if depth not in BASIC_BLOCKS:
        raise ValueError(f"depth must be one of {tuple(BASIC_BLOCKS)}, got {depth!r}")
    check_width_factor(width_factor)
    if stem is None:
        stem = "cifar" if max(input_shape[:2]) <= 64 else "imagenet"
    inputs = keras.Input(input_shape, name="image")
    x = _stem(inputs, stem, scaled(64, width_factor))
    for stage, (blocks, channels) in enumerate(zip(BASIC_BLOCKS[depth], STAGE_CHANNELS)):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, scaled(channels, width_factor), stride,
                             name=f"stage{stage + 1}_block{block + 1}")
    return _classifier(inputs, x, num_classes, f"{stem}_resnet{depth}")


def wide_resnet50_2(input_shape, num_classes, width_factor=1.0):
    """Wide-ResNet-50-2: ResNet-50's bottlenecks with twice the inner width.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of output logits.
        width_factor: multiplies every layer's channels.

    Returns:
        A `keras.Model` named `wide_resnet50_2` with logits output.

    Example:

    >>> model = wide_resnet50_2((224, 224, 3), 1000)
    """
    check_width_factor(width_factor)
    inputs = keras.Input(input_shape, name="image")
    x = _stem(inputs, "imagenet", scaled(64, width_factor))
    for stage, (blocks, channels) in enumerate(zip((3, 4, 6, 3), STAGE_CHANNELS)):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _bottleneck(x, scaled(2 * channels, width_factor),
                            scaled(4 * channels, width_factor), stride,
                            name=f"stage{stage + 1}_block{block + 1}")
    return _classifier(inputs, x, num_classes, "wide_resnet50_2")


def application_resnet(input_shape, num_classes, depth):
    """`keras.applications` ResNet-50 or ResNet-101, untrained, without biases.

    Args:
        input_shape: (height, width, channels), at least 32x32.
        num_classes: number of output logits.
        depth: 50 or 101.

    Returns:
        A `keras.Model` with logits output.

    Example:

    >>> model = application_resnet((224, 224, 3), 1000, 50)
    """
    if depth not in APPLICATIONS:
        raise ValueError(f"depth must be one of {tuple(APPLICATIONS)}, got {depth!r}")
    model = APPLICATIONS[depth](
        weights=None, include_top=True, classes=num_classes,
        input_shape=tuple(input_shape), classifier_activation=None,
    )
    return keras.models.clone_model(model, clone_function=_without_bias)


def _without_bias(layer):
    config = layer.get_config()
    if "use_bias" in config:
        config["use_bias"] = False
    return layer.__class__.from_config(config)


def _conv(x, filters, kernel_size, stride, name):
    """A bias-free convolution padded like PyTorch's (kernel_size // 2 per side)."""
    if stride > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(filters, kernel_size, strides=stride, padding=padding,
                         use_bias=False, kernel_initializer="he_normal", name=name)(x)


def _batchnorm(x, name):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)


def _stem(x, stem, channels):
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {', '.join(STEMS)}; got {stem!r}")
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
    outputs = layers.Dense(num_classes, use_bias=False, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
