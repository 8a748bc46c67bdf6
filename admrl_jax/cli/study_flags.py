"""The flags the study commands share (``experiments.study``, ``experiments.study_curves``), defined once
here so that one process can import both (absl refuses a flag defined twice)."""
import os

from absl import flags

from admrl_jax.cli.common import shared_bool

README_STUDIES = os.path.join("docs", "runs")   # the studies of the README's "Results at a glance"

STUDY = flags.DEFINE_string("study", None, "the study's name: its folder under --publish and the workdir")
PUBLISH = flags.DEFINE_string("publish", README_STUDIES, "folder the studies' evidence is published in (under "
                              "docs/runs, a finished run of experiments.study also rewrites README.md's "
                              "\"Results at a glance\")")
COMMIT = shared_bool("commit", "git commit the published files as they are written (after every finished run or "
                     "evaluated run)")
