"""SRT (Boutros, Damer, Kirchbuchner, Kuijper, "Self-restrained triplet loss for accurate masked face recognition",
Pattern Recognition 124, 2022, 108473; arXiv:2103.01716): an embedding-unmasking model (EUM) on top of a frozen face
model, trained with the self-restrained triplet loss (SRT).

The face model (the "teacher": any mfr checkpoint) stays frozen. For a face x, its masked twin x^m and a face x^n of
another identity, with T the teacher's L2-normalised embedding and u(.) = ./||.||:

    a = u(EUM(T(x^m)))   anchor: the unmasked version of the masked embedding
    p = u(T(x))          positive: the same face unmasked
    n = u(T(x^n))        negative: another identity, unmasked
    d(v, w) = ||v - w||^2

    triplet:  L = mean_i max(d(a_i, p_i) - d(a_i, n_i) + m, 0)
    SRT:      L = mean_i max(d(a_i, p_i) - mean_j d(p_j, n_j) + m, 0)   if mean_i d(a_i, n_i) >= mean_i d(p_i, n_i)
              L = the triplet loss                                       otherwise

Once the anchors are, on average, as far from the negatives as the frozen model puts the positives from them, pushing
them further is pointless: SRT then only pulls anchors onto their positives, against the fixed margin mean d(p, n).
These are the definitions of the paper's Section 3 as the authors' released code computes them
(fdbtrs/Self-restrained-Triplet-Loss, util/losses.py: squared distances of L2-normalised embeddings, batch means,
m = 2 for SRT and 1 for the plain triplet); the EUM is that code's model (four Linear+BN layers with LeakyReLU(0.2)
between them), positives are the same image unmasked, negatives a random image of another identity.

Evaluation follows the method's protocol: unmasked faces keep the teacher's embedding; masked faces (a set's per-image
`masked` flag, and MR-MP's references masked on the fly) are embedded as u(EUM(T(x))).
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, open_dict
from torch import nn

from mfr.config import check_srt_settings
from mfr.errors import ConfigError
from mfr.methods import method_name, module_class
from mfr.train.optim import build_optimizer, build_scheduler

STAGE_ONE_KEYS = ("teacher_ckpt", "srt")  # SRT's own settings, which the face model it trains first does not take


# -- the loss -------------------------------------------------------------------------------------------------
def triplet_distances(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor):
    """(d(a,p), d(a,n), d(p,n)) per row: squared Euclidean distances of the L2-normalised embeddings, in [0, 4]."""
    a, p, n = (F.normalize(t.float(), dim=1) for t in (anchor, positive, negative))
    return (a - p).pow(2).sum(1), (a - n).pow(2).sum(1), (p - n).pow(2).sum(1)


def triplet_loss(d_ap: torch.Tensor, d_an: torch.Tensor, margin: float) -> torch.Tensor:
    """mean_i max(d(a_i,p_i) - d(a_i,n_i) + m, 0)."""
    return F.relu(d_ap - d_an + margin).mean()


def self_restrained_triplet_loss(
    d_ap: torch.Tensor, d_an: torch.Tensor, d_pn: torch.Tensor, margin: float
) -> torch.Tensor:
    """SRT (module docstring): the triplet loss until the anchors are as far from the negatives, on average, as the
    positives are; from then on the negative distance is restrained to the fixed mean d(p,n)."""
    if d_an.mean() >= d_pn.mean():
        return F.relu(d_ap - d_pn.mean() + margin).mean()
    return triplet_loss(d_ap, d_an, margin)


def other_identity(identities: torch.Tensor) -> torch.Tensor:
    """For each sample, the index of a random sample of another identity in the batch; -1 where there is none."""
    other = identities[None, :] != identities[:, None]
    has_other = other.any(1)
    weights = torch.where(has_other[:, None], other, torch.ones_like(other)).float()
    return torch.where(has_other, torch.multinomial(weights, 1).squeeze(1), -1)


# -- the model -------------------------------------------------------------------------------------------------
class EmbeddingUnmasking(nn.Module):
    """EUM: an embedding of a masked face -> one like the same face's unmasked embedding. `layers` x (Linear(E, E),
    BatchNorm1d), LeakyReLU between them (the authors' released model: 4 layers, slope 0.2)."""

    def __init__(self, embedding_size: int, layers: int = 4, negative_slope: float = 0.2):
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(embedding_size, embedding_size), nn.BatchNorm1d(embedding_size)]
            if i < layers - 1:
                blocks.append(nn.LeakyReLU(negative_slope))
        self.layers = nn.Sequential(*blocks)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)


def load_teacher(path: str):
    """The frozen face model of an mfr checkpoint; an SRT checkpoint is refused (its EUM expects a face model)."""
    from mfr.eval.checkpoint import CheckpointError, load_checkpoint  # here: that module imports mfr.methods

    try:
        teacher = load_checkpoint(path)
    except CheckpointError as exc:
        raise ConfigError(f"model.teacher_ckpt: {exc}") from None
    if method_name(teacher.hparams.model) == "srt":
        raise ConfigError(
            f"model.teacher_ckpt={path}: an SRT checkpoint; the teacher must be a face model (mfr or focusface)"
        )
    return teacher


