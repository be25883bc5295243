"""Thin shell around `keras_slt.cli.plot` (also installed as `keras-slt-plot`)."""

import keras_slt_launch

if __name__ == "__main__":
    keras_slt_launch.plot()
