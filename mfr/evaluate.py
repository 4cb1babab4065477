"""`python -m mfr.evaluate ckpt_path=PATH data=mfr2`: evaluate a checkpoint (or model=dlib_resnet) on benchmarks.

See configs/eval.yaml: several benchmarks in one call with benchmark=[mfr2,mlfw,lfw]; a training
data config (data=demo, ...) evaluates the sets training validates on.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mfr.cli import one_line_errors
from mfr.config import check_eval_config


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        check_eval_config(cfg)  # before torch is imported: a bad value fails in the time Hydra takes to start
        from mfr.eval.run import evaluate

        evaluate(cfg)


if __name__ == "__main__":
    main()
