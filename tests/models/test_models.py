"""`keras_slt.models.get`: the reference architectures, plain and supermask."""

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt import models
from keras_slt.layers.walk import walk

CIFAR = (32, 32, 3)
IMAGENET = (224, 224, 3)


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


# Parameters of the reference networks without biases: the fc and ConvN
# counts of Ramanujan et al., and the torchvision (ImageNet) and kuangliu
# (CIFAR) ResNets minus their classifier bias. BatchNorm is non-affine: its two
# statistics per channel take the place of gamma/beta in the total.
@pytest.mark.parametrize(
    "name, shape, classes, expected",
    [
        ("fc", (28, 28, 1), 10, 784 * 1024 + 1024 * 1024 + 1024 * 10),
        ("conv2", CIFAR, 10, 4_300_992),
        ("conv4", CIFAR, 10, 2_425_024),
        ("conv6", CIFAR, 10, 2_261_184),
        ("conv8", CIFAR, 10, 5_275_840),
        ("resnet18", CIFAR, 10, 11_173_962 - 10),
        ("resnet34", CIFAR, 10, 21_282_122 - 10),
        ("resnet18", IMAGENET, 1000, 11_689_512 - 1000),
        ("resnet34", IMAGENET, 1000, 21_797_672 - 1000),
        ("wide_resnet50_2", IMAGENET, 1000, 68_883_240 - 1000),
    ],
)
def test_parameter_counts_match_the_reference(name, shape, classes, expected):
    model = models.get(name, shape, classes, supermask=False)
    assert model.count_params() == expected
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert trainable_count(model) == expected - sum(2 * l.moving_mean.shape[0] for l in norms)


def test_supermask_false_is_the_official_dense_baseline():
    # utils/model.py of the official code: use_affine_bn False, kaiming_uniform_.
    keras.utils.set_random_seed(0)
    model = models.get("conv6", CIFAR, 10, supermask=False)
    kernels = [l for l in model.layers if isinstance(l, (keras.layers.Dense, keras.layers.Conv2D))]
    assert kernels and all(l.kernel.trainable and not l.use_bias for l in kernels)
    for layer in kernels:
        weights = np.asarray(layer.kernel)
        bound = np.sqrt(6.0 / np.prod(weights.shape[:-1]))
        assert np.abs(weights).max() <= np.float32(bound)  # drawn in float32
        if weights.size > 10_000:  # U(-b, b): std b / sqrt(3)
            assert weights.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    model = models.get("resnet18", CIFAR, 10, supermask=False, width_factor=0.125)
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert norms and not any(l.center or l.scale for l in norms)
    assert not any(isinstance(l, keras_slt.SupermaskLayer) for l in model.layers)


@pytest.fixture(scope="module")
def resnet50():
    # Kernel shapes do not depend on the input size; 64x64 builds faster.
    return models.get("resnet50", (64, 64, 3), 1000, supermask=False)


