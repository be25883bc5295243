"""What every Keras benchmark script imports first.

Puts the checkout on `sys.path`, so a benchmark measures this tree's code
rather than an installed keras-slt; makes TensorFlow the default backend
(a script's caller may set `KERAS_BACKEND`); and imports Keras with
TensorFlow's native start-up lines silenced, as the command-line tools do
(`keras_slt.cli.common.load`; KERAS_SLT_NATIVE_LOGS=1 shows them).

Usage, before any other import of keras or keras_slt:

    import bench_setup  # noqa: F401
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, ROOT)

from keras_slt.cli import common  # noqa: E402  (loads no Keras)

common.load("keras")
