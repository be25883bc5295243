"""Runs the paper's official PyTorch code on the CIFAR-10 JPEG folder.

The official code (github.com/Hikari43/slt_within_frozen_network,
`image_classification/`) is imported from `--official_code`, never copied
here. This driver follows its `experiment.py` step by step and calls its own
functions: `set_random_seeds`, `get_model` (Conv6 of `SupermaskConv2d` /
`SupermaskLinear`), `initialize_params` (weights, scores, ERK frozen mask),
`set_kthvalue` (the global threshold), `get_datasets` (its transforms: pad 4
with black on the raw image, random crop, flip, then normalize; its
`int(n * 0.8)` seeded `random_split`), `get_optimizer`, `get_scheduler`,
`train` and `evaluate`. The run's settings come from the official Conv6 yaml
(`configs/cifar10-conv6-global_ep-0.7-erk-p_0.8-r_0.0.yaml`), overridden by
the flags below.

What is replaced, and why:
- The data source: `torchvision.datasets.CIFAR10` (python batches) becomes
  `JpegCifar10`, the same interface (PIL image per item, `.targets`) over the
  `train/<class>/*.jpg` and `test/<class>/*.jpg` folder, decoded once into
  uint8 arrays as CIFAR10 holds its batches. Class indices follow the
  sorted class names, which is CIFAR-10's label order.
- The device: CPU, one process, no DistributedDataParallel (with a world of
  one it only copies gradients); the samplers are the same
  `DistributedSampler`s with `num_replicas=1`. `torch.cuda.synchronize`,
  which `train` calls after every step, is a no-op on CPU.
- Checkpoint files are not written.

Prints each epoch's validation and test accuracy and times, and writes a
JSON summary (test accuracy at the best validation epoch, epoch 0 included
as in `experiment.py`; per-epoch train / validation / test seconds).

Usage (with a Python that has torch, torchvision, timm, pyyaml, tqdm):

    /work/torchenv/bin/python benchmarks/official_conv6.py \
        --official_code=/path/to/slt_within_frozen_network \
        --data_dir=/path/to/cifar10-jpeg --epochs=1 --seed=0 --output=o.json
"""

import argparse
import json
import os
import sys
import time

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CONFIG = "configs/cifar10-conv6-global_ep-0.7-erk-p_0.8-r_0.0.yaml"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--official_code", required=True, help="checkout of Hikari43/slt_within_frozen_network")
    p.add_argument("--data_dir", required=True, help="folder with train/<class>/ and test/<class>/ JPEGs")
    p.add_argument("--epochs", type=int, default=100, help="max_epoch (cosine T_max)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--p_ratio", type=float, default=0.25)
    p.add_argument("--r_ratio", type=float, default=0.25)
    p.add_argument("--width_factor", type=float, default=1.0, help="Conv6 channel width")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads")
    p.add_argument("--n_worker", type=int, default=None, help="DataLoader workers (default: the yaml's n_worker)")
    p.add_argument("--output", default=None, help="JSON summary path")
    p.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine (benchmarks/gpu_conv6.sh)")
    return p.parse_args(argv)


def decode_folder(split_dir):
    """uint8 NHWC images and int labels of `split_dir/<class>/*.jpg`."""
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(CLASSES):
        folder = os.path.join(split_dir, name)
        if not os.path.isdir(folder):
            sys.exit(f"data_dir: {folder} is missing")
        for file in sorted(os.listdir(folder)):
            with Image.open(os.path.join(folder, file), formats=["JPEG"]) as im:  # never EPS and the like
                images.append(np.asarray(im.convert("RGB")))
            labels.append(label)
    return np.stack(images), labels


