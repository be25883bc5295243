"""`SupermaskModel`: one global Edge-Popup threshold per forward pass."""

import keras
import numpy as np
from keras import ops

from keras_slt.freezing.pattern import check_sparsity
from keras_slt.layers import threshold_context
from keras_slt.layers.base import SELECTIONS
from keras_slt.layers.walk import supermask_layers
from keras_slt.selection import threshold_of_scores
from keras_slt.utils import defaults
from keras_slt.utils.counting import floor_count
from keras_slt.utils.validation import check_fraction, check_one_of


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskModel(keras.Model):
    """Wraps a network of supermask layers and selects their masks together.

    With global selection, every call first computes the threshold t, the
    k-th smallest modified score over all supermask layers (k = floor(N*s)),
    counted in weights: a block score of a blocked layer (`block_size` B)
    counts as B weights, as if each weight of the block carried it. It
    publishes it to the layers for that call, so `fit`, `evaluate` and
    `predict` always use the masks of the current scores. With layer-wise
    selection each layer selects its own top (1-s) fraction.

    The model owns the selection mode and the sparsity: it sets both on
    every supermask layer of its network (a layer given another sparsity is
    refused). Its layers under global selection then refuse to run outside
    the model's call (e.g. `model.network(x)`), where they would otherwise
    select with some other threshold.

    `fit` is Keras's. NaN scores select a meaningless ticket, so give it
    `keras_slt.search.callbacks.StopOnNonFinite()` (Keras's `TerminateOnNaN`,
    raising, plus a check of the scores), as the search tool does.

    Args:
        network: a Keras model (Sequential, functional or subclassed) whose
            supermask layers carry distinct `layer_index` values.
        sparsity: target ticket sparsity s in [0, 1).
        selection: "global" (default) or "layerwise".
        metadata: optional dict recorded with the model (how it was built:
            ratios, distribution, seed...), saved in its config.

    Example:

    >>> from keras_slt.layers import SupermaskDense
    >>> net = keras.Sequential([keras.Input((16,)),
    ...     SupermaskDense(8, activation="relu", layer_index=0),
    ...     SupermaskDense(3, layer_index=1)])
    >>> model = SupermaskModel(net, sparsity=0.5)
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> x, y = np.ones((8, 16), "float32"), np.zeros(8, "int32")
    >>> _ = model.fit(x, y, epochs=1, verbose=0)
    >>> sum(int(mask.sum()) for mask in model.masks())  # half of 16*8 + 8*3
    76
    """

    def __init__(self, network, sparsity, selection=defaults.SELECTION, metadata=None, **kwargs):
        super().__init__(**kwargs)
        check_one_of("selection", selection, SELECTIONS)
        check_fraction("sparsity", sparsity, upper_open=True)
        self.network = network
        self._sparsity = float(sparsity)
        self._selection = selection
        self.metadata = dict(metadata or {})
        # The bit pattern of the last training step's global threshold. The
        # next search starts around it, since one optimizer step moves the
        # threshold by a few hundred ulps, which saves most of the search's
        # passes; the result is exact whatever this holds (0: start cold).
        # int32, so it is no model float (size accounting, tickets).
        self.threshold_hint = self.add_weight(
            name="threshold_hint",
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )
        self._adopt_layers()
        if network.built:
            self._check_layers()
            self.built = True

    # Read-only: the layers hold copies, set once by `_adopt_layers`.
    @property
    def sparsity(self):
        """The target ticket sparsity s, shared by all supermask layers."""
        return self._sparsity

    @property
    def selection(self):
        """ "global" or "layerwise", shared by all supermask layers."""
        return self._selection

    def build(self, input_shape):
        if not self.network.built:
            self.network.build(input_shape)
        self._adopt_layers()  # layers a subclassed network made in build
        self._check_layers()
        self.built = True

    def _adopt_layers(self):
        """Sets this model's selection mode and sparsity on its supermask layers."""
        for layer in supermask_layers(self.network):
            if layer.sparsity is not None and layer.sparsity != self.sparsity:
                raise ValueError(
                    f"layer {layer.name!r} has sparsity {layer.sparsity}, its SupermaskModel "
                    f"{self.sparsity}: leave the layers' sparsity unset or give them the model's"
                )
            layer.sparsity = self.sparsity
            layer.selection = self.selection

    def _check_layers(self):
        found = supermask_layers(self.network)
        if not found:
            raise ValueError("network has no supermask layers; see keras_slt.supermaskify")
        indices = [layer.layer_index for layer in found]
        if len(set(indices)) != len(indices):
            raise ValueError(f"supermask layers need distinct layer_index values, got {indices}")
        total = sum(layer.num_weights for layer in found)
        pruned = sum(layer.num_pruned for layer in found) / total
        locked = sum(layer.num_locked for layer in found) / total
        # Per-layer counts are floored, so the actual fractions may exceed
        # the requested ratios by up to one weight (block) per layer.
        check_sparsity(self.sparsity, pruned, locked, tolerance=sum(layer.block_size for layer in found) / total)

    @property
    def supermask_layers(self):
        return supermask_layers(self.network)

    def global_threshold(self):
        """The global threshold t of the current scores (a scalar tensor)."""
        return self._global_selection()[0]

    def _global_selection(self):
        """(threshold, its bit pattern): see `selection.threshold_of_scores`."""
        layers = self.supermask_layers
        num_weights = sum(layer.num_weights for layer in layers)
        num_pruned = sum(layer.num_pruned for layer in layers)
        num_free = sum(layer.num_free for layer in layers)
        # Pruned scores are -inf, so the k-th smallest modified score is the
        # (k - pruned)-th smallest free |score| (or +-inf past either end);
        # the layers hold scores for free weights only. Counted in weights:
        # a block score counts as its block_size weights.
        k_free = floor_count(num_weights, self.sparsity) - num_pruned
        return threshold_of_scores(
            [layer.scores for layer in layers],
            k_free,
            num_free,
            hint=self.threshold_hint,
            weights=[layer.block_size for layer in layers],
        )

    def threshold(self):
        """The threshold each layer selects with: one, or one per layer."""
        if self.selection == "global":
            return self.global_threshold()
        return [layer.layerwise_threshold() for layer in self.supermask_layers]

    def layer_thresholds(self):
        """The threshold of each supermask layer, in layer order.

        Example:

        >>> import keras_slt
        >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8,
        ...                              selection="layerwise", seed=1)
        >>> masks = [layer.mask(t) for layer, t in zip(model.supermask_layers,
        ...                                           model.layer_thresholds())]
        >>> [int(keras.ops.sum(mask)) for mask in masks]  # half of each layer
        [64, 32, 12]
        """
        return self._per_layer(self.threshold())

    def _per_layer(self, threshold):
        if isinstance(threshold, list):
            return threshold
        return [threshold] * len(self.supermask_layers)

    def call(self, inputs, training=None):
        if self.selection == "layerwise":
            return self.network(inputs, training=training)
        threshold, key = self._global_selection()
        if training:
            # Like BatchNorm statistics: only training steps update state.
            self.threshold_hint.assign(key)
        with threshold_context.use_threshold(threshold):
            return self.network(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return self.network.compute_output_shape(input_shape)

    def masks(self):
        """The current binary masks as int8 NumPy arrays, in layer order."""
        return self._masks_for(self.threshold())

    def _masks_for(self, threshold):
        return [
            ops.convert_to_numpy(layer.mask(t)).astype(np.int8)
            for layer, t in zip(self.supermask_layers, self._per_layer(threshold))
        ]

    def mask_statistics(self):
        """Actual sparsity overall and per layer, and the threshold(s)."""
        threshold = self.threshold()  # selected once, for the masks and the report
        masks = self._masks_for(threshold)
        kept = sum(int(m.sum()) for m in masks)
        total = sum(m.size for m in masks)
        if isinstance(threshold, list):
            threshold = [float(ops.convert_to_numpy(t)) for t in threshold]
        else:
            threshold = float(ops.convert_to_numpy(threshold))
        return {
            "actual_sparsity": 1.0 - kept / total,
            "layer_sparsity": {layer.name: 1.0 - float(m.mean()) for layer, m in zip(self.supermask_layers, masks)},
            "threshold": threshold,
        }

    def get_config(self):
        config = super().get_config()  # name, trainable, dtype
        config.update(
            {
                "network": keras.saving.serialize_keras_object(self.network),
                "sparsity": self.sparsity,
                "selection": self.selection,
                "metadata": self.metadata,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"), custom_objects=custom_objects)
        return cls(network=network, **config)
