#!/usr/bin/env bash
# The paper's CIFAR-10 Conv6 recipe on a GPU, on JAX without TensorFlow,
# beside the official PyTorch code on the same GPU and data.
#
# Two steps. Here, on a machine with the data, the official code and the
# package registry:
#
#   bash benchmarks/gpu_conv6.sh prepare DATA_DIR OFFICIAL_CODE
#
# writes .gpu/ (ignored by git, under the 64 MiB a device call carries):
# the CIFAR-10 JPEG folder as one tar, the official code, and wheels of
# keras-slt and of the dependencies the GPU machine may lack (JAX with
# ml-dtypes, CUDA, PyTorch and torchvision with Pillow are there). Then, on the GPU machine
# (the device tool: carry [".gpu"], run from the repository root):
#
#   bash benchmarks/gpu_conv6.sh run [EPOCHS] [SEEDS]
#
# installs keras-slt without TensorFlow, runs the frozen-source (s 0.5,
# p = r = 0.25) and dense-source (s 0.7) Conv6 searches with the official
# recipe (full width, EPOCHS of its 100, default 10) on JAX, and the
# official code on the same settings, and prints (and writes to $OUT, when
# set) the table of benchmarks/official_compare.py: test accuracy, epoch
# time, median step time and peak GPU memory of both.
#
#   bash benchmarks/gpu_conv6.sh dp [EPOCHS]
#
# installs the same way, prints the Conv6 step time on one GPU against all
# of the machine's GPUs (benchmarks/data_parallel_step.py, global batch
# 128), then runs the frozen-source Conv6 search with --strategy=data_parallel
# on all GPUs for EPOCHS (default 10) and prints its summary line, to set
# beside the one-GPU search of `run`. The GPU count must divide the global
# batch of 128 (1, 2, 4 or 8 GPUs; otherwise both steps stop with one line).
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu

case "${1:-}" in
prepare)
  data_dir=${2:?usage: prepare DATA_DIR OFFICIAL_CODE}
  official=${3:?usage: prepare DATA_DIR OFFICIAL_CODE}
  rm -rf "$GPU" && mkdir -p "$GPU/wheels"
  tar -C "$data_dir" -czf "$GPU/cifar10-jpeg.tgz" train test  # about 20 MB: the JPEG headers repeat
  tar -C "$official" --exclude=.git -cf "$GPU/official.tar" .
  python3 -m pip wheel --quiet --no-deps -w "$GPU/wheels" .
  # Wheels for the GPU machine's Python (PY=3.x; default: this one's).
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --python-version "${PY:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}" \
    -d "$GPU/wheels" keras absl-py constriction namex optree rich markdown-it-py mdurl pygments h5py \
    timm pyyaml tqdm
  du -sh "$GPU"
  ;;
run|dp)
  epochs=${2:-10}
  seeds=${3:-0}
  work=$(mktemp -d)
  tar -C "$work" -xzf "$GPU/cifar10-jpeg.tgz" && mkdir -p "$work/official" && tar -C "$work/official" -xf "$GPU/official.tar"
  python3 -m venv --system-site-packages "$work/venv"  # keeps the machine's jax, CUDA and torch
  # --no-deps: exactly the wheels carried (matplotlib, for plots, is not needed here).
  "$work/venv/bin/pip" install --quiet --no-index --no-deps "$GPU"/wheels/*.whl
  "$work/venv/bin/python" -c "import importlib.util as u; assert u.find_spec('tensorflow') is None, 'TensorFlow is installed'"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  out=${OUT:-$work/out}
  mkdir -p "$out"
  if [ "$1" = dp ]; then
    KERAS_BACKEND=jax "$work/venv/bin/python" benchmarks/data_parallel_step.py --model=conv6 \
      --batch_size=128 | tee "$out/data_parallel_step.txt"
    KERAS_BACKEND=jax "$work/venv/bin/python" tools/search.py --flagfile=configs/cifar10_conv6_frozen_source.flags \
      --data_dir="$work" --epochs="$epochs" --strategy=data_parallel --output_dir="$out/conv6_dp" \
      | tee "$out/conv6_dp.txt"
    exit 0
  fi
  KERAS_BACKEND=jax "$work/venv/bin/python" benchmarks/official_compare.py \
    --official_code="$work/official" --data_dir="$work" --torch_python="$work/venv/bin/python" \
    --device=cuda --settings=frozen,dense --epochs="$epochs" --seeds="$seeds" --output_dir="$out" \
    | tee "$out/report.txt"
  ;;
*)
  echo "usage: $0 prepare DATA_DIR OFFICIAL_CODE | run [EPOCHS] [SEEDS] | dp [EPOCHS]" >&2
  exit 2
  ;;
esac
