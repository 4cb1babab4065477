"""The config contract: every value a user sets, checked in one pass over the composed config before any data is
touched, each failing with one line that names the key, the value and what is allowed (mfr.cli prints it).

Hydra refuses a key that is not in the config; the rules below refuse the values. A section's rules are a table
{key: Rule}; a key a section does not hold is left to the code that reads it. The pass runs cheapest first: the
tables need nothing but Python, so a wrong value fails within the second or two Hydra takes to start; the checks
that need the model's code come last (the head's name, arguments and margin limit, from its class; the backbone's
name, from timm's registry), as importing it takes seconds.

    check_train_config(cfg)                    python -m mfr.fit, and mfr.train.run.train for other callers
    check_eval_config(cfg)                     python -m mfr.evaluate
    check_module_settings(model, head, optim)  what a LightningModule is built from (a run's or a checkpoint's)

The names a key may take are defined here and imported by the code that acts on them (optim, models, comparators).
A new setting gets its rule beside the others of its section; a new method (mfr.methods) its check in
METHOD_CHECKS.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfr.errors import ConfigError
from mfr.methods import method_name

OPTIMIZERS = ("sgd", "adamw")  # mfr.train.optim.build_optimizer
SCHEDULES = ("cosine", "poly", "constant")  # mfr.train.optim.lr_factor
GRL_SCHEDULES = ("constant", "dann")  # mfr.models.grl.grl_lambda
ATTENTION_LOGITS = ("dot", "cosine")  # mfr.models.refine.SelfAttention2d
ATTENTION_TARGETS = ("both", "unmasked")  # mfr.models.losses.attention_score_loss
SRT_LOSSES = ("srt", "triplet")  # mfr.comparators.srt.SRTModule


def show(value: Any) -> str:
    """A value as it is written in a config or on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Rule:
    """What a key may hold: `test` says whether a value is allowed, `allowed` says it to the user."""

    test: Callable[[Any], bool]
    allowed: str

    def check(self, key: str, value: Any) -> None:
        if not self.test(value):
            raise ConfigError(f"{key}={show(value)}; allowed: {self.allowed}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(
    minimum: float | None = None,
    *,
    above: float | None = None,
    below: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    null: bool = False,
    auto: bool = False,
) -> Rule:
    """A number (an integer with integer=True) in the given bounds; null and "auto" as well where asked."""
    bounds = [
        (minimum, ">=", lambda v, b: v >= b),
        (above, ">", lambda v, b: v > b),
        (below, "<", lambda v, b: v < b),
        (maximum, "<=", lambda v, b: v <= b),
    ]
    bounds = [(b, sign, ok) for b, sign, ok in bounds if b is not None]

    def test(value: Any) -> bool:
        if (null and value is None) or (auto and value == "auto"):
            return True
        if not _is_number(value) or (integer and not isinstance(value, int)):
            return False
        return all(ok(value, b) for b, _, ok in bounds)

    kind = "an integer" if integer else "a number"
    text = f"{kind} {' and '.join(f'{sign} {b:g}' for b, sign, _ in bounds)}".rstrip()
    return Rule(test, " or ".join([*(["null"] if null else []), *(['"auto"'] if auto else []), text]))


def one_of(*names: Any) -> Rule:
    return Rule(lambda value: value in names, ", ".join(n if isinstance(n, str) else show(n) for n in names))


BOOLEAN = Rule(lambda value: isinstance(value, bool), "true, false")
PROBABILITY = number(0, maximum=1)
WEIGHT = number(0)  # a loss weight or coefficient: 0 switches its term off


def check_section(section: Mapping | None, prefix: str, rules: Mapping[str, Rule]) -> None:
    """Every key of `section` that has a rule, checked; `prefix` is the section's own key (model.da)."""
    if section is None:
        return
    for name, rule in rules.items():
        if name in section:
            rule.check(f"{prefix}.{name}" if prefix else name, section[name])


def check_file(key: str, value: Any, what: str) -> None:
    """A path that must name an existing file (null: none)."""
    if value is not None and not Path(str(value)).expanduser().is_file():
        raise ConfigError(f"{key}={show(value)}: no such file; allowed: null or {what}")


CHECKPOINT = "an mfr checkpoint, e.g. logs/train/runs/<run>/checkpoints/last.ckpt"

