"""Composable steps, recipes and the runner that applies them (docs/pipeline.md)."""

from curate.pipeline.recipe import Recipe, list_recipes, load_recipe, parse_recipe
from curate.pipeline.runner import Pipeline
from curate.pipeline.step import STEPS, GlobalStep, Step, StepResult, register_step

__all__ = ["GlobalStep", "Pipeline", "Recipe", "STEPS", "Step", "StepResult", "list_recipes", "load_recipe",
           "parse_recipe", "register_step"]
