"""Every entry point ends on bad input the same way (mfr.cli): exit status 2 and one `error:` line, no traceback;
a bad training value does so before any data is touched, in the time Hydra takes to start."""

import subprocess
import time
from pathlib import Path

import pytest

from conftest import error_line, run_module

# issue 12's probes: each ran until training_step (or the optimizer, or Lightning's checkpoint loader) raised
PROBES = [
    (["experiment=dann_refine", "model.da.schedule=linear"], "model.da.schedule='linear'; allowed: constant, dann"),
    (["optim.optimizer.lr=-1"], "optim.optimizer.lr=-1; allowed: a number > 0"),
    (["ckpt_path=does/not/exist.ckpt"], "ckpt_path='does/not/exist.ckpt': no such file"),
]


def command(args: list[str], message: str, slow: bool = False):
    return pytest.param(args, message, id=args[0], marks=[pytest.mark.slow] if slow else [])


# every other entry point, with input a user gets wrong: a path that is not there, a name that is not one (slow:
# the commands that import torch before they can refuse it)
COMMANDS = [
    command(
        ["mfr.evaluate", "ckpt_path=does/not/exist.ckpt", "data=demo"], "ckpt_path='does/not/exist.ckpt': no such file"
    ),
    command(["mfr.compare", "nowhere"], "nowhere: no such file or directory"),
    command(["mfr.align", "nowhere", "aligned"], "INPUT nowhere: not a folder"),
    command(["mask_synth", "nowhere", "masked"], "INPUT nowhere: not a folder"),
    command(["mfr.pack", "nowhere", "packed"], "nowhere: does not exist. Expected layout:", slow=True),
    command(["mfr.bench", "--backbone", "resnet5O"], "--backbone='resnet5O' is not a timm model", slow=True),
    command(["mfr.eval.bench", "--pairs", "5"], "--pairs=5; allowed: an integer >= 20", slow=True),
]
SANITY_BOUND_S = 30  # issue 12 asks for under 5 s; the bound is loose, for machines busy with other work


def run(module_and_args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m MODULE ARGS` in a fresh process, as a user runs it; (result, wall seconds)."""
    started = time.perf_counter()
    result = run_module(*module_and_args, cwd=cwd, timeout=300)
    return result, time.perf_counter() - started


@pytest.mark.parametrize("overrides, message", PROBES, ids=[" ".join(p[0]) for p in PROBES])
def test_a_bad_training_value_fails_at_once_in_one_line(tmp_path, overrides, message):
    result, seconds = run(["mfr.fit", *overrides], tmp_path)
    print(
        f"python -m mfr.fit {' '.join(overrides)}: exit {result.returncode} after {seconds:.1f}s: {result.stderr.strip()}"
    )
    assert result.returncode == 2 and result.stderr.strip() == error_line(result.stderr), result.stderr[-2000:]
    assert message in result.stderr
    assert seconds < SANITY_BOUND_S


@pytest.mark.parametrize("args, message", COMMANDS)
def test_every_entry_point_refuses_bad_input_in_one_error_line(tmp_path, args, message):
    result, seconds = run(args, tmp_path)
    print(f"python -m {' '.join(args)}: exit {result.returncode} after {seconds:.1f}s")
    assert result.returncode == 2
    assert message in error_line(result.stderr)
