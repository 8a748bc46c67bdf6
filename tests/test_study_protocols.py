"""The published studies' evaluation protocols stay as they were run: each study, paper and Brax config's
resolved ``eval`` section equals its snapshot in tests/data/study_eval_sections.json.

The snapshot was taken at 29e8ce4 (before the default job's evaluation was cut, issue 25), with
``eval.ood`` True: the field came later, and until then every evaluation ran the OOD set. A change to
the defaults that a study inherits fails here (``eval.few_shot_share``, and the Brax paper configs'
``eval.few_shot_rounds`` 2, came with the nested few-shot evaluation of issue 28: no published study
had run a model-based few-shot evaluation); pin the old value in that study's config, or re-run
its studies and update the snapshot in the same commit.
"""
import importlib
import json
import os

import pytest

SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "study_eval_sections.json")
with open(SNAPSHOT) as fh:
  SECTIONS = json.load(fh)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_study_eval_section_is_unchanged(name):
  config = importlib.import_module(f"admrl_jax.configs.{name}").get_config()
  assert json.loads(config.eval.to_json_best_effort()) == SECTIONS[name]


def test_every_study_and_family_config_is_pinned():
  folder = os.path.dirname(importlib.import_module("admrl_jax.configs").__file__)
  configs = {f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f not in ("__init__.py", "brax_family.py")}
  assert configs - set(SECTIONS) == {"default", "point_mass_cpu"}   # the main job's, free to change
