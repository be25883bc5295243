"""Thin shell around `keras_slt.cli.benchmark_tflite` (also installed as `keras-slt-benchmark-tflite`)."""

import keras_slt_launch

if __name__ == "__main__":
    keras_slt_launch.benchmark_tflite()
