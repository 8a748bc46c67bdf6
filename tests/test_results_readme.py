"""The README's "Results at a glance" is what `experiments.results_table --write_readme` makes of docs/runs
(so a later study cannot leave it stale), its sentences follow the seed-paired tests, and every bad
input of the results-table command exits 2 with one `error:` line. No jax, a few seconds."""
import csv
import json
import os
import re
import subprocess
import sys

import pytest

from admrl_jax import study_results, study_selection
from admrl_jax.cli import results_readme as glance, results_table as rt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_holds_exactly_the_section_generated_from_docs_runs():
  with open(os.path.join(REPO, "README.md")) as fh:
    text = fh.read()
  part = glance.readme_part(text)
  assert part is not None, "README.md lacks the results-at-a-glance markers"
  lines = text.splitlines(keepends=True)
  section = glance.readme_section(os.path.join(REPO, "docs", "runs"), REPO)
  assert "".join(lines[part[0]: part[1] + 1]) == section, (
      "README.md's 'Results at a glance' is stale: run "
      "`.venv/bin/python -m experiments.results_table --write_readme=README.md docs/runs`")
  assert text.index("## Quick start") < text.index(glance.README_START)
  for study in glance.studies(os.path.join(REPO, "docs", "runs")):   # every published study is in it, with a figure
    assert f"({os.path.relpath(study, REPO)})" in section
  images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
  assert len(images) == len(glance.studies(os.path.join(REPO, "docs", "runs")))
  for target in re.findall(r"\]\(([^)]+)\)", section):     # links and images: files in the repository
    assert os.path.exists(os.path.join(REPO, target)), target