class SRTModule(pl.LightningModule):
    """The EUM trained on a frozen teacher. Only the EUM has parameters to train; the teacher's weights and its
    hyper-parameters (`teacher`) are saved with it, so an SRT checkpoint evaluates without the teacher's file."""

    masked_aware = True  # mfr.eval hands `embed` each image's mask flag

    def __init__(
        self, num_classes: int, model: dict, head: dict, optim: dict, image_size: int = 112, teacher: dict | None = None
    ):
        super().__init__()
        srt = model["srt"]
        check_srt_settings(srt)
        if teacher is None:
            if not model.get("teacher_ckpt"):
                raise ConfigError(
                    "model.teacher_ckpt is not set: SRT trains on a frozen face model; give "
                    "model.teacher_ckpt=PATH (an mfr checkpoint), or run python -m mfr.fit experiment=srt, "
                    "which trains it first"
                )
            self.teacher = load_teacher(model["teacher_ckpt"])
            teacher = dict(self.teacher.hparams)  # plain containers, saved below
        else:  # rebuilt from an SRT checkpoint: the architecture from its saved hyper-parameters, the weights from its state
            self.teacher = module_class(teacher["model"])(**teacher)
        trained_size = int(teacher.get("image_size", 112))
        if trained_size != image_size:
            raise ConfigError(f"data.image_size={image_size}, but the teacher was trained on {trained_size}px faces")
        self.save_hyperparameters()
        self.hparams.teacher = teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.eum = EmbeddingUnmasking(teacher["model"]["embedding_size"], srt["layers"], srt["negative_slope"])
        self.loss_name, self.margin = srt["loss"], srt["margin"]

    # -- the teacher, as mfr's tools see the model ---------------------------------------------------------------
    def train(self, mode: bool = True):
        """Train mode reaches the EUM only: the teacher's BatchNorm and dropout stay as they were trained."""
        super().train(mode)
        self.teacher.eval()
        return self

    @property
    def embedder(self) -> nn.Module:
        """The teacher's embedder (what `model.compile` compiles and the attention-map callback draws)."""
        return self.teacher.embedder

    @property
    def flip_test(self) -> bool:
        return self.teacher.flip_test

    @flip_test.setter
    def flip_test(self, value: bool) -> None:
        self.teacher.flip_test = value

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return self.teacher.normalise(images)

    # -- embedding --------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, images: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
        """The teacher's embedding (flip TTA per `flip_test`); rows flagged `masked` go through the EUM."""
        emb = self.teacher.embed(images)
        if masked is not None and bool(masked.any()):
            emb = emb.clone()
            emb[masked] = F.normalize(self.eum(emb[masked]).float(), dim=1)
        return emb

    @torch.no_grad()
    def teacher_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """u(T(x)) of uint8 images, no test-time flip: what the EUM trains on (the authors extracted it so)."""
        return F.normalize(self.teacher.embedder(self.normalise(images))[0].float(), dim=1)

    # -- training -----------------------------------------------------------------------------------------------------
    def losses(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and its diagnostics from one batch of faces with their masked twins (negatives drawn in the batch;
        a sample whose batch holds no other identity has none and sits this step out)."""
        source = batch["source"]
        n = source["identity"].shape[0]
        emb = self.teacher_embedding(torch.cat([source["image"], source["masked"]]))
        unmasked, masked = emb[:n], emb[n:]
        negative = other_identity(source["identity"])
        used = negative >= 0
        d_ap, d_an, d_pn = triplet_distances(self.eum(masked)[used], unmasked[used], unmasked[negative[used]])
        if self.loss_name == "srt":
            loss = self_restrained_triplet_loss(d_ap, d_an, d_pn, self.margin)
        else:
            loss = triplet_loss(d_ap, d_an, self.margin)
        terms = {
            "d_ap": d_ap.mean().detach(),
            "d_an": d_an.mean().detach(),
            "d_pn": d_pn.mean().detach(),
            "triplets": used.float().sum(),
        }
        return loss, terms

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, terms = self.losses(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in terms.items()}, on_step=True, on_epoch=False)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        return {"index": batch["index"], "embedding": self.embed(batch["image"], batch.get("masked"))}

    def configure_optimizers(self):
        """`optim` for the EUM alone, with its own weight decay (model.srt.weight_decay; the authors': 0)."""
        settings = {**self.hparams.optim["optimizer"], "weight_decay": self.hparams.model["srt"]["weight_decay"]}
        optimizer = build_optimizer(self.eum.parameters(), **settings)
        scheduler = build_scheduler(
            optimizer, int(self.trainer.estimated_stepping_batches), **self.hparams.optim["scheduler"]
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


# -- two stages in one job --------------------------------------------------------------------------------------------
def teacher_stage(cfg: DictConfig) -> DictConfig | None:
    """For experiment=srt without model.teacher_ckpt: the config of stage 1, the face model the EUM then trains on.

    It is the same run with method mfr (SRT's keys removed) writing into <output_dir>/teacher, so with the same
    seed it trains what the matching mfr experiment trains (retrained ArcFace by default). None when the job
    needs no stage 1 (another method, or a teacher checkpoint given)."""
    if method_name(cfg.model) != "srt" or cfg.model.get("teacher_ckpt"):
        return None
    if cfg.get("ckpt_path"):
        raise ConfigError(
            "ckpt_path with experiment=srt: also give model.teacher_ckpt=<run>/teacher/teacher.ckpt, the face "
            "model the resumed EUM was trained on (else stage 1 would train another one)"
        )
    stage = cfg.copy()
    with open_dict(stage):
        stage.model.method = "mfr"
        for key in STAGE_ONE_KEYS:
            stage.model.pop(key, None)
        stage.paths.output_dir = str(Path(cfg.paths.output_dir) / "teacher")
        stage.tags = [*(cfg.get("tags") or []), "srt_teacher"]
    return stage
