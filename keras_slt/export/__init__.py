"""Deploying tickets: materialized Keras models, compact `.slt` files, TFLite.

The deployment forms of docs/METHOD.md, section 9 (Deployment forms).
`materialize` turns a `SupermaskModel` into plain Keras
layers with kernels W_eff; `save_ticket`/`load_ticket` write and read the
compact format (seeds + entropy-coded free mask + stored floats); `to_tflite`
converts with sparse weight encoding, optionally int8.

Example:

>>> from keras_slt import export
>>> export.save_ticket(model, "fc.slt")
>>> plain = export.load_ticket("fc.slt")
>>> open("fc.tflite", "wb").write(export.to_tflite(plain))
"""

from keras_slt.export import coding, tflite
from keras_slt.export.materialize import effective_kernels, materialize
from keras_slt.export.ticket import FORMAT_VERSION, TicketError, load_ticket, save_ticket
from keras_slt.export.tflite import to_tflite
from keras_slt.size import stored_variables

__all__ = [
    "FORMAT_VERSION",
    "TicketError",
    "coding",
    "effective_kernels",
    "load_ticket",
    "materialize",
    "save_ticket",
    "stored_variables",
    "tflite",
    "to_tflite",
]