def _study_run(study, method: str, seed: int, worst: float, planner_worst: float | None):
  """A published run: summary.json and an eval.csv of 4 in-box tasks (V* 100) whose worst-case gap is
  ``worst`` (the planner's ``planner_worst``; the floor's 20)."""
  run_dir = study / f"{method}-s{seed}"
  run_dir.mkdir(parents=True)
  (run_dir / "summary.json").write_text(json.dumps({"method": method, "family": "point_mass", "seed": seed}))
  with open(run_dir / "eval.csv", "w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["set", "budget", "psi", "v_star", "return", "floor_return", "planner_return"])
    for i, psi in enumerate(["-1.000 -1.000", "-1.000 1.000", "1.000 -1.000", "1.000 1.000"]):
      last = i == 3
      planner = "" if planner_worst is None else 100.0 - (planner_worst if last else 0.5)
      out.writerow(["in_box", "zero_shot", psi, 100.0, 100.0 - (worst if last else 1.0), 100.0 - (20.0 if last else 2.0),
                    planner])


def test_sentences_follow_the_paired_tests(tmp_path):
  """Against MB-Unif's worst cases 30, 32, 31: AdMRL 10 lower on every seed (give or take 0.5) is below;
  MB-Gauss +3, -3, +1 is tied; Gap search about 20 higher is above. With the model planner AdMRL ties."""
  study = tmp_path / "docs" / "runs" / "fam"
  unif = [30.0, 32.0, 31.0]
  for seed, u in enumerate(unif):
    _study_run(study, "unif", seed, u, 5.0 + seed)
    _study_run(study, "admrl", seed, u - 10.0 + 0.5 * (seed - 1), [9.0, 3.0, 7.0][seed])
    _study_run(study, "gauss", seed, u + [3.0, -3.0, 1.0][seed], 6.0)
    _study_run(study, "gap_search", seed, u + 20.0 + 0.3 * seed, None)
    _study_run(study, "multitask", seed, u - 20.0, None)          # model-free: compared unpaired, never paired
  section = glance.readme_section(str(tmp_path / "docs" / "runs"), str(tmp_path))
  assert section.startswith(glance.README_START + "\n") and section.endswith(glance.README_END + "\n")
  policy, planner = [line for line in section.splitlines() if line.startswith("With the")][0].split(" With the ")
  assert "AdMRL (-10.0 ± 1.2, p 0.00) is below" in policy, policy
  assert "MB-Gauss (+0.3 ± 7.6, p 0.87) is tied" in policy, policy
  assert "Gap search (+20.3 ± 0.7, p 0.00) is above" in policy, policy
  assert "AdMRL (+0.3 ± 8.7, p 0.88) and MB-Gauss (+0.0 ± 2.5, p 1.00) are tied" in planner, planner
  assert "Gap search" not in planner                          # no planner: no planner test
  assert "Multi-task PPO (" not in policy and "| Multi-task PPO | 3 | 11.0 ± 2.5 | unpaired | - | - |" in section
  assert ("The model-free baselines, unpaired (their own zero-shot policies beside the policy evaluator's "
          "AdMRL 21.0 ± 3.3 and MB-Unif 31.0 ± 2.5): Multi-task PPO 11.0 ± 2.5.") in section, section
  # the table's cells are the results table's own paired tests (one implementation)
  assert "| AdMRL | 3 | 21.0 ± 3.3 | -10.0 ± 1.2 (p 0.00) | 6.3 ± 7.6 | +0.3 ± 8.7 (p 0.88) |" in section, section
  assert "| AdMRL - MB-Unif | 3 | -10.0 ± 1.2 (p 0.00) |" in rt.table(str(study))
  assert "| adaptation floor | - | 20.0 | - | - | - |" in section
  # the floor's 20.0 is within AdMRL's 21.0 ± 3.3, below MB-Unif's and MB-Gauss's; Gap search has no planner
  assert "reaches it for 1 of 3 model-based methods (AdMRL)," in section, section
  assert "![" not in section and "[docs/results.md]" not in section   # no figure, no results.md here
  (study / "planner_gap_maps.png").write_bytes(b"")
  (tmp_path / "docs" / "results.md").write_text("")
  section = glance.readme_section(str(tmp_path / "docs" / "runs"), str(tmp_path))
  assert "(docs/runs/fam/planner_gap_maps.png)" in section and section.count("![") == 1
  assert section.rstrip("\n").splitlines()[-2].endswith("[docs/results.md](docs/results.md).")
  assert [study_results.verdict(m, h) for m, h in [(-1.0, 0.5), (0.4, 0.5), (-0.5, 0.5), (1.0, 0.5)]] == [
      "below", "tied", "tied", "above"]


def test_write_readme_replaces_only_the_section(tmp_path, capsys, monkeypatch):
  """--write_readme rewrites the lines from marker to marker and nothing else (again: no change);
  --readme prints the same section, its paths relative to the current folder, the README's here."""
  monkeypatch.chdir(tmp_path)
  for seed in range(2):
    _study_run(tmp_path / "runs" / "fam", "unif", seed, 30.0 + seed, None)
  readme = tmp_path / "README.md"
  readme.write_text(f"# x\n\nbefore\n\n{glance.README_START}\nold\n{glance.README_END}\n\nafter\n")
  section = glance.readme_section(str(tmp_path / "runs"), str(tmp_path))
  assert "[`runs/fam`](runs/fam)" in section
  for _ in range(2):
    rt.main(["--write_readme=README.md", "runs"])
    assert readme.read_text() == "# x\n\nbefore\n\n" + section + "\nafter\n"
  capsys.readouterr()
  rt.main(["--readme", "runs"])
  assert capsys.readouterr().out == section


def _error(capsys, argv) -> str:
  """main(argv) exits 2 with one stderr line `error: ...` and prints nothing else; returns the line."""
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_:
    rt.main(argv)
  out, err = capsys.readouterr()
  assert exit_.value.code == 2 and out == "", (exit_.value.code, out)
  assert len(err.splitlines()) == 1 and err.startswith("error: "), err
  return err.rstrip("\n")


def test_every_bad_input_exits_2_with_one_error_line(tmp_path, capsys):
  missing = str(tmp_path / "nope")
  assert _error(capsys, [missing]) == f"error: folder: no such folder {missing!r}"
  (tmp_path / "file").write_text("")
  assert _error(capsys, [str(tmp_path / "file")]) == f"error: folder: {str(tmp_path / 'file')!r} is a file, not a folder"
  (tmp_path / "empty").mkdir()
  assert _error(capsys, [str(tmp_path / "empty")]) == (
      f"error: folder: no run directories (<run>/summary.json) in {str(tmp_path / 'empty')!r}")
  assert _error(capsys, ["--readme", str(tmp_path / "empty")]) == (
      f"error: folder: no studies (<study>/<run>/summary.json) in {str(tmp_path / 'empty')!r}")
  _study_run(tmp_path / "runs" / "fam", "unif", 0, 30.0, None)
  assert _error(capsys, [str(tmp_path / "runs")]).endswith("; it holds studies: use --readme")
  assert _error(capsys, []).startswith("error: folder: needs a folder of run directories")
  assert _error(capsys, ["--nope", str(tmp_path / "runs")]) == "error: unrecognized arguments: --nope"
  assert _error(capsys, ["--readme=yes"]).startswith("error: argument --readme: ")   # wording: argparse's
  assert _error(capsys, [str(tmp_path / "runs"), "extra"]) == "error: unrecognized arguments: extra"
  readme = tmp_path / "README.md"
  assert _error(capsys, [f"--write_readme={readme}", str(tmp_path / "runs")]) == (
      f"error: write_readme: no such file {str(readme)!r}")
  for text in ("# no markers\n", f"{glance.README_END}\n{glance.README_START}\n",
               f"{glance.README_START}\n{glance.README_END}\n{glance.README_START}\n"):
    readme.write_text(text)
    assert _error(capsys, [f"--write_readme={readme}", str(tmp_path / "runs")]).startswith(
        f"error: write_readme: {str(readme)!r} needs the lines {glance.README_START} and {glance.README_END}")
    assert readme.read_text() == text                               # left as it was
  run_dir = tmp_path / "runs" / "fam" / "unif-s0"
  (run_dir / "eval.csv").write_text("set,budget,psi,v_star,return\nin_box,zero_shot,0 0,1.0,abc\n")
  assert _error(capsys, [str(tmp_path / "runs" / "fam")]) == (
      f"error: {run_dir / 'eval.csv'}: line 2: could not convert string to float: 'abc'")
  (run_dir / "eval.csv").write_text("psi,v_star\n")
  assert _error(capsys, ["--readme", str(tmp_path / "runs")]) == f"error: {run_dir / 'eval.csv'}: no 'budget' column"
  (run_dir / "summary.json").write_text('{"method": "unif"}')
  assert _error(capsys, [str(tmp_path / "runs" / "fam")]) == f"error: {run_dir / 'summary.json'}: no 'seed' field"
  (run_dir / "summary.json").write_text("{")
  assert _error(capsys, [str(tmp_path / "runs" / "fam")]).startswith(
      f"error: {run_dir / 'summary.json'}: not valid JSON (")


def test_installed_command_refuses_a_missing_folder(tmp_path):
  """The console script itself (not only main): a missing folder used to print an empty table, exit 0."""
  p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "admrl-results-table"), "nope"], cwd=tmp_path,
                     capture_output=True, text=True, timeout=120)
  assert (p.returncode, p.stdout, p.stderr) == (2, "", f"error: folder: no such folder 'nope' (from {tmp_path})\n")


