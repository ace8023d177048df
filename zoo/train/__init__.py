"""The one training loop, recipes, checkpoints and distributed launch (see README.md, "Training")."""
from .config import Recipe, load_recipe
from .loop import train

__all__ = ["Recipe", "load_recipe", "train"]
