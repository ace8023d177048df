"""The one training loop, recipes, checkpoints and distributed launch (see DESIGN.md section 5)."""
from .config import Recipe, load_recipe
from .loop import train

__all__ = ["Recipe", "load_recipe", "train"]
