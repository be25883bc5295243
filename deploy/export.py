"""Thin shell around `keras_slt.cli.export` (also installed as `keras-slt-export`)."""

import keras_slt_launch

if __name__ == "__main__":
    keras_slt_launch.export()