def jpeg_cifar10(data_dir):
    """A stand-in for `torchvision.datasets.CIFAR10` reading the JPEG folder."""
    import torch.utils.data
    from PIL import Image

    cache = {}

    class JpegCifar10(torch.utils.data.Dataset):
        def __init__(self, root, train=True, download=False, transform=None):
            split = "train" if train else "test"
            if split not in cache:
                cache[split] = decode_folder(os.path.join(data_dir, split))
            self.data, self.targets = cache[split]
            self.transform = transform

        def __getitem__(self, index):
            # As CIFAR10.__getitem__: a PIL image, then the transform.
            image = Image.fromarray(self.data[index])
            if self.transform is not None:
                image = self.transform(image)
            return image, self.targets[index]

        def __len__(self):
            return len(self.data)

    return JpegCifar10


def load_config(official_dir, args):
    import yaml

    with open(os.path.join(official_dir, CONFIG)) as f:
        config = yaml.safe_load(f)
    config.update(
        seed=args.seed,
        max_epoch=args.epochs,
        sparsity=args.sparsity,
        p_ratio=args.p_ratio,
        r_ratio=args.r_ratio,
        width_factor=args.width_factor,
    )
    if args.n_worker is not None:
        config["n_worker"] = args.n_worker
    for key in (
        "use_affine_bn",
        "scale_method",
        "width_factor",
        "drop",
        "drop_path",
        "mask_file",
        "filter_bias_and_bn",
        "min_lr",
        "warmup_lr_init",
        "warmup_t",
        "warmup_prefix",
    ):
        config.setdefault(key, None)
    return config


