"""Which LightningModule a run trains: `model.method` names it, so training and checkpoint loading agree.

    mfr        MaskedFaceModule (mfr/module.py): the paper's model and its ablations (the default)
    focusface  FocusFaceModule (mfr/comparators/focusface.py): Neto et al., FG 2021
    srt        SRTModule (mfr/comparators/srt.py): Boutros et al., Pattern Recognition 2022

Every class takes the same arguments (num_classes, model, head, optim, image_size, plus its own saved
hyper-parameters); the rules of its settings are in mfr.config (METHOD_CHECKS), checked before any data is
loaded. Classes are imported on first use, so a method's module may itself load checkpoints.
"""

from __future__ import annotations

import importlib

from mfr.errors import ConfigError

METHODS = {
    "mfr": "mfr.module:MaskedFaceModule",
    "focusface": "mfr.comparators.focusface:FocusFaceModule",
    "srt": "mfr.comparators.srt:SRTModule",
}


def method_name(model: dict) -> str:
    """`model.method`, checked; a config (or an old checkpoint) without the key is the paper's model."""
    name = model.get("method") or "mfr"
    if name not in METHODS:
        raise ConfigError(f"model.method={name!r} is not a method; allowed: {', '.join(METHODS)}")
    return name


def _module_of(model: dict):
    return importlib.import_module(METHODS[method_name(model)].split(":")[0])


def module_class(model: dict) -> type:
    """The LightningModule class `model.method` names."""
    return getattr(_module_of(model), METHODS[method_name(model)].split(":")[1])
