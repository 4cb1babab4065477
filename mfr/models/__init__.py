"""Model parts: backbone (+ IResNet for timm), refinement/output layer, margin heads, GRL discriminator."""

from mfr.models import iresnet  # noqa: F401  (registers iresnet18/34/50/100 with timm)
from mfr.models.discriminator import MaskDiscriminator
from mfr.models.embedder import FaceEmbedder
from mfr.models.heads import HEADS, build_head
from mfr.models.losses import attention_score_loss

__all__ = ["FaceEmbedder", "MaskDiscriminator", "HEADS", "build_head", "attention_score_loss"]
