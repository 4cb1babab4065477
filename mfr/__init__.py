"""mfr: masked face recognition with feature refinement and domain adaptation."""

__version__ = "0.1.0"