# -- the model: the paper's method and its parts ---------------------------------------------------------------
MODEL = {  # model.method: mfr.methods.method_name
    "embedding_size": number(1, integer=True),
    "dropout": number(0, below=1),
    "masked_twins": BOOLEAN,
    "margin_warmup": PROBABILITY,
    "flip_test": BOOLEAN,
    "channels_last": BOOLEAN,
    "compile": BOOLEAN,
}
BACKBONE = {
    "channels": number(1, integer=True),
    "output_stride": one_of(None, 8, 16, 32),
    "pretrained": Rule(
        lambda value: value is False,
        "false (mfr never downloads weights: save them to a file and set "
        "model.backbone.checkpoint=/path/to/weights.pth)",
    ),
    "drop_path_rate": number(0, below=1),
}
REFINE = {
    "enabled": BOOLEAN,
    "qk_channels": number(1, integer=True),
    "logits": one_of(*ATTENTION_LOGITS),
    "temperature": number(above=0),
    "position": BOOLEAN,
    "sink": BOOLEAN,
}
DA = {
    "enabled": BOOLEAN,
    "schedule": one_of(*GRL_SCHEDULES),
    "lambda_max": WEIGHT,
    "gamma": number(above=0),
    "real_weight": WEIGHT,
    "hidden": number(0, integer=True),
    "normalize": BOOLEAN,
}
LOSS = {"attention": WEIGHT, "attention_target": one_of(*ATTENTION_TARGETS), "mask": WEIGHT}
FOCUSFACE = {"mask_embedding_size": number(1, integer=True), "mask_weight": WEIGHT, "contrastive_weight": WEIGHT}
SRT = {
    "loss": one_of(*SRT_LOSSES),
    "margin": number(above=0),
    "layers": number(1, integer=True),
    "negative_slope": number(0),
    "weight_decay": number(0),
}
# a head's keys are its class's arguments (mfr.models.heads); these are their ranges; below its own limit, the margin
HEAD = {
    "scale": number(above=0),
    "margin": number(0),
    "sub_centers": number(1, integer=True),
    "h": number(0),
    "momentum": number(above=0, maximum=1),
    "eps": number(above=0),
}
OPTIMIZER = {
    "name": one_of(*OPTIMIZERS),
    "lr": number(above=0),
    "momentum": number(0, below=1),
    "weight_decay": number(0),
    "fused": one_of(None, True, False),
}
SCHEDULER = {
    "name": one_of(*SCHEDULES),
    "warmup_steps": number(0, integer=True),
    "min_factor": PROBABILITY,
}


def check_optim(optim: Mapping) -> None:
    check_section(optim.get("optimizer"), "optim.optimizer", OPTIMIZER)
    check_section(optim.get("scheduler"), "optim.scheduler", SCHEDULER)


def check_model_parts(model: Mapping) -> None:
    """The paper's model: its sections' values, then the combinations that cannot train."""
    check_section(model, "model", MODEL)
    check_section(model.get("backbone"), "model.backbone", BACKBONE)
    backbone = model.get("backbone") or {}
    check_file("model.backbone.checkpoint", backbone.get("checkpoint"), "a weights file of the backbone's trunk")
    check_section(model.get("refine"), "model.refine", REFINE)
    check_section(model.get("da"), "model.da", DA)
    check_section(model.get("loss"), "model.loss", LOSS)
    twins = model.get("masked_twins", True)
    if model["da"]["enabled"] and not twins:
        raise ConfigError(
            "model.da.enabled=true needs model.masked_twins=true (the synthetic pairs are its source domain)"
        )
    if model["refine"]["enabled"] and model["loss"]["attention"] > 0 and not twins:
        raise ConfigError("model.loss.attention>0 needs model.masked_twins=true (it compares each face with its twin)")


def check_head_class(head: Mapping) -> None:
    """The head's name, that every key is an argument of its class, and the margin below the head's limit
    (mfr.models.heads: at the limit a face on its class centre scores no higher than an unrelated class)."""
    from mfr.models.heads import head_class  # imports torch and timm: after every check that does not need them

    cls = head_class(head["name"])
    arguments = [p for p in inspect.signature(cls).parameters if p not in ("embedding_size", "num_classes")]
    for key in head:
        if key != "name" and key not in arguments:
            raise ConfigError(f"head.{key} is not a setting of head {head['name']}; allowed: {', '.join(arguments)}")
    limit = cls.margin_limit
    if "margin" in head and limit is not None and not 0 <= head["margin"] < limit:
        raise ConfigError(
            f"head.margin={show(head['margin'])}; allowed: a number >= 0 and < {limit:.4g} for "
            f"{head['name']} (there a face on its class centre scores no higher than an unrelated class)"
        )


def check_backbone_name(model: Mapping) -> None:
    from mfr.models.backbone import check_backbone_name as check  # timm's registry

    check(model["backbone"]["name"])


def check_mfr(model: Mapping, head: Mapping, optim: Mapping) -> None:
    """The paper's model and its ablations (method mfr)."""
    check_model_parts(model)
    check_optim(optim)
    check_section(head, "head", HEAD)
    check_head_class(head)
    check_backbone_name(model)


