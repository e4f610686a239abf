"""What a training run shows while it runs: a bar over the steps, a line per evaluation, a CPU cost estimate.

The bar (tqdm, on stderr) shows the step, the last loss, steps per second and the last validation score;
lines go through the run's ``log`` (the CLI's ``click.echo``) with the bar lifted while they print. On a CPU,
a run of the authors' full schedule prints once what it will cost, measured on its first steps, and what to
run instead; nothing is changed for the user.
"""

from __future__ import annotations

import time
from typing import Any

from tqdm.auto import tqdm

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.reference import REFERENCE_CONFIGS

#: Steps timed for the CPU estimate, after the first one (data loader start-up, lazy inits).
ESTIMATE_STEPS = 3


def full_protocol_on_cpu(cfg: TrainConfig, device_type: str) -> bool:
    """A CPU run as long as the shortest authors' config, at its batch size (worth a cost estimate)."""
    schedule = cfg.schedule()
    steps = min(r.steps for r in REFERENCE_CONFIGS.values())
    batch = min(r.batch_size for r in REFERENCE_CONFIGS.values())
    return device_type == "cpu" and schedule.steps >= steps and schedule.batch_size >= batch


class Progress:
    """The training bar and the run's lines; ``estimate`` asks for the one-time CPU cost estimate."""

    def __init__(self, cfg: TrainConfig, log: Any, *, bar: bool, estimate: bool) -> None:
        self.cfg, self.log, self.estimate = cfg, log, estimate
        fmt = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
        self.bar = tqdm(
            total=cfg.schedule().steps, desc="train", unit="step", bar_format=fmt, disable=not bar
        )
        self.started = time.perf_counter()
        self.timed_from: tuple[int, float] | None = None
        self.score: float | None = None

    def step(self, step: int, loss: float) -> None:
        """One optimisation step done: advance the bar; after the first steps, estimate once."""
        now = time.perf_counter()
        self.bar.update(1)
        rate = step / max(now - self.started, 1e-9)
        postfix = {"loss": f"{loss:.4f}", "steps/s": f"{rate:.3g}"}
        if self.score is not None:
            postfix[f"val {self.cfg.selection}"] = f"{self.score:.4f}"
        self.bar.set_postfix(postfix, refresh=False)
        if step == 1:
            self.timed_from = (step, now)
        elif self.estimate and self.timed_from and step - self.timed_from[0] >= ESTIMATE_STEPS:
            seconds = (now - self.timed_from[1]) / (step - self.timed_from[0])
            self.say(cpu_estimate(self.cfg, seconds))
            self.estimate = False

    def validated(self, score: float) -> None:
        """Remember the last validation score for the bar."""
        self.score = score

    def say(self, line: str) -> None:
        """Print a line through ``log`` without breaking the bar."""
        with self.bar.external_write_mode():
            self.log(line)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


def cpu_estimate(cfg: TrainConfig, seconds_per_step: float) -> str:
    """The one-time warning of a full-schedule CPU run: its cost and what to run instead."""
    schedule = cfg.schedule()
    hours = seconds_per_step * schedule.steps / 3600
    timed = f"steps 2-{1 + ESTIMATE_STEPS}"
    return (
        f"on CPU: {seconds_per_step:.1f} s per step of {schedule.batch_size} tiles ({timed}), so "
        f"{schedule.steps} "
        f"steps take about {hours:.1f} h (plus a validation every {cfg.val_every} steps). "
        "The run continues unchanged; for a first look run `phenocell demo`, or pass a smaller --steps / "
        "--batch-size (recorded as departures), or run on a GPU (--device cuda)."
    )
