"""Thin shell around `keras_slt.cli.sweep` (also installed as `keras-slt-sweep`)."""

import keras_slt_launch

if __name__ == "__main__":
    keras_slt_launch.sweep()
