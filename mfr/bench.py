"""`python -m mfr.bench`: what each part of the full model costs over its bare backbone, measured in one process.

Times, after warm-up and with the device synchronised, the training step of
  the backbone as published (e.g. ResNet-50 at its own output stride, 32),
  + dilation: the backbone as the model configures it (output stride 16: a dilated last stage),
  + neck: the 1x1 conv and BatchNorm to the refinement layer's channels,
each under global average pooling and a linear classifier (the cheapest identity loss: a ceiling), and
  full: the dann_refine step (backbone + neck + refinement + margin head + GRL discriminator),
all on the same number of backbone images per step (unmasked + masked twin + target all count). Each
row adds one part to the row above, so the time it adds is that part's own cost; a row that would
repeat the one above is left out (a backbone built at the configured stride, or one that already has
the embedding's channels). full/bare compares the full step with the backbone as configured. Prints
images/s, ms per step, the ms each row adds, peak GPU memory and a short profile of the full step,
and writes the figures as JSON. Inputs are uint8 batches already on the device, so the model alone
is measured; data loading is measured by mfr.data.bench, the evaluation engine by mfr.eval.bench.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

import mfr.models  # noqa: F401  (iresnet in timm's registry)
from mask_synth.dataset import write_atomic
from mfr.cli import ArgumentParser, one_line_errors
from mfr.config import number
from mfr.models.backbone import Backbone, check_backbone_name
from mfr.models.heads import head_class
from mfr.module import MaskedFaceModule
from mfr.train.optim import build_optimizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def model_config(args):
    """The project's model config, with the timed backbone."""
    model = OmegaConf.load(CONFIGS / "model" / "default.yaml")
    model.backbone.name = args.backbone
    model.compile = False
    return model


def full_module(args, device) -> MaskedFaceModule:
    """The dann_refine module built from the project's own model and head configs."""
    model = model_config(args)
    head = OmegaConf.load(CONFIGS / "head" / f"{args.head}.yaml")
    optim = OmegaConf.load(CONFIGS / "train.yaml").optim
    module = MaskedFaceModule(
        args.classes, *(OmegaConf.to_container(c) for c in (model, head, optim)), image_size=args.image_size
    )
    return module.to(device)


class PooledClassifier(nn.Module):
    """A backbone's feature map, averaged over space, into a linear classifier: the cheapest identity loss on it."""

    def __init__(self, backbone: Backbone, channels: int, classes: int):
        super().__init__()
        self.backbone, self.classifier = backbone, nn.Linear(channels, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(images).mean(dim=(2, 3)))


def bare_network(args, backbone_cfg: dict, output_stride: int | None, neck: bool) -> PooledClassifier:
    backbone = Backbone(**{**backbone_cfg, "output_stride": output_stride})
    channels = backbone.channels
    if not neck:
        backbone.neck, channels = nn.Identity(), backbone.trunk.num_features
    return PooledClassifier(backbone, channels, args.classes)


def bare_rows(args, backbone_cfg: dict) -> list[tuple[str, str, int | None, bool]]:
    """(key, label, output stride, neck) of each bare step, each adding one part of the configured backbone."""
    name, stride = backbone_cfg["name"], backbone_cfg["output_stride"]
    own, configured = (Backbone(**{**backbone_cfg, "output_stride": s}) for s in (None, stride))
    own_map, configured_map = (b.map_size(args.image_size) for b in (own, configured))
    rows = []
    if own_map != configured_map:
        rows.append(("backbone", f"{name} at its own stride ({own_map[0]}x{own_map[1]} map)", None, False))
    prefix = "+ dilation:" if rows else f"{name} at"
    rows.append(
        ("bare", f"{prefix} output stride {stride} ({configured_map[0]}x{configured_map[1]} map)", stride, False)
    )
    if not isinstance(configured.neck, nn.Identity):
        rows.append(("bare_neck", f"+ neck: 1x1 conv to {configured.channels} channels", stride, True))
    return rows


def synthetic_batch(args, device, source: int, target: int) -> dict:
    def images(n):
        return torch.randint(0, 256, (n, 3, args.image_size, args.image_size), dtype=torch.uint8, device=device)

    return {
        "source": {
            "image": images(source),
            "masked": images(source),
            "identity": torch.randint(0, args.classes, (source,), device=device),
        },
        "target": {"image": images(target), "mask": torch.randint(0, 2, (target,), device=device)},
    }


def timed(step, args, device) -> dict:
    """Seconds per step over args.steps after args.warmup, and the peak memory of the phase."""
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {"seconds_per_step": seconds, "peak_memory_gib": peak}


