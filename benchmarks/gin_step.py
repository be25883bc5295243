"""Full-batch GIN step time and peak memory: ticket search against weight training.

A random graph of OGBN-Arxiv's shape (169,343 nodes, 1,166,243 random
directed edges made undirected, 128 normal features, 40 classes, 90,941
training nodes), the paper's GIN (width 386, 378,280 weights in five
linears). Both models are compiled like `tools/search.py` compiles them
(Adam, epsilon 1e-8; XLA unless --jit 0): the weight-trained GIN and the
ticket search (global selection, s = 0.7, and with --freeze f an EPL-frozen
part). Timing: both models in one process, warmed up, stepped alternately
with `train_on_batch` (which waits for the step); prints each median and the
ratio (target <= 1.15x). Memory: each model again in its own child process,
which reports its peak resident set (Linux's VmHWM, the high-water mark
of the whole process: TensorFlow, the graph, the variables, the optimizer
state and XLA's buffers) and the resident set just
before the model is built; the difference is what the model and its steps
add.

Usage:
    python benchmarks/gin_step.py                 # timing, then memory
    python benchmarks/gin_step.py --steps 5 --freeze 0.5
    python benchmarks/gin_step.py --child ep      # one model's memory only (JSON)

Timings are wall-clock medians on whatever machine runs this; never assert
on them.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_slt  # noqa: E402
from keras_slt.data.graphs.graph import Graph, undirected_edges  # noqa: E402

NUM_NODES, NUM_DIRECTED_EDGES, NUM_FEATURES, NUM_CLASSES = 169_343, 1_166_243, 128, 40
NUM_TRAIN = 90_941
TARGET = 1.15


def arxiv_shaped_graph(seed=0):
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, NUM_NODES, (2, NUM_DIRECTED_EDGES))
    nodes = rng.permutation(NUM_NODES).astype(np.int32)
    return Graph(
        "random_arxiv",
        rng.standard_normal((NUM_NODES, NUM_FEATURES), np.float32),
        undirected_edges(edges[0], edges[1], NUM_NODES, "random"),
        rng.integers(0, NUM_CLASSES, NUM_NODES).astype(np.int32),
        nodes[:NUM_TRAIN],
        nodes[NUM_TRAIN : NUM_TRAIN + 29_799],
        nodes[NUM_TRAIN + 29_799 :],
        NUM_CLASSES,
    )


def compiled(kind, freeze, jit):
    if kind == "dense":
        model = keras_slt.models.get("gin", (NUM_FEATURES,), NUM_CLASSES, supermask=False)
    else:
        model = keras_slt.models.get(
            "gin",
            (NUM_FEATURES,),
            NUM_CLASSES,
            sparsity=0.7,
            freeze_ratio=freeze,
            distribution="epl",
            weight_init="kaiming_uniform",
        )
    model.compile(
        keras.optimizers.Adam(0.01, epsilon=1e-8),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


def step_timer(model, graph):
    inputs = graph.inputs()
    labels, weights = graph.targets("train")

    def step():
        start = time.perf_counter()
        model.train_on_batch(inputs, labels, sample_weight=weights)
        return time.perf_counter() - start

    return step


def rss_mib():
    """Peak resident set of this process so far, in MiB.

    Linux's VmHWM, the high-water mark of this program's own memory map.
    (`getrusage`'s ru_maxrss would do elsewhere, but on Linux a child keeps
    the larger of its own peak and its parent's at the fork.)
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind, freeze, jit, steps):
    graph = arxiv_shaped_graph()
    before = rss_mib()
    step = step_timer(compiled(kind, freeze, jit), graph)
    for _ in range(steps):
        step()
    print(json.dumps({"kind": kind, "before_model_mib": before, "peak_mib": rss_mib()}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--freeze", type=float, default=0.0, help="freezing ratio of the ticket search")
    parser.add_argument("--jit", type=int, default=1, choices=(0, 1))
    parser.add_argument("--child", choices=("dense", "ep"), help="measure one model's memory and exit")
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.freeze, bool(args.jit), args.warmup + 1)

    graph = arxiv_shaped_graph()
    print(
        f"graph: {graph.num_nodes:,} nodes, {graph.num_edges:,} directed edges after "
        f"symmetrization, {graph.num_features} features, {graph.num_classes} classes; "
        f"freeze {args.freeze:g}, jit {args.jit}; load {os.getloadavg()[0]:.1f}"
    )
    timers = {kind: step_timer(compiled(kind, args.freeze, bool(args.jit)), graph) for kind in ("dense", "ep")}
    for _ in range(args.warmup):
        for timer in timers.values():
            timer()
    times = {kind: [] for kind in timers}
    for i in range(args.steps):
        for kind in ("dense", "ep") if i % 2 == 0 else ("ep", "dense"):
            times[kind].append(timers[kind]())
    dense, ep = (statistics.median(times[k]) for k in ("dense", "ep"))
    paired = statistics.median(e / d for e, d in zip(times["ep"], times["dense"]))
    print(
        f"step: weight-trained {dense * 1e3:.0f} ms, ticket search {ep * 1e3:.0f} ms, "
        f"ratio {ep / dense:.3f}x (median of paired ratios {paired:.3f}x; target <= {TARGET}x)"
    )
    del timers
    for kind in ("dense", "ep"):
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            kind,
            "--freeze",
            str(args.freeze),
            "--jit",
            str(args.jit),
            "--warmup",
            str(args.warmup),
        ]
        result = json.loads(
            subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        )
        print(
            f"peak RSS {kind:5}: {result['peak_mib']:,.0f} MiB "
            f"({result['peak_mib'] - result['before_model_mib']:,.0f} MiB above the "
            f"{result['before_model_mib']:,.0f} MiB of TensorFlow and the graph)"
        )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
