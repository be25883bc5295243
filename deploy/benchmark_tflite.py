"""`keras_slt.cli.benchmark_tflite` run from a checkout (installed, it is `keras-slt-benchmark-tflite`)."""

import os
import sys

# This checkout's keras_slt, ahead of any installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ == "__main__":
    from keras_slt.cli.benchmark_tflite import run

    run()
