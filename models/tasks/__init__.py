"""Synthetic long-dependency tasks (adding, copy, parity, reversal): generators, models, training CLI.

    python -m models.tasks adding --cell lstm --T 100 [--forget-bias 1.0] [--steps 4000] [--unroll]
"""
from .data import (adding_baseline, adding_batch, copy_baseline, copy_batch, parity_batch, reversal_batch)
from .train import DEFAULTS, TASKS, build_model, exact_match, run_task, task_step