def main(argv=None):
    args = parse_args(argv)
    official_dir = os.path.join(os.path.abspath(args.official_code), "image_classification")
    if not os.path.isfile(os.path.join(official_dir, "experiment.py")):
        sys.exit(f"official_code: {args.official_code} has no image_classification/experiment.py")
    sys.path.insert(0, official_dir)
    os.environ.setdefault("TQDM_DISABLE", "1")  # the official loops draw progress bars

    import torch
    import torchvision
    from layers.supermask_conv import SupermaskConv2d
    from layers.supermask_linear import SupermaskLinear
    from layers.utils.set_kthvalue import set_kthvalue
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from utils import train as official_train
    from utils.dataset import get_dataset_dim, get_datasets
    from utils.model import get_model, initialize_params
    from utils.optimizer import get_optimizer
    from utils.scheduler import get_scheduler
    from utils.seed import set_random_seeds

    torch.set_num_threads(args.threads)
    if args.device == "cpu":
        torch.cuda.synchronize = lambda *a, **k: None  # CPU: nothing to wait for
    torchvision.datasets.CIFAR10 = jpeg_cifar10(args.data_dir)
    c = load_config(official_dir, args)
    device = torch.device(args.device)

    # experiment.py main(), in its order (the RNG draws follow the same path).
    set_random_seeds(seed=c["seed"])
    _, num_classes = get_dataset_dim(c["dataset_name"])
    model = get_model(c["model_name"], c["dataset_name"])(
        num_classes=num_classes,
        use_affine_bn=c["use_affine_bn"],
        algo=c["algo"],
        sparsity=c["sparsity"],
        scale_method=c["scale_method"],
        width_factor=c["width_factor"],
        drop_rate=c["drop"],
        drop_path_rate=c["drop_path"],
    )
    initialize_params(
        model,
        w_init_method=c["w_init_method"],
        s_init_method=c["s_init_method"],
        m_init_method=c["m_init_method"],
        p_ratio=c["p_ratio"],
        r_ratio=c["r_ratio"],
        r_method=c["r_method"],
        mask_file=c["mask_file"],
        nonlinearity=c["nonlinearity"],
        algo=c["algo"],
    )
    model = model.to(device)
    set_kthvalue(model, c["algo"], device)
    frozen = torch.cat(
        [m.ternary_frozen_mask.flatten() for m in model.modules() if isinstance(m, (SupermaskConv2d, SupermaskLinear))]
    )
    print(
        f"pruned {(frozen == -1).float().mean():.4f}, locked {(frozen == 1).float().mean():.4f} "
        f"of {frozen.numel():,} weights",
        flush=True,
    )

    started = time.monotonic()
    train_set, val_set, test_set = get_datasets(
        dataset_name=c["dataset_name"], dataset_dir=args.data_dir, train_val_ratio=c["train_val_ratio"], seed=c["seed"]
    )
    decode_s = time.monotonic() - started
    train_sampler = DistributedSampler(train_set, num_replicas=1, rank=0, seed=c["seed"], shuffle=True, drop_last=True)

    def eval_loader(dataset):
        sampler = DistributedSampler(dataset, num_replicas=1, rank=0, seed=c["seed"], shuffle=False, drop_last=True)
        return DataLoader(dataset, batch_size=c["batch_size_per_gpu"], sampler=sampler, num_workers=c["n_worker"])

    train_loader = DataLoader(
        train_set, batch_size=c["batch_size_per_gpu"], sampler=train_sampler, num_workers=c["n_worker"]
    )
    val_loader, test_loader = eval_loader(val_set), eval_loader(test_set)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = get_optimizer(
        optimizer_name=c["optimizer_name"],
        lr=c["lr"],
        momentum=c["momentum"],
        weight_decay=c["weight_decay"],
        model=model,
        filter_bias_and_bn=c["filter_bias_and_bn"],
    )
    scheduler = get_scheduler(
        scheduler_name=c["scheduler_name"],
        optimizer=optimizer,
        milestones=c["milestones"],
        gamma=c["gamma"],
        max_epoch=c["max_epoch"],
        min_lr=c["min_lr"],
        warmup_lr_init=c["warmup_lr_init"],
        warmup_t=c["warmup_t"],
        warmup_prefix=c["warmup_prefix"],
    )

    def accuracy(loader):
        count, total = official_train.evaluate(
            model=model, device=device, eval_loader=loader, use_non_blocking=False, use_amp=False
        )
        return (count / total).item()

    history = [{"epoch": 0, "val_accuracy": accuracy(val_loader), "test_accuracy": accuracy(test_loader)}]
    for epoch in range(1, c["max_epoch"] + 1):
        lr = scheduler.get_last_lr()[0]
        t0 = time.monotonic()
        train_sampler.set_epoch(epoch)
        official_train.train(
            model=model,
            device=device,
            train_loader=train_loader,
            optimizer=optimizer,
            criterion=criterion,
            algo=c["algo"],
            model_ema=None,
            mixup_fn=None,
            use_non_blocking=False,
            use_amp=False,
            loss_scaler=None,
            max_norm=None,
        )
        scheduler.step()
        t1 = time.monotonic()
        val = accuracy(val_loader)
        t2 = time.monotonic()
        test = accuracy(test_loader)
        t3 = time.monotonic()
        history.append(
            {
                "epoch": epoch,
                "lr": lr,
                "val_accuracy": val,
                "test_accuracy": test,
                "train_s": t1 - t0,
                "val_s": t2 - t1,
                "test_s": t3 - t2,
            }
        )
        print(
            f"epoch {epoch}: lr {lr:.5f}, val {100 * val:.2f}%, test {100 * test:.2f}%, "
            f"train {t1 - t0:.1f} s, val {t2 - t1:.1f} s, test {t3 - t2:.1f} s",
            flush=True,
        )

    # experiment.py keeps the first epoch (0 included) whose validation is strictly best.
    best = max(history, key=lambda h: (h["val_accuracy"], -h["epoch"]))
    summary = {
        "implementation": "official",
        "seed": c["seed"],
        "epochs": c["max_epoch"],
        "width_factor": c["width_factor"],
        "test_accuracy": best["test_accuracy"],
        "val_accuracy": best["val_accuracy"],
        "best_epoch": best["epoch"],
        "num_train": len(train_set),
        "num_validation": len(val_set),
        "num_test": len(test_set),
        "decode_s": decode_s,
        "threads": torch.get_num_threads(),
        "n_worker": c["n_worker"],
        "torch": torch.__version__,
        "history": history,
        "wall_time_s": time.monotonic() - started,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else None,
    }
    print(
        f"official conv6, seed {c['seed']}: test accuracy {100 * best['test_accuracy']:.2f}% "
        f"(best epoch {best['epoch']}, val {100 * best['val_accuracy']:.2f}%)",
        flush=True,
    )
    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
