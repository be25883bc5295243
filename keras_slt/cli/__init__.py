"""Command-line tools: absl flags checked before Keras loads, quiet logs, one-line errors.

Each module defines its flags and `main`, and has a `run()`: the console
scripts (`keras-slt-search`, `keras-slt-export`...), the shells of a
checkout (`tools/*.py`, `deploy/*.py`) and `python -m keras_slt.cli.<tool>`
all call it (`keras_slt.cli.common.run`). Only these entry points silence
TensorFlow's and absl's logs; importing the library changes no global state.
"""
