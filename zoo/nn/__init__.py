"""Shared network building blocks for modality backbones."""
from .embeddings import NoiseLabelEmbedding, sinusoidal, time_and_class
from .transformer import AdaLNZeroBlock, attention, modulate

__all__ = ["AdaLNZeroBlock", "NoiseLabelEmbedding", "attention", "modulate", "sinusoidal", "time_and_class"]
