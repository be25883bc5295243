"""The dataset flags of the tools that feed a saved model real inputs: export and benchmark_tflite.

Each tool defines them itself (absl files a flag under the module that
defines it, and a tool's --help lists its own), from `definitions`.
"""

# The flags, each named as the argument of `keras_slt.experiments.sources` it goes to.
NAMES = ("dataset", "data_dir", "image_size", "image_formats")


def definitions(dataset_help, run_defaults):
    """(name, default, help) of the string flags --dataset, --data_dir, --image_size and --image_formats.

    Args:
        dataset_help: what the tool reads the dataset for, and its default.
        run_defaults: whether a search run's flags are the defaults (the
            export of a run folder); else --image_formats defaults to jpeg,png.

    Example:

    >>> [name for name, _, _ in definitions("Dataset to read.", run_defaults=False)]
    ['dataset', 'data_dir', 'image_size', 'image_formats']
    """
    run = "; default: the run's" if run_defaults else ""
    return [
        ("dataset", None, dataset_help),
        ("data_dir", None, f"Dataset files (see keras_slt.data.load_arrays){run}."),
        ("image_size", None, f"H,W for tfds:NAME and image_folder datasets{run}."),
        (
            "image_formats",
            None if run_defaults else "jpeg,png",
            f"Formats an image_folder's files may have (jpeg, png, bmp, gif){run + ', else jpeg,png' if run else ''}.",
        ),
    ]