def test_holm_correction_matches_its_definition():
  adjusted = study_selection.holm({"a": 0.01, "b": 0.04, "c": 0.03})
  # sorted 0.01, 0.03, 0.04: 3 x 0.01 = 0.03; max(0.03, 2 x 0.03) = 0.06; max(0.06, 1 x 0.04) = 0.06
  assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
  assert study_selection.holm({"a": 0.6, "b": 0.7}) == pytest.approx({"a": 1.0, "b": 1.0})   # capped at 1


def test_confirmation_picks_the_lowest_corrected_p_and_says_whether_it_is_below(tmp_path, capsys):
  study = tmp_path / "confirm"
  for seed in range(4):   # planner worst case: unif 30 + s; "good" about 10 lower; "meh" about the same
    _study_run(study, "unif", seed, 10.0, 30.0 + seed)
    _study_run(study, "good", seed, 10.0, 20.0 + seed + 0.5 * (seed % 2))
    _study_run(study, "meh", seed, 10.0, 30.0 + seed + (1.0 if seed % 2 else -1.5))
  runs = study_results.load_runs(str(study))
  found = study_selection.confirmation(study_results.method_rows(runs, study_results.shared_v_star(runs)),
                                     ["good", "meh"])
  assert found["chosen"] == "good" and found["below"]
  mean, half, p, n, p_holm = found["rows"]["good"]
  assert n == 4 and mean == pytest.approx(-9.75) and p_holm == pytest.approx(min(1.0, 2 * p))   # the smaller p: x 2
  assert found["rows"]["meh"][4] >= found["rows"]["meh"][2]
  rt.main([str(study), "--confirm=good,meh"])
  out = capsys.readouterr().out
  assert "Chosen (lowest corrected p; ties: the lower raw p, then the lower mean): good, -9.8, Holm p" in out and out.rstrip().endswith("below MB-Unif.")
  for argv, message in (([str(study), "--confirm=good,nope"], "error: confirm: rows of"),
                        (["--readme", str(tmp_path), "--confirm=good"], "error: confirm: a folder of runs' table only")):
    with pytest.raises(SystemExit):
      rt.main(argv)
    assert message in capsys.readouterr().err
