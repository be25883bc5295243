"""The learning-rate schedules of a run: cosine or step, stepped per batch or per epoch.

"cosine" decays the rate from `lr` towards 0 over the run; "step" multiplies
it by 0.1 after `STEP_MILESTONES` of the epochs (50% and 75%). Stepped every
batch, the schedule moves inside an epoch; stepped once per epoch, as the
official code's PyTorch schedulers (CosineAnnealingLR, MultiStepLR), every
batch of epoch e of E trains at one rate, lr * (1 + cos(pi * e / E)) / 2
for cosine.
"""

import math

import keras

STEP_MILESTONES = (0.5, 0.75)  # fractions of the run where "step" divides lr by 10


def learning_rate(lr, schedule, unit, epochs, steps_per_epoch):
    """The optimizer's learning rate: a Keras schedule of the optimizer step (or a constant).

    Args:
        lr: the initial learning rate.
        schedule: "cosine" or "step".
        unit: "batch" (the rate changes every step) or "epoch" (it changes
            between epochs only).
        epochs: the run's epochs.
        steps_per_epoch: the optimizer steps of one epoch.

    Example:

    >>> rate = learning_rate(0.1, "step", "epoch", epochs=4, steps_per_epoch=10)
    >>> [round(float(rate(step)), 6) for step in (0, 19, 20, 29, 30)]
    [0.1, 0.1, 0.01, 0.01, 0.001]
    """
    if unit == "epoch":
        return _per_epoch(epoch_rates(lr, schedule, epochs), steps_per_epoch)
    total = epochs * steps_per_epoch
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [int(total * fraction) for fraction in STEP_MILESTONES],
        [lr * 0.1**i for i in range(len(STEP_MILESTONES) + 1)],
    )


def epoch_rates(lr, schedule, epochs):
    """The learning rate of each epoch under a once-per-epoch schedule.

    Example:

    >>> epoch_rates(1.0, "cosine", 4)
    [1.0, 0.8535533905932737, 0.5, 0.14644660940672627]
    """
    if schedule == "cosine":  # PyTorch's CosineAnnealingLR(T_max=epochs)
        return [0.5 * lr * (1 + math.cos(math.pi * epoch / epochs)) for epoch in range(epochs)]
    milestones = [int(epochs * fraction) for fraction in STEP_MILESTONES]
    return [lr * 0.1 ** sum(epoch >= m for m in milestones) for epoch in range(epochs)]


def _per_epoch(rates, steps_per_epoch):
    """A schedule holding rates[e] for every batch of epoch e."""
    boundaries, values = [], [rates[0]]
    for epoch, rate in enumerate(rates[1:], start=1):
        if rate != values[-1]:
            # The optimizer's step counter is 0 in the first batch; the
            # decay's value i + 1 starts after boundary i.
            boundaries.append(epoch * steps_per_epoch - 1)
            values.append(rate)
    if not boundaries:
        return rates[0]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
