"""`keras_slt.cli.sweep` run from a checkout (installed, it is `keras-slt-sweep`)."""

import os
import sys

# This checkout's keras_slt, ahead of any installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ == "__main__":
    from keras_slt.cli.sweep import run

    run()
