"""What a launch of `mfr.fit` with several processes must settle: one run folder for all ranks, no sweep.

torchrun and srun start every rank as its own `python -m mfr.fit`, and each would name the run
folder `${now:...}` by its own clock: different folders on different nodes (or when the second ticks
over between ranks). MFR_RUN_NAME, set once for all ranks, names it instead (configs/hydra); such a
launch without it, or an explicit hydra.run.dir, is refused before Hydra makes any folder. Lightning's
own launcher (trainer=ddp on one node) hands its run folder to the processes it starts.

A sweep (-m) cannot train on several processes: Lightning starts each extra process by rerunning the
command line, so every one of them would run the whole sweep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mfr.errors import ConfigError

RUN_NAME = "MFR_RUN_NAME"
CLUSTER_RECIPE = "see the README, 'Multi-GPU and clusters'"


def launched_processes(env: Mapping[str, str]) -> int:
    """How many processes a launcher (torchrun, srun, Lightning's own) started for this run."""
    return max(int(env.get("WORLD_SIZE") or 1), int(env.get("SLURM_NTASKS") or 1))


def check_run_folder(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse a multi-process launch whose ranks would each name their own run folder."""
    processes = launched_processes(env)
    explicit = any(arg.lstrip("+").startswith("hydra.run.dir=") for arg in argv)
    if processes > 1 and not env.get(RUN_NAME) and not explicit:
        raise ConfigError(
            f"{processes} processes were launched (WORLD_SIZE/SLURM_NTASKS) and each would name its run folder by "
            f"its own clock: set {RUN_NAME}=<name> once for all of them (e.g. export {RUN_NAME}=$SLURM_JOB_ID) "
            f"or pass hydra.run.dir=<shared folder>; {CLUSTER_RECIPE}"
        )


def trains_on_several_processes(trainer: Mapping) -> bool:
    """Whether Lightning would start more than this one process for the trainer config."""
    several_devices = trainer.get("devices", 1) not in (1, "1")  # "auto" may be several GPUs
    return "ddp" in str(trainer.get("strategy", "")) or several_devices or trainer.get("num_nodes", 1) != 1


def check_sweep(trainer: Mapping, multirun: bool) -> None:
    """Refuse a sweep that would train with DDP."""
    if multirun and trains_on_several_processes(trainer):
        raise ConfigError(
            f"a sweep (-m) cannot train on several processes (trainer.strategy={trainer.get('strategy')}, "
            f"trainer.devices={trainer.get('devices')}, trainer.num_nodes={trainer.get('num_nodes')}): Lightning starts "
            "each DDP process by rerunning the command line, so each would rerun the whole sweep; launch one run per "
            f"job instead (a job array), {CLUSTER_RECIPE}"
        )
