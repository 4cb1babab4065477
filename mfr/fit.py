"""`python -m mfr.fit experiment=dann_refine`: train from the Hydra config in configs/.

See configs/train.yaml for the groups; `-m` runs a sweep, e.g.
`python -m mfr.fit -m experiment=dann_refine model.refine.enabled=true,false model.da.enabled=true,false`.
"""

from __future__ import annotations

import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mfr.cli import one_line_errors
from mfr.config import check_train_config
from mfr.train.launch import check_run_folder, check_sweep


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with one_line_errors():
        check_sweep(cfg.trainer, HydraConfig.get().mode == RunMode.MULTIRUN)
        check_train_config(cfg)  # before Lightning is imported: a bad value fails in the time Hydra takes to start
        from mfr.train.run import train

        metrics = train(cfg)
    return metrics.get(cfg.get("monitor"))


if __name__ == "__main__":
    with one_line_errors():
        check_run_folder(sys.argv[1:], os.environ)
    main()
