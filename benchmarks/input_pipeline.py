"""Does the input pipeline hide behind the train step? Conv6 on the CIFAR-10 JPEG folder.

Builds the search of a flagfile (default: the paper's Conv6 frozen source,
at --width_factor 0.5) as `tools/search.py` does, then prints:

- decode: the time `keras_slt.data.load` takes to read and decode the
  folder's 60,000 JPEGs and build the pipelines (median of
  --decode_repeats);
- pipeline alone: one epoch of training batches without a model, its wall
  and CPU time (the CPU the pipeline takes from the step on a small machine);
- step: the median train step on one batch held in memory (no input
  pipeline), timed before and after the epoch;
- epoch: the wall time of one training epoch on the real pipeline (shuffle,
  pad-4 crop + flip, normalization, batching, prefetching), without
  validation, against steps x the in-memory median step. Goal: <= 1.05x,
  i.e. the pipeline adds at most 5%. On a busy machine every step has a
  tail of slow ones whatever feeds it: the same ratio for the in-memory
  steps (their sum against count x median) is printed beside it, and the
  pipeline's CPU per epoch against the steps' CPU.

The train step is traced on the pipeline's own batches first, so neither
measure includes tracing.

Usage:
    python benchmarks/input_pipeline.py --data_dir=<CIFAR-10 JPEG folder>
    python benchmarks/input_pipeline.py --data_dir=... --width_factor=1 --decode_repeats=1

Timings are wall-clock on whatever machine runs this; never assert on them.
"""

import dataclasses
import os
import statistics
import sys
import time

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402
from absl import flags  # noqa: E402

from keras_slt import data as datasets  # noqa: E402
from keras_slt.cli import search as search_tool  # noqa: E402  (defines the search flags)
from keras_slt.experiments import runner  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("decode_repeats", 3, "Times the folder is decoded (median reported).")
flags.DEFINE_integer("timed_steps", 40, "In-memory steps timed before and after the epoch.")
GOAL = 1.05
DEFAULT_FLAGFILE = "configs/cifar10_conv6_frozen_source.flags"


class StepTimes(keras.callbacks.Callback):
    """Seconds from the start of `fit`'s first batch, or the end of the previous one, to each batch end."""

    def on_train_begin(self, logs=None):
        self.times, self.last = [], None

    def on_train_batch_begin(self, batch, logs=None):
        if self.last is None:
            self.last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # waits for the step
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now


def in_memory_steps(model, batch, steps):
    timer = StepTimes()
    model.fit(batch.repeat(steps), epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return timer.times


def pipeline_alone(train):
    """(wall s, CPU s) of one epoch of `train` batches, no model."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in train:
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    argv = FLAGS(
        sys.argv
        if any(a.startswith("--flagfile") for a in sys.argv)
        else [sys.argv[0], f"--flagfile={DEFAULT_FLAGFILE}", "--width_factor=0.5", *sys.argv[1:]]
    )
    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments: {' '.join(argv[1:])}")
    config = dataclasses.replace(search_tool.config_from_flags(), epochs=1)
    config.validate()
    keras.utils.set_random_seed(config.seed)

    def load():
        return datasets.load(
            config.dataset,
            data_dir=config.data_dir,
            batch_size=config.batch_size,
            seed=config.seed,
            validation_fraction=runner.VALIDATION_FRACTION,
            augment=config.augment,
        )

    decode_times = []
    for _ in range(FLAGS.decode_repeats):
        start = time.perf_counter()
        data = load()
        decode_times.append(time.perf_counter() - start)
    steps = data.steps_per_epoch
    epoch_one = data.train.take(steps)  # the training stream has no end: one epoch of it
    model = runner._compiled_model(config, data, steps)
    pipeline_wall, pipeline_cpu = pipeline_alone(epoch_one)
    # One batch of the pipeline, cached: the same element spec, so the same traced step.
    batch = data.train.take(1).cache()
    model.fit(data.train.take(3), epochs=1, verbose=0, shuffle=False)  # traces the train step

    cpu = time.process_time()
    step_times = in_memory_steps(model, batch, FLAGS.timed_steps)
    timer = StepTimes()
    start = time.perf_counter()
    model.fit(data.train_from(1), steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    epoch = time.perf_counter() - start
    step_times += in_memory_steps(model, batch, FLAGS.timed_steps)
    cpu_per_step = (time.process_time() - cpu) / (len(step_times) + steps)

    step = statistics.median(step_times)
    print(
        f"{config.model} width_factor={config.width_factor or 1:g} batch={config.batch_size} "
        f"algo={config.algo} s={config.sparsity:g} on {config.dataset} ({data.num_train} training images), "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"decode + pipelines: median {statistics.median(decode_times):.1f} s "
        f"({', '.join(f'{t:.1f}' for t in decode_times)})"
    )
    print(
        f"pipeline alone:     {pipeline_wall:.1f} s wall, {pipeline_cpu:.1f} s CPU per epoch "
        f"({pipeline_cpu / (steps * cpu_per_step):.1%} of the steps' {steps * cpu_per_step:.0f} s CPU)"
    )
    print(
        f"step (in memory):   median {step * 1e3:.0f} ms over {len(step_times)} steps; "
        f"their sum / (count x median) {sum(step_times) / (len(step_times) * step):.3f}x"
    )
    print(f"step (pipeline):    median {statistics.median(timer.times) * 1e3:.0f} ms, first {timer.times[0]:.2f} s")
    ratio = epoch / (steps * step)
    print(
        f"epoch: {epoch:.1f} s for {steps} steps; steps x median step {steps * step:.1f} s; "
        f"ratio {ratio:.3f}x (goal <= {GOAL:.2f}x: {'ok' if ratio <= GOAL else 'MISS'})"
    )


if __name__ == "__main__":
    main()
