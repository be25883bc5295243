"""keras-slt against the official PyTorch code: same search, same data, same CPU.

For each seed, runs keras-slt's frozen-source Conv6 search
(`configs/cifar10_conv6_frozen_source.flags`: s = 0.5, p = r = 0.25, ERK,
Kaiming-uniform weights, Kaiming-normal scores, SGD 0.1 / momentum 0.9 /
wd 1e-4, cosine stepped per epoch, batch 128) with `--epochs` shortened, then
the official code on the same setting through `official_conv6.py` (run with
`--torch_python`), back to back so both see the same machine load. Each run
writes a JSON into `--output_dir`; a run whose JSON exists is not run again,
so the command resumes.

Prints, per seed and as mean +- std over seeds, the test accuracy at the
best validation epoch of both, and the mean end-to-end epoch time of both:
keras-slt's from the start of a training epoch to the end of its validation
and checkpoint (first epoch included, tracing and all); the official code's
training plus validation (its loop also evaluates the test set every epoch,
shown apart). The ratio keras-slt / official has a goal of <= 0.5x.

Usage (the Keras venv; --torch_python has torch, torchvision, timm, pyyaml):

    nice -n 10 python benchmarks/official_compare.py \
        --official_code=/path/to/slt_within_frozen_network \
        --data_dir=/path/to/cifar10-jpeg --torch_python=/path/to/torchenv/bin/python \
        --epochs=1 --seeds=0,1,2 [--width_factor=0.5]
    python benchmarks/official_compare.py --report_only --output_dir=runs/official_compare

Timings are wall-clock on whatever machine runs this; never assert on them.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench_setup import ROOT  # noqa: E402  (first: the checkout's code, TensorFlow's start-up lines silenced)

from keras_slt.utils.files import write_json  # noqa: E402

# --setting: the paper flagfile of keras-slt and the same ratios for the official driver.
SETTINGS = {
    "frozen": ("cifar10_conv6_frozen_source.flags", ("--sparsity=0.5", "--p_ratio=0.25", "--r_ratio=0.25")),
    "dense": ("cifar10_conv6_dense_source.flags", ("--sparsity=0.7", "--p_ratio=0", "--r_ratio=0")),
}
DRIVER = os.path.join(ROOT, "benchmarks", "official_conv6.py")
GOAL = 0.5


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--official_code", help="checkout of Hikari43/slt_within_frozen_network")
    p.add_argument("--data_dir", help="CIFAR-10 folder with train/<class>/ and test/<class>/ JPEGs")
    p.add_argument("--torch_python", default="python", help="Python with torch for the official code")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument(
        "--width_factor",
        type=float,
        default=1.0,
        help="channel width of Conv6 in both implementations (a shortened study)",
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--output_dir", default="runs/official_compare")
    p.add_argument("--only", choices=("both", "keras", "official"), default="both")
    p.add_argument(
        "--settings",
        default="frozen",
        help="comma-separated: frozen (s 0.5, p = r = 0.25), dense (the dense source, s 0.7)",
    )
    p.add_argument("--device", default="cpu", help="the official code's torch device (cuda on a GPU)")
    p.add_argument("--report_only", action="store_true", help="print the table of the runs done")
    args = p.parse_args(argv)
    if not args.report_only and not (args.official_code and args.data_dir):
        p.error("--official_code and --data_dir are required unless --report_only")
    return args


def run_keras(args, setting, seed, path):
    """keras-slt's search with the paper flagfile; epoch times by a callback."""
    import keras
    from absl import flags

    from keras_slt.cli import search as search_cli
    from keras_slt.experiments import runner

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

            self.steps = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.monotonic()

        def on_train_batch_begin(self, batch, logs=None):
            self._step = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append(time.monotonic() - self._step)

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.monotonic() - self._start)

    flags.FLAGS.unparse_flags()
    flagfile = os.path.join(ROOT, "configs", SETTINGS[setting][0])
    flags.FLAGS(
        [
            sys.argv[0],
            f"--flagfile={flagfile}",
            f"--data_dir={args.data_dir}",
            f"--epochs={args.epochs}",
            f"--seed={seed}",
            f"--width_factor={args.width_factor}",
            f"--output_dir={os.path.join(args.output_dir, f'keras_{setting}_seed{seed}')}",
        ]
    )
    timer = EpochTimer()
    load = os.getloadavg()
    results = runner.run_search(search_cli.config_from_flags(), callbacks=[timer])
    print(runner.summary(results), flush=True)
    write_json(
        path,
        {
            "implementation": "keras-slt",
            "seed": seed,
            "epochs": args.epochs,
            "width_factor": args.width_factor,
            "test_accuracy": results["test_accuracy"],
            "val_accuracy": results["val_accuracy"],
            "best_epoch": results["best_epoch"],
            "epoch_s": timer.seconds,
            "setting": setting,
            "step_s": statistics.median(timer.steps),
            "backend": keras.backend.backend(),
            "peak_gpu_bytes": _peak_gpu_bytes(),
            "wall_time_s": results["wall_time_s"],
            "load_before": load,
            "load_after": os.getloadavg(),
        },
    )


