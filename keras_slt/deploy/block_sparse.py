"""Which LiteRT kernel runs each fully connected layer of a TFLite model.

TFLite's converter (`to_tflite`, `EXPERIMENTAL_SPARSITY`) looks at each
constant FULLY_CONNECTED weight ([out, in]) and stores it in one of three
ways, which decide the kernel LiteRT runs (measured with LiteRT 2.x):

- dense: the ordinary kernel (XNNPACK where it applies);
- block-sparse, 1x4 blocks for float32 and 1x16 blocks for int8 (four or
  sixteen consecutive inputs of one output): the converter chooses this by
  itself when the zeros come in such blocks, and LiteRT then runs its
  block-sparse kernel on the compressed weight directly (no DENSIFY op; the
  tensor's sparsity metadata has `block_map` [1] and a dense innermost
  dimension of the block's size). This is what blocked tickets
  (`SupermaskDense(block_size=4 or 16)`) export to; a 1x16-blocked mask is
  also 1x4-blocked, so it gets the float kernel too;
- randomly sparse (CSR without blocks): a DENSIFY op expands the weight once
  when the interpreter is prepared, and the dense kernel runs. The file is
  small, the inference no faster (and int8 models then lose XNNPACK).

`layouts` reads this back from a converted model, so exports can check that
the block kernels will run instead of trusting the file size.
"""

import dataclasses

from ai_edge_litert.interpreter import Interpreter

DENSE = "dense"
DENSIFIED = "densified"  # random sparsity: expanded by DENSIFY at load
BLOCK = "block"

_FORMAT_DENSE = 0  # DimensionType.DENSE in TFLite's schema


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one FULLY_CONNECTED op's weight is stored.

    Attributes:
        op: the op's index in the model.
        weight: the weight tensor's name.
        shape: the weight's shape, [out, in].
        kind: `DENSE`, `DENSIFIED` or `BLOCK`.
        block: the number of consecutive inputs per block (`BLOCK`), else 1.
    """

    op: int
    weight: str
    shape: tuple
    kind: str
    block: int

    def __str__(self):
        what = f"block-sparse 1x{self.block}" if self.kind == BLOCK else self.kind
        return f"{self.weight} {list(self.shape)}: {what}"


def layouts(content):
    """The `Layout` of every FULLY_CONNECTED weight of a `.tflite` model.

    Args:
        content: a `.tflite` flatbuffer.

    Returns:
        A list of `Layout`, in op order.

    Example:

    >>> import keras_slt
    >>> from keras_slt.deploy.tflite import to_tflite
    >>> blocked = keras_slt.models.get("fc", (4, 4, 1), 4, width=8, block_size=4, seed=1)
    >>> [str(layout) for layout in layouts(to_tflite(blocked, sparse=True))]
    ['... [8, 16]: block-sparse 1x4', ...]
    """
    runner = Interpreter(model_content=content)
    tensors = {detail["index"]: detail for detail in runner.get_tensor_details()}
    ops = runner._get_ops_details()  # the only API that lists ops and their tensors
    densified = {int(index) for op in ops if op["op_name"] == "DENSIFY" for index in op["outputs"]}
    found = []
    for op in ops:
        if op["op_name"] != "FULLY_CONNECTED":
            continue
        index = int(op["inputs"][1])
        tensor = tensors[index]
        sparsity = tensor.get("sparsity_parameters") or {}
        kind, block = DENSE, 1
        if index in densified:
            kind = DENSIFIED
        elif len(sparsity.get("block_map", ())):
            innermost = sparsity["dim_metadata"][-1]
            if innermost["format"] == _FORMAT_DENSE:
                kind, block = BLOCK, int(innermost["dense_size"])
        found.append(Layout(op["index"], tensor["name"], tuple(int(d) for d in tensor["shape"]), kind, block))
    return found


def summary(content):
    """One line naming each FULLY_CONNECTED layout and how many have it.

    Example:

    >>> import keras_slt
    >>> from keras_slt.deploy.tflite import to_tflite
    >>> blocked = keras_slt.models.get("fc", (4, 4, 1), 4, width=8, block_size=4, seed=1)
    >>> summary(to_tflite(blocked, sparse=True))
    'FULLY_CONNECTED: 3 block-sparse 1x4'
    """
    counts = {}
    for layout in layouts(content):
        key = f"block-sparse 1x{layout.block}" if layout.kind == BLOCK else layout.kind
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return "FULLY_CONNECTED: none"
    return "FULLY_CONNECTED: " + ", ".join(f"{n} {key}" for key, n in counts.items())