def test_resnet50_is_torchvision_v1_5(resnet50):
    kernels = [l for l in resnet50.layers if isinstance(l, (keras.layers.Dense, keras.layers.Conv2D))]
    assert len(kernels) == 54 and not any(l.use_bias for l in kernels)
    assert trainable_count(resnet50) == 25_502_912
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for block in range(1, blocks + 1):
            name = f"stage{stage}_block{block}"
            stride = (2, 2) if stage > 1 and block == 1 else (1, 1)
            # The stride sits on the 3x3 convolution, padded 1 on each side.
            assert resnet50.get_layer(f"{name}_conv1").strides == (1, 1)
            assert resnet50.get_layer(f"{name}_conv2").strides == stride
            assert resnet50.get_layer(f"{name}_conv3").strides == (1, 1)
            if stride == (2, 2):
                assert resnet50.get_layer(f"{name}_conv2_pad").padding == ((1, 1), (1, 1))
            if block == 1:
                assert resnet50.get_layer(f"{name}_proj").strides == stride
    assert resnet50.get_layer("stage4_block3_out").output.shape == (None, 2, 2, 2048)
    norms = [l for l in resnet50.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(norms) == 53
    assert all((l.momentum, l.epsilon, l.center, l.scale) == (0.9, 1e-5, False, False) for l in norms)


@pytest.mark.parametrize(
    "name, options",
    [
        ("fc", {"width": 32}),
        ("conv6", {"width_factor": 0.125}),
        ("resnet18", {"width_factor": 0.125}),
    ],
)
def test_supermask_true_has_only_supermask_layers(name, options):
    shape = (28, 28, 1) if name == "fc" else CIFAR
    model = models.get(name, shape, 10, **options)
    assert isinstance(model, keras_slt.SupermaskModel)
    layers = list(walk(model.network))
    assert not any(type(l) in (keras.layers.Dense, keras.layers.Conv2D) for l in layers)
    assert all(not (l.center or l.scale) for l in layers if isinstance(l, keras.layers.BatchNormalization))
    assert all("scores" in v.path for v in model.trainable_weights)
    plain = models.get(name, shape, 10, supermask=False, **options)
    assert sum(l.num_weights for l in model.supermask_layers) == sum(
        int(np.prod(l.kernel.shape)) for l in walk(plain) if hasattr(l, "kernel")
    )
    assert model(np.zeros((2,) + shape, "float32")).shape == (2, 10)


def test_supermask_options_pass_through():
    model = models.get(
        "fc",
        (28, 28, 1),
        10,
        width=64,
        sparsity=0.7,
        freeze_ratio=0.5,
        distribution="erk",
        selection="layerwise",
        weight_init="kaiming_normal",
        score_init="kaiming_uniform",
        scale="static",
        seed=3,
    )
    assert model.sparsity == 0.7 and model.selection == "layerwise"
    assert model.metadata["prune_ratio"] == pytest.approx(0.35)
    assert model.metadata["lock_ratio"] == pytest.approx(0.15)
    assert model.metadata["distribution"] == "erk" and model.metadata["seed"] == 3
    layer = model.supermask_layers[0]
    assert (layer.weight_init, layer.score_init, layer.scale) == ("kaiming_normal", "kaiming_uniform", "static")
    assert models.get("fc", (28, 28, 1), 10, width=64).sparsity == 0.5


@pytest.mark.parametrize(
    "shape, stem, kernel",
    [
        (CIFAR, None, (3, 3)),
        ((64, 64, 3), None, (3, 3)),
        ((128, 128, 3), None, (7, 7)),
        (CIFAR, "imagenet", (7, 7)),
        ((128, 128, 3), "cifar", (3, 3)),
    ],
)
def test_resnet_stem_follows_input_size_unless_given(shape, stem, kernel):
    options = {} if stem is None else {"stem": stem}
    model = models.get("resnet18", shape, 10, supermask=False, width_factor=0.125, **options)
    assert model.get_layer("stem_conv").kernel_size == kernel


def test_unknown_model_names_the_argument_and_lists_valid_names():
    with pytest.raises(ValueError, match="model must be one of fc, conv2.*wide_resnet50_2, gin; got 'vgg16'"):
        models.get("vgg16", CIFAR, 10)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("fc", {"width_factor": 2.0}, "takes no option 'width_factor'"),
        ("resnet50", {"stem": "cifar"}, "takes no option 'stem'"),
        ("conv6", {"sparsity": 0.5}, None),
        ("fc", {"width": 0}, "width must be a positive integer"),
        ("conv6", {"width_factor": -1.0}, "width_factor must be a positive number"),
        ("resnet18", {"stem": "tiny"}, "stem must be one of cifar, imagenet"),
    ],
)
def test_invalid_options(name, options, message):
    if message is None:  # supermask options need supermask=True
        with pytest.raises(ValueError, match="sparsity applies only to supermask models"):
            models.get(name, CIFAR, 10, supermask=False, **options)
        return
    with pytest.raises(ValueError, match=message):
        models.get(name, CIFAR, 10, **options)


def test_invalid_ratios_come_from_supermaskify():
    with pytest.raises(ValueError, match="sparsity must be in"):
        models.get("fc", (28, 28, 1), 10, width=8, sparsity=0.2, prune_ratio=0.5)