def _peak_gpu_bytes():
    """Peak memory of the first GPU under JAX (None elsewhere)."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform == "gpu" else None
    return stats.get("peak_bytes_in_use") if stats else None


def run_official(args, setting, seed, path):
    load = os.getloadavg()
    subprocess.run(
        [
            args.torch_python,
            DRIVER,
            f"--official_code={args.official_code}",
            f"--data_dir={args.data_dir}",
            f"--epochs={args.epochs}",
            f"--seed={seed}",
            f"--width_factor={args.width_factor}",
            f"--device={args.device}",
            *SETTINGS[setting][1],
            f"--output={path}",
        ],
        check=True,
    )
    with open(path) as f:
        summary = json.load(f)
    summary["setting"] = setting
    summary["load_before"], summary["load_after"] = load, os.getloadavg()
    write_json(path, summary)


def epoch_seconds(run):
    """Mean epoch time of a run: keras-slt's timer; the official train + val (and its test)."""
    if run["implementation"] == "keras-slt":
        return statistics.mean(run["epoch_s"]), None
    epochs = run["history"][1:]
    return (statistics.mean(h["train_s"] + h["val_s"] for h in epochs), statistics.mean(h["test_s"] for h in epochs))


def _loads(run):
    """1-minute load averages before and after a run."""
    return "/".join(f"{run[k][0]:.1f}" if k in run else "-" for k in ("load_before", "load_after"))


def _mean_std(values):
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} +- {std:.2f}"


def report(output_dir):
    runs = {}
    for name in sorted(os.listdir(output_dir)) if os.path.isdir(output_dir) else []:
        if name.endswith(".json"):
            with open(os.path.join(output_dir, name)) as f:
                run = json.load(f)
            runs[(run.get("setting", "frozen"), run["implementation"], run["seed"])] = run
    if not runs:
        print(f"no runs in {output_dir}")
        return
    print(
        f"{'setting':<7} {'implementation':<11} {'seed':>4} {'epochs':>6} {'test %':>7} {'best ep':>7} "
        f"{'epoch s':>8} {'step ms':>8} {'peak GPU MiB':>12} {'load before/after':>17}"
    )
    acc, secs = {}, {}
    for (setting, impl, seed), run in sorted(runs.items()):
        epoch_s, test_s = epoch_seconds(run)
        acc.setdefault((setting, impl), []).append(100 * run["test_accuracy"])
        secs.setdefault((setting, impl), []).append(epoch_s)
        extra = f"  (+ {test_s:.0f} s test eval per epoch)" if test_s is not None else ""
        step = f"{1e3 * run['step_s']:.1f}" if run.get("step_s") else "-"
        peak = f"{run['peak_gpu_bytes'] / 2**20:.0f}" if run.get("peak_gpu_bytes") else "-"
        print(
            f"{setting:<7} {impl:<11} {seed:>4} {run['epochs']:>6} {100 * run['test_accuracy']:>7.2f} "
            f"{run['best_epoch']:>7} {epoch_s:>8.1f} {step:>8} {peak:>12} {_loads(run):>17}{extra}"
        )
    for setting, impl in sorted(acc):
        print(
            f"{setting} {impl}: test accuracy {_mean_std(acc[setting, impl])} % over "
            f"{len(acc[setting, impl])} seeds, epoch {statistics.mean(secs[setting, impl]):.1f} s"
        )
    for setting in sorted({setting for setting, _ in secs}):
        # Seed by seed: the two runs of a seed ran back to back, under about the same load.
        ratios = [
            epoch_seconds(runs[setting, "keras-slt", seed])[0] / epoch_seconds(runs[setting, "official", seed])[0]
            for (s, impl, seed) in sorted(runs)
            if s == setting and impl == "keras-slt" and (setting, "official", seed) in runs
        ]
        if ratios:
            print(
                f"{setting}: epoch time keras-slt / official, seed by seed: "
                f"{', '.join(f'{r:.2f}x' for r in ratios)}; median {statistics.median(ratios):.2f}x "
                f"(goal <= {GOAL}x)"
            )


def main(argv=None):
    args = parse_args(argv)
    if not args.report_only:
        os.makedirs(args.output_dir, exist_ok=True)
        for setting in args.settings.split(","):
            if setting not in SETTINGS:
                sys.exit(f"--settings: {setting!r} is not one of {', '.join(SETTINGS)}")
            for seed in (int(s) for s in args.seeds.split(",")):
                for impl, run in (("keras", run_keras), ("official", run_official)):
                    path = os.path.join(args.output_dir, f"{impl}_{setting}_seed{seed}.json")
                    if args.only in ("both", impl) and not os.path.exists(path):
                        run(args, setting, seed, path)
    report(args.output_dir)


if __name__ == "__main__":
    main()
