"""`python -m mfr.fit experiment=dann_refine`: train from the Hydra config in configs/.

See configs/train.yaml for the groups; `-m` runs a sweep, e.g.
`python -m mfr.fit -m experiment=dann_refine model.refine.enabled=true,false model.da.enabled=true,false`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mfr.cli import one_line_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from mfr.training import train  # imported here so --help and config errors come back fast

    with one_line_errors():
        metrics = train(cfg)
    return metrics.get(cfg.get("monitor"))


if __name__ == "__main__":
    main()
