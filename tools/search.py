"""Thin shell around `keras_slt.cli.search` (also installed as `keras-slt-search`)."""

import keras_slt_launch

if __name__ == "__main__":
    keras_slt_launch.search()