def check_focusface(model: Mapping, head: Mapping, optim: Mapping) -> None:
    """FocusFace: the shared settings as for any mfr model, then what it has and has not."""
    check_model_parts(model)
    if model["refine"]["enabled"]:
        raise ConfigError("model.refine.enabled=true: FocusFace has no refinement layer (experiment=refine has it)")
    if model["da"]["enabled"]:
        raise ConfigError("model.da.enabled=true: FocusFace has no domain discriminator (experiment=dann has it)")
    if not model["masked_twins"]:
        raise ConfigError("model.masked_twins=false: FocusFace trains on each face with its masked twin; set it true")
    if not isinstance(model.get("focusface"), Mapping):
        raise ConfigError(
            "model.focusface is missing: method focusface needs its settings (configs/experiment/focusface.yaml)"
        )
    check_section(model["focusface"], "model.focusface", FOCUSFACE)
    check_optim(optim)
    check_section(head, "head", HEAD)
    check_head_class(head)
    check_backbone_name(model)


def check_srt_settings(srt: Mapping | None) -> None:
    """The `model.srt` block (loss, margin, EUM depth, weight decay), which an SRT checkpoint carries too."""
    if not isinstance(srt, Mapping):
        raise ConfigError("model.srt is missing: method srt needs its settings (configs/experiment/srt.yaml)")
    check_section(srt, "model.srt", SRT)


def check_srt(model: Mapping, head: Mapping, optim: Mapping) -> None:
    """SRT's settings; the face model's too when this job trains it first (no model.teacher_ckpt)."""
    check_srt_settings(model.get("srt"))
    check_file("model.teacher_ckpt", model.get("teacher_ckpt"), CHECKPOINT)
    check_optim(optim)
    if not model.get("teacher_ckpt"):
        check_mfr(model, head, optim)


METHOD_CHECKS = {"mfr": check_mfr, "focusface": check_focusface, "srt": check_srt}


def check_module_settings(model: Mapping, head: Mapping, optim: Mapping) -> None:
    """The settings a LightningModule is built from, checked by its method's rules."""
    METHOD_CHECKS[method_name(model)](model, head, optim)


# -- data, trainer, whole configs ------------------------------------------------------------------------------
DATA = {
    "image_size": number(1, integer=True),
    "batch_size": number(1, integer=True),
    "target_batch_size": number(1, integer=True, null=True),
    "val_batch_size": number(1, integer=True),
    "num_workers": number(0, integer=True, auto=True),
    "generate_workers": number(1, integer=True, auto=True),
    "pin_memory": BOOLEAN,
    "use_target": BOOLEAN,
    "max_per_identity": number(1, integer=True, null=True),
    **{
        key: number(1, integer=True)
        for key in (
            "identities",
            "images_per_identity",
            "target_identities",
            "target_images_per_identity",
            "val_identities",
            "val_pairs",
        )
    },
    "val_images_per_identity": number(2, integer=True),  # a genuine pair needs two
}
AUGMENT = {key: PROBABILITY for key in ("flip", "color", "blur", "low_res", "crop")}
TRAINER = {
    "max_epochs": Rule(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and (v >= 1 or v == -1),
        "an integer >= 1, or -1 (no limit) with trainer.max_steps > 0",
    ),
    "max_steps": Rule(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and (v >= 1 or v == -1),
        "an integer >= 1, or -1 (trainer.max_epochs decides)",
    ),
    "check_val_every_n_epoch": number(1, integer=True, null=True),
    "val_check_interval": number(above=0, null=True),
    "log_every_n_steps": number(1, integer=True),
    "accumulate_grad_batches": number(1, integer=True),
    "gradient_clip_val": number(0, null=True),
    "num_sanity_val_steps": number(-1, integer=True),
}
EMBEDDING = {
    "flip": BOOLEAN,
    "batch_size": number(1, integer=True),
    "num_workers": number(0, integer=True, auto=True),
}


def check_data(data: Mapping | None) -> None:
    check_section(data, "data", DATA)
    if data is not None:
        check_section(data.get("augment"), "data.augment", AUGMENT)


def check_trainer(trainer: Mapping) -> None:
    check_section(trainer, "trainer", TRAINER)
    if trainer.get("max_epochs") == -1 and trainer.get("max_steps", -1) == -1:
        raise ConfigError(
            "trainer.max_epochs=-1 with trainer.max_steps=-1 would train forever; "
            "allowed: an integer >= 1 for either"
        )


def check_train_config(cfg: Mapping) -> None:
    """A composed training config (configs/train.yaml): everything a run reads, before it reads any data."""
    check_section(cfg, "", {"seed": number(integer=True)})
    check_file("ckpt_path", cfg.get("ckpt_path"), CHECKPOINT + " to resume")
    check_data(cfg.get("data"))
    check_trainer(cfg["trainer"])
    check_module_settings(cfg["model"], cfg["head"], cfg["optim"])


def check_eval_config(cfg: Mapping) -> None:
    """A composed evaluation config (configs/eval.yaml)."""
    check_file("ckpt_path", cfg.get("ckpt_path"), CHECKPOINT)
    check_section(cfg.get("embedding"), "embedding", EMBEDDING)
    check_data(cfg.get("data"))
