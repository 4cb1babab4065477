"""The LightningModule: embedder + identity head + mask discriminator, and the three losses (mfr/models/losses.py).

    L = L_id + w_a * L_a + w_m * L_m,   L_m = L_m^s + real_weight * L_m^r

L_id is the margin head's cross-entropy on the unmasked faces (and on their masked twins when
`model.masked_twins`); L_a the attention-score loss pulling each twin's attention towards its unmasked
original's (refinement on); L_m the discriminator's cross-entropy behind the gradient reversal layer
(DA on): L_m^s over the B synthetic pairs (unmasked 0, twin 1; the two terms of a pair summed, the
pairs averaged, so a synthetic image weighs 1/B like a real one weighs real_weight/B_t) and L_m^r over
the B_t real target images (their mask labels). Target images pass through the backbone in every
ablation cell, so switching DA off changes the loss and nothing else. Everything a resumed run needs
is state: the GRL's lambda is a function of the global step, AdaFace's norm statistics are buffers."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from mfr.config import check_module_settings
from mfr.models import FaceEmbedder, MaskDiscriminator, build_head
from mfr.models.attention_stats import attention_stats, mask_cells, mask_shares
from mfr.models.grl import grl_lambda
from mfr.models.losses import attention_score_loss, identity_loss, real_mask_loss, synthetic_mask_loss
from mfr.train.optim import build_optimizer, build_scheduler


def attention_options(refine: dict) -> dict | None:
    """The refinement layer's self-attention options from `model.refine`, None when it is off."""
    return {k: v for k, v in refine.items() if k != "enabled"} if refine["enabled"] else None


class MaskedFaceModule(pl.LightningModule):
    def __init__(self, num_classes: int, model: dict, head: dict, optim: dict, image_size: int = 112):
        super().__init__()
        check_module_settings(model, head, optim)  # by model.method's rules: a subclass's (FocusFace) too
        self.save_hyperparameters()
        self.embedder = FaceEmbedder(
            backbone=model["backbone"],
            image_size=image_size,
            embedding_size=model["embedding_size"],
            dropout=model["dropout"],
            refine=attention_options(model["refine"]),
        )
        head = dict(head)
        self.head = build_head(head.pop("name"), model["embedding_size"], num_classes, **head)
        da = model["da"]
        self.discriminator = (
            MaskDiscriminator(model["embedding_size"], da["hidden"], da["normalize"]) if da["enabled"] else None
        )
        self.masked_twins = model["masked_twins"]
        self.loss_weights = model["loss"]
        self.da_cfg = da
        self.flip_test = model.get("flip_test", True)
        self.margin_warmup = model.get("margin_warmup", 0.0)
        self.channels_last = model.get("channels_last", True)
        if self.channels_last:
            self.embedder.to(memory_format=torch.channels_last)

    # -- embedding ------------------------------------------------------------------------------
    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B,3,H,W) -> float in [-1, 1], channels-last when configured."""
        x = images.float().sub_(127.5).div_(127.5)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of uint8 images; with flip_test, of the image plus its mirror."""
        x = self.normalise(images)
        emb = self.embedder(x)[0].float()
        if self.flip_test:
            emb = emb + self.embedder(torch.flip(x, dims=[3]))[0].float()
        return F.normalize(emb, dim=1)

    # -- training -------------------------------------------------------------------------------
    def progress(self) -> float:
        """Training progress p in [0, 1], from the step count, so a resumed run continues its schedules."""
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1
        return min(1.0, self.global_step / total)

    def grl_coefficient(self) -> float:
        return grl_lambda(self.da_cfg["schedule"], self.progress(), self.da_cfg["lambda_max"], self.da_cfg["gamma"])

    def margin_factor(self) -> float:
        """1 after the warm-up; before it, the share of the head's margin applied grows linearly from 0."""
        warmup = self.margin_warmup
        return 1.0 if warmup <= 0 else min(1.0, self.progress() / warmup)

    def losses(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss and each term, from one {"source", "target"} batch; no logging, no trainer.

        Target images go through the backbone whenever the batch has them, with or without DA, so
        every ablation cell sees the same BatchNorm statistics and the cells differ only in the losses.
        Besides the loss terms, `terms` holds figures to log (accuracy, attention statistics).
        """
        source, target = batch["source"], batch.get("target")
        parts = [source["image"]]
        if self.masked_twins:
            parts.append(source["masked"])
        if target is not None:
            parts.append(target["image"])
        emb, attention = self.embedder(self.normalise(torch.cat(parts)))
        ids = source["identity"]
        n = ids.shape[0]

        terms = {}
        id_emb = emb[: 2 * n] if self.masked_twins else emb[:n]
        id_labels = ids.repeat(2) if self.masked_twins else ids
        logits = self.head(id_emb, id_labels)
        terms["id"] = identity_loss(logits, id_labels)
        terms["acc_id"] = (logits.argmax(1) == id_labels).float().mean().detach()
        loss = terms["id"]

        if attention is not None:
            terms.update(self.attention_figures(source, attention[: 2 * n] if self.masked_twins else attention[:n], n))
            weights = self.loss_weights
            if self.masked_twins and weights["attention"] > 0:
                terms["attention"] = attention_score_loss(
                    attention[:n], attention[n : 2 * n], weights["attention_target"]
                )
                loss = loss + weights["attention"] * terms["attention"]

        if self.discriminator is not None:
            terms["mask_synthetic"] = synthetic_mask_loss(self.discriminator(emb[: 2 * n]))
            terms["mask"] = terms["mask_synthetic"]
            if target is not None:
                terms["mask_real"] = real_mask_loss(self.discriminator(emb[2 * n :]), target["mask"])
                terms["mask"] = terms["mask"] + self.da_cfg["real_weight"] * terms["mask_real"]
            loss = loss + self.loss_weights["mask"] * terms["mask"]
        return loss, terms

    @torch.no_grad()
    def attention_figures(self, source: dict, attention: torch.Tensor, n: int) -> dict[str, torch.Tensor]:
        """The attention's health (entropy, input dependence, gamma, mask shares) as `attention/*` figures."""
        figures = {f"attention/{k}": v for k, v in attention_stats(attention).items()}
        figures["attention/gamma"] = self.embedder.output.attention.gamma.detach().float().squeeze()
        if self.masked_twins:
            cells = mask_cells(source["image"], source["masked"], self.embedder.spatial)
            figures.update({f"attention/{k}": v for k, v in mask_shares(attention[:n], attention[n:], cells).items()})
        return figures

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.discriminator is not None:
            self.discriminator.grl.coeff = self.grl_coefficient()
            self.log("train/grl_lambda", self.discriminator.grl.coeff, on_step=True, on_epoch=False)
        self.head.margin_factor = self.margin_factor()
        if self.margin_warmup > 0:
            self.log("train/margin_factor", self.head.margin_factor, on_step=True, on_epoch=False)
        loss, terms = self.losses(batch)
        for name, value in terms.items():
            key = f"train/{name}" if name.startswith(("acc", "attention/")) else f"train/loss_{name}"
            self.log(key, value, on_step=True, on_epoch=False, prog_bar=name == "id")
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    # -- validation: embeddings only; mfr.eval.callback turns them into metrics ----------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        return {"index": batch["index"], "embedding": self.embed(batch["image"])}

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), **self.hparams.optim["optimizer"])
        scheduler = build_scheduler(
            optimizer, int(self.trainer.estimated_stepping_batches), **self.hparams.optim["scheduler"]
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
