"""Build everything an evaluation needs from its Hydra config, evaluate every set, report and log.

The model is an mfr checkpoint (`ckpt_path`) or an off-the-shelf embedder (`model.embedder`, e.g.
model=dlib_resnet). The sets are the data config's: a training data config (with a `_target_`)
gives exactly the sets training validates on; an evaluation-only one (data=mfr2, benchmark=[...])
gives its `val_sets` builders.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from mask_synth.dataset import write_atomic
from mfr.config import check_eval_config
from mfr.data.sets import VerificationSet
from mfr.errors import ConfigError
from mfr.eval.checkpoint import ModuleEmbedder
from mfr.eval.embedding import Embedder, EmbeddingCache, embed_images
from mfr.eval.engine import evaluate_set, scalar_metrics
from mfr.eval.plots import write_plots
from mfr.eval.report import format_tables
from mfr.methods import method_name
from mfr.train.run import instantiate_all
from mfr.viz.attention import set_attention_stats

log = logging.getLogger(__name__)


def build_embedder(cfg: DictConfig) -> tuple[Embedder, dict]:
    """(embedder, a description of it for the results)."""
    model_embedder = (cfg.get("model") or {}).get("embedder")
    if cfg.get("ckpt_path") and model_embedder:
        raise ConfigError("give either ckpt_path=PATH (an mfr checkpoint) or model=dlib_resnet, not both")
    if cfg.get("ckpt_path"):
        embedder = ModuleEmbedder.from_checkpoint(cfg.ckpt_path, flip=cfg.embedding.flip, device=cfg.embedding.device)
        hp = embedder.module.hparams
        face_model = (hp.get("teacher") or hp)["model"]  # SRT embeds with its frozen teacher's trunk
        return embedder, {
            "checkpoint": str(Path(cfg.ckpt_path).resolve()),
            "method": method_name(hp.model),
            "backbone": face_model["backbone"]["name"],
            "image_size": embedder.image_size,
            "device": str(embedder.device),
            "bf16": embedder.bf16,
        }
    if model_embedder:
        embedder = hydra.utils.instantiate(model_embedder)
        return embedder, {"embedder": model_embedder["_target_"], "device": "cpu"}
    raise ConfigError("nothing to evaluate: give ckpt_path=PATH (an mfr checkpoint) or model=dlib_resnet")


def build_sets(cfg: DictConfig) -> list[VerificationSet]:
    data = cfg.get("data")
    if not data:
        raise ConfigError(
            "no benchmark chosen: data=mfr2 (or mlfw, lfw, a training data config), or benchmark=[mfr2,mlfw]"
        )
    if "_target_" in data:  # a training data config: the very sets training validates on
        with open_dict(data):
            data.use_target = False  # the target domain only trains
        datamodule = hydra.utils.instantiate(data)
        datamodule.setup("validate")
        return datamodule.val_sets
    builders = hydra.utils.instantiate(data.get("val_sets") or {})
    if not builders:
        raise ConfigError(f"data has no val_sets to evaluate; keys: {', '.join(data)}")
    return [builder() for builder in builders.values() if builder is not None]


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate; print the tables; write results.json and the plots to the output dir; log to the loggers."""
    started = time.time()
    check_eval_config(cfg)  # mfr.evaluate checked it already; for other callers
    options = hydra.utils.instantiate(cfg.metrics)
    embedder, model_info = build_embedder(cfg)
    emb_cfg = cfg.embedding
    cache = EmbeddingCache(emb_cfg.cache_dir) if emb_cfg.get("cache_dir") else None

    def embed(images, name, masked=None):  # masked: each image's mask flag, for a model that embeds masked faces apart
        return embed_images(images, embedder, name, cache, emb_cfg.batch_size, emb_cfg.num_workers, masked)

    def embed_references(images, name):  # MR-MP's references, every one wearing a mask drawn on the fly
        return embed(images, name, np.ones(len(images), bool))

    results = {}
    for vset in build_sets(cfg):
        log.info("%s: %d images, %d pairs", vset.name, len(vset.images), len(vset.pairs))
        emb = embed(vset.images, vset.name, vset.meta.get("masked"))
        results[vset.name] = evaluate_set(vset, emb, options, embed_extra=embed_references)
        if isinstance(embedder, ModuleEmbedder) and getattr(embedder.module.embedder, "refine", False):
            results[vset.name]["attention"] = set_attention_stats(embedder.module, vset)

    out = Path(cfg.paths.output_dir)
    payload = {
        "model": model_info,
        "settings": {"flip": emb_cfg.flip, "metrics": OmegaConf.to_container(cfg.metrics, resolve=True)},
        "wall_time_s": round(time.time() - started, 1),
        "sets": results,
    }
    json_path = write_atomic(out / "results.json", json.dumps(payload, indent=1))
    plots = {name: write_plots(r, out / "plots") for name, r in results.items()} if cfg.plots else {}
    log_results(cfg, results, plots)
    print(
        f"mfr.evaluate: {describe(model_info)}, flip TTA {'on' if emb_cfg.flip else 'off'}, "
        f"{payload['wall_time_s']:.0f}s\n\n{format_tables(results)}\n\nresults: {json_path}"
        + (f"\nplots: {out / 'plots'}" if plots else ""),
        flush=True,
    )
    return payload


def describe(model_info: dict) -> str:
    if "checkpoint" in model_info:
        return (
            f"{model_info['checkpoint']} ({model_info['method']}, {model_info['backbone']}, {model_info['image_size']}px, "
            f"{model_info['device']}{', bf16' if model_info['bf16'] else ''})"
        )
    return f"{model_info['embedder'].rsplit('.', 1)[-1]} (off the shelf, no training)"


def log_results(cfg: DictConfig, results: dict, plots: dict) -> None:
    """Every headline figure to each configured logger as eval/<set>/<metric>; plots where the logger takes images."""
    loggers = instantiate_all(cfg.get("logger"))
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        for name, result in results.items():
            lg.log_metrics({f"eval/{name}/{k}": v for k, v in scalar_metrics(result).items()}, step=0)
            if hasattr(lg, "log_image"):
                for path in plots.get(name, []):
                    lg.log_image(key=f"eval/{name}/{path.stem.removeprefix(name + '_')}", images=[str(path)])
        lg.save()
        lg.finalize("success")
