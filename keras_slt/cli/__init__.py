"""Command-line entry points: absl flag parsing, quiet logs, one-line errors.

Each module has a `run()` that the console scripts (`keras-slt-search`,
`keras-slt-export`...) and the thin shells in `tools/` and `deploy/` call.
Only these entry points silence TensorFlow's and absl's logs; importing the
library changes no global state.
"""
