"""Tickets: what a search found, measured and stored.

The ticket forms of docs/METHOD.md, section 9 (Deployment forms).
`model_size` and `mask_summary` count what a ticket stores;
`materialize` turns a `SupermaskModel` into plain Keras layers with
kernels W_eff; `save_ticket`/`load_ticket` write and read the compact
`.slt` format (seeds + entropy-coded free mask + stored floats). The files
a device runs (TFLite, ONNX) are `keras_slt.deploy`'s.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> import keras_slt
>>> from keras_slt import ticket
>>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
>>> path = os.path.join(tempfile.mkdtemp(), "fc.slt")
>>> ticket.save_ticket(model, path)
>>> plain = ticket.load_ticket(path)  # a plain Keras model, masked kernels
>>> x = np.random.default_rng(0).random((2, 4, 4, 1), "float32")
>>> np.allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
True
"""

from keras_slt.ticket import coding
from keras_slt.ticket.materialize import effective_kernels, materialize
from keras_slt.ticket.size import ModelSize, mask_summary, model_size, stored_variables
from keras_slt.ticket.slt_file import load_ticket, save_ticket
from keras_slt.ticket.slt_format import FORMAT_VERSION, TicketError

__all__ = [
    "FORMAT_VERSION",
    "ModelSize",
    "TicketError",
    "coding",
    "effective_kernels",
    "load_ticket",
    "mask_summary",
    "materialize",
    "model_size",
    "save_ticket",
    "stored_variables",
]
