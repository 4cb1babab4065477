"""`python -m mfr.evaluate ckpt_path=PATH data=mfr2`: evaluate a checkpoint (or model=dlib_resnet) on benchmarks.

See configs/eval.yaml: several benchmarks in one call with benchmark=[mfr2,mlfw,lfw]; a training
data config (data=demo, ...) evaluates the sets training validates on.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mfr.cli import one_line_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    from mfr.evaluation import evaluate  # imported here so --help and config errors come back fast

    with one_line_errors():
        evaluate(cfg)


if __name__ == "__main__":
    main()