def bare_step(net: nn.Module, args, device, dtype):
    net = net.to(device).to(memory_format=torch.channels_last)
    if args.compile:
        net.compile()
    opt = build_optimizer(net.parameters(), "sgd", lr=0.1)
    x = torch.randint(0, 256, (args.batch, 3, args.image_size, args.image_size), dtype=torch.uint8, device=device)
    y = torch.randint(0, args.classes, (args.batch,), device=device)

    def step():
        images = x.float().sub_(127.5).div_(127.5).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = F.cross_entropy(net(images).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def time_bare_steps(args, device, dtype) -> dict[str, dict]:
    """Each bare row's figures; its network lives only while it is timed, so the peaks are its own."""
    backbone_cfg = OmegaConf.to_container(model_config(args).backbone)
    steps = {}
    for key, label, stride, neck in bare_rows(args, backbone_cfg):
        step = bare_step(bare_network(args, backbone_cfg, stride, neck), args, device, dtype)
        steps[key] = {"label": label, **timed(step, args, device)}
    return steps


def full_step(args, device, dtype):
    module = full_module(args, device)
    module.discriminator.grl.coeff = 100.0
    if args.compile:
        module.embedder.compile()
    opt = build_optimizer(module.parameters(), "sgd", lr=0.1)
    source = round(args.batch / (2 + args.target_share))
    batch = synthetic_batch(args, device, source, args.batch - 2 * source)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss, _ = module.losses(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def profile_table(step, device, rows: int = 12) -> str:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(3):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def check_args(args) -> None:
    """The options, before any model is built: names in their registries, sizes and counts in range."""
    check_backbone_name(args.backbone, key="--backbone")
    head_class(args.head, key="--head")
    # --batch: the full step splits it into faces, their twins and target images, at least one of each
    for key, rule in (
        ("--image-size", number(1, integer=True)),
        ("--batch", number(3, integer=True)),
        ("--target-share", number(0)),
        ("--classes", number(1, integer=True)),
        ("--steps", number(1, integer=True)),
        ("--warmup", number(0, integer=True)),
    ):
        rule.check(key, getattr(args, key[2:].replace("-", "_")))


@one_line_errors()
def main(argv: list[str] | None = None) -> dict:
    p = ArgumentParser(
        prog="python -m mfr.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--head", default="arcface")
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--batch", type=int, default=512, help="backbone images per step, in every step")
    p.add_argument("--target-share", type=float, default=0.5, help="target images per source image in the full step")
    p.add_argument("--classes", type=int, default=10572, help="identities (CASIA-WebFace has 10,572)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=["bf16", "fp32"], default=None, help="default: bf16 on a GPU, fp32 on a CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile every model")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--out", default="bench.json")
    args = p.parse_args(argv)
    check_args(args)

    device = torch.device(args.device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"

    steps = time_bare_steps(args, device, dtype)
    full_fn = full_step(args, device, dtype)
    steps["full"] = {"label": "+ refinement, margin head, GRL: full dann_refine", **timed(full_fn, args, device)}
    rows = list(steps.values())
    for before, r in zip([None, *rows], rows):  # what each row adds to the one above: its part's own cost
        r["images_per_s"] = args.batch / r["seconds_per_step"]
        r["added_seconds_per_step"] = None if before is None else r["seconds_per_step"] - before["seconds_per_step"]
    bare, full = steps["bare"], steps["full"]
    result = {
        "device": name,
        "backbone": args.backbone,
        "image_size": args.image_size,
        "batch": args.batch,
        "precision": precision,
        "compile": args.compile,
        "steps": steps,
        "full_over_bare_speed": full["images_per_s"] / bare["images_per_s"],
        "full_over_bare_memory": full["peak_memory_gib"] / bare["peak_memory_gib"] if device.type == "cuda" else None,
    }
    print(
        f"mfr.bench on {name}: {args.backbone} {args.image_size}x{args.image_size}, batch {args.batch}, {precision}"
        f"{', compiled' if args.compile else ''}"
    )
    print(f"{'step':<52}{'images/s':>10}{'ms/step':>10}{'+ms/step':>10}{'peak GiB':>10}")
    for r in steps.values():
        added = "" if r["added_seconds_per_step"] is None else f"{r['added_seconds_per_step'] * 1e3:+.1f}"
        print(
            f"{r['label']:<52}{r['images_per_s']:>10.0f}{r['seconds_per_step'] * 1e3:>10.1f}{added:>10}"
            f"{r['peak_memory_gib']:>10.2f}"
        )
    print(
        f"full / bare (the backbone as configured) speed: {result['full_over_bare_speed']:.3f}"
        + (f", memory: {result['full_over_bare_memory']:.2f}x" if result["full_over_bare_memory"] else "")
    )
    if not args.no_profile:
        result["profile"] = profile_table(full_fn, device)
        print("where the full step's time goes:\n" + result["profile"])
    write_atomic(args.out, json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
