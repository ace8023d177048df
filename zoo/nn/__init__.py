"""Shared network building blocks for modality backbones."""
from .embeddings import NoiseLabelEmbedding, sinusoidal

__all__ = ["NoiseLabelEmbedding", "sinusoidal"]
