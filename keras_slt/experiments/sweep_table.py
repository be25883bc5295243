"""The table of a sweep's results: one row per finished run, classified by source.

`collect` turns every `results.json` below a sweep's folder into one row per
run; `write_csv` and `read_csv` store the table. Each run's *source*
(docs/METHOD.md, section 10 (Baselines)) follows from its algo and its
freezing ratios:

| source | p | r |
| --- | --- | --- |
| weight-trained | - | - |
| dense source | 0 | 0 |
| pruned source | > 0 | 0 |
| frozen source | >= 0 | > 0 |
"""

import csv
import io
import pathlib

from keras_slt.experiments import run_files
from keras_slt.freezing import pattern
from keras_slt.utils import files

WEIGHT_TRAINED = "weight-trained"
DENSE_SOURCE = "dense source"
PRUNED_SOURCE = "pruned source"
FROZEN_SOURCE = "frozen source"
SOURCES = (DENSE_SOURCE, PRUNED_SOURCE, FROZEN_SOURCE, WEIGHT_TRAINED)

COLUMNS = (
    "run",
    "model",
    "dataset",
    "source",
    "algo",
    "sparsity",
    "freeze_ratio",
    "prune_ratio",
    "lock_ratio",
    "seed",
    "test_accuracy",
    "val_accuracy",
    "model_size_bits",
    "dense_float32_bits",
    "actual_sparsity",
    "wall_time_s",
    "width",
)
# The columns read back as text (every other one is a number).
TEXT_COLUMNS = ("run", "model", "dataset", "source", "algo", "seed")
# The column a table written before widths were swept lacks; its runs had the
# width of their search flags, which the table did not record.
OPTIONAL_COLUMNS = ("width",)

# How to get past a damaged or outdated results.json.
RERUN = "delete that run's folder to run it again"


def read_results(path):
    """A run's `results.json`, checked to hold results and the flags they came from.

    Raises:
        DamagedFileError: not JSON, or not a run's results; the message
            names the file.
    """
    results = files.read_json(path, RERUN)
    if not (
        isinstance(results, dict)
        and isinstance(results.get("flags"), dict)
        and all(key in results for key in ("test_accuracy", "model_size_bits"))
    ):
        raise files.damaged(path, "not the results of a search", RERUN)
    return run_files.checked_results(path, results, RERUN)


def source_of(algo, prune_ratio, lock_ratio):
    """The docs/METHOD.md, section 10 (Baselines) name of a run's source."""
    if algo == "dense":
        return WEIGHT_TRAINED
    if lock_ratio > 0:
        return FROZEN_SOURCE
    return PRUNED_SOURCE if prune_ratio > 0 else DENSE_SOURCE


def width_of(flags):
    """The width a run's flags give its network (`width` or `width_factor`), or "" for the model's default.

    Example:

    >>> width_of({"width": None, "width_factor": 0.5}), width_of({"model": "fc"})
    (0.5, '')
    """
    for key in ("width", "width_factor"):
        if flags.get(key) is not None:
            return float(flags[key])
    return ""


def row_of(name, results):
    """One CSV row from a run's `results.json` contents."""
    flags = results.get("flags", {})
    algo = flags.get("algo", "ep")
    sparsity = float(flags.get("sparsity", 0.0))
    if algo == "dense":
        p = r = 0.0
    elif flags.get("freeze_ratio") not in (None, "", "None"):
        p, r = pattern.split_freeze_ratio(float(flags["freeze_ratio"]), sparsity)
    else:
        p, r = float(flags.get("prune_ratio") or 0.0), float(flags.get("lock_ratio") or 0.0)
    return {
        "run": name,
        "model": flags.get("model"),
        "dataset": flags.get("dataset"),
        "source": source_of(algo, p, r),
        "algo": algo,
        "sparsity": sparsity if algo != "dense" else "",
        "freeze_ratio": round(p + r, 6),
        "prune_ratio": round(p, 6),
        "lock_ratio": round(r, 6),
        "seed": results.get("seed", flags.get("seed")),
        "test_accuracy": results["test_accuracy"],
        "val_accuracy": results.get("val_accuracy"),
        "model_size_bits": results["model_size_bits"],
        "dense_float32_bits": results.get("dense_float32_bits"),
        "actual_sparsity": results.get("actual_sparsity", ""),
        "wall_time_s": results.get("wall_time_s", ""),
        "width": width_of(flags),
    }


def collect(output_root):
    """Rows for every `results.json` directly below `output_root`, by name."""
    rows = []
    for path in sorted(pathlib.Path(output_root).glob(f"*/{run_files.RESULTS}")):
        results = read_results(path)
        try:
            rows.append(row_of(path.parent.name, results))
        except (TypeError, ValueError) as error:  # a value of the wrong kind
            raise files.damaged(path, error, RERUN) from None
    return rows


def write_csv(rows, path):
    """Writes `rows` atomically (see `keras_slt.utils.files`)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, text.getvalue())


def read_csv(path):
    """Rows of a sweep CSV, numbers parsed."""
    numeric = set(COLUMNS) - set(TEXT_COLUMNS)
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [
                column
                for column in COLUMNS
                if column not in (reader.fieldnames or ()) and column not in OPTIONAL_COLUMNS
            ]
            if missing:
                raise files.damaged(path, f"not a sweep table: no column {', '.join(missing)}")
            for row in reader:
                # DictReader files extra fields under None and fills missing ones with None.
                fields = [v for k, v in row.items() if k is not None and v is not None] + row.get(None, [])
                if len(fields) != len(reader.fieldnames):
                    raise files.damaged(
                        path, f"line {reader.line_num} has {len(fields)} fields, not {len(reader.fieldnames)}"
                    )
                row = {
                    k: (_number(path, reader.line_num, k, v) if k in numeric and v not in ("", "None") else v)
                    for k, v in row.items()
                }
                rows.append({column: "" for column in OPTIONAL_COLUMNS} | row)
    except (UnicodeDecodeError, csv.Error) as error:
        raise files.damaged(path, error) from None
    return rows


def _number(path, line, column, text):
    try:
        return float(text)
    except ValueError:
        raise files.damaged(path, f"line {line}: {column} {text!r} is not a number") from None
