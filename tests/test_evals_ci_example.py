"""The CI example in evals/README.md, run as CI runs it: a `cooldown` process whose exit code gates the job.

The step's command is taken from the README's GitHub Actions snippet, so the documented gate is the
tested one. A stand-in for the local appraiser (whose weights may be retrained at any time) answers from
the shipped suites' own gold: as given it meets every threshold; with `dismissal` dropped from every
verdict, `label.dismissal.recall` falls to 0 and the step must fail with exit 6.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from evals.cli import EXIT_THRESHOLD_MISSED

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import os, sys
sys.path[:0] = [{root!r}, {tests!r}]
import evals.graders
from evals.cases import load_suite_file
from evals.suites import SUITES_DIR
from simulator.grading.labels import Behaviour, TurnGrade


class GoldGrader:
    \"\"\"Answers with the gold verdict of the shipped suites; optionally never sees one behaviour.\"\"\"

    name, version = "local:gold-stand-in", "1"

    def __init__(self, blind_to):
        self.blind_to = blind_to
        self.gold = {{}}
        for suite in ("gold_listening", "gold_persuasion"):
            for case in load_suite_file(SUITES_DIR / f"{{suite}}.jsonl"):
                self.gold[case.request().model_dump_json()] = case.gold

    async def grade(self, request):
        verdict = self.gold[request.model_dump_json()]
        if self.blind_to:
            verdict = verdict.model_copy(update={{"behaviours": [b for b in verdict.behaviours
                                                                 if b != Behaviour(self.blind_to)]}})
        return TurnGrade(status="graded", verdict=verdict, grader=self.name, grader_version=self.version)


evals.graders.local_grader = lambda: GoldGrader(os.environ.get("STAND_IN_BLIND_TO"))
from simulator.cli.main import main
main(sys.argv[1:])
"""


def _ci_step() -> dict[str, Any]:
    readme = (ROOT / "evals" / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if "runs-on:" in b)
    workflow = yaml.safe_load(block)
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    return next(s for s in steps if "cooldown evals run" in s.get("run", ""))


def _run_step(tmp_path: Path, blind_to: str | None) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(_ci_step()["run"])
    assert argv[:3] == ["cooldown", "evals", "run"]
    script = tmp_path / "cooldown_stand_in.py"
    script.write_text(_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests")), encoding="utf-8")
    env = {**os.environ, "STAND_IN_BLIND_TO": blind_to or ""}
    env.pop("COOLDOWN_RAISE_ERRORS", None)  # as in CI: friendly errors, exit codes only
    return subprocess.run([sys.executable, str(script), *argv[1:]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_readme_ci_step_fails_with_exit_6_on_a_missed_threshold(tmp_path: Path) -> None:
    done = _run_step(tmp_path, blind_to="dismissal")
    assert done.returncode == EXIT_THRESHOLD_MISSED, done.stdout[-3000:] + done.stderr[-3000:]
    assert "NOT PASSED: 1 threshold(s) missed: gold_listening / local:gold-stand-in / label.dismissal.recall" \
        in done.stdout
    assert re.search(r"label\.dismissal\.recall\s+>= 0\.7\s+0\.000 \[0\.000-0\.000\]\s+MISSED", done.stdout)
    # the report the workflow uploads is there for the reviewer, with the miss in it
    report = tmp_path / _ci_step()["run"].split("--out ")[1].split()[0] / "report.html"
    assert "class=fail>MISSED" in report.read_text(encoding="utf-8")


def test_readme_ci_step_passes_when_every_threshold_is_met(tmp_path: Path) -> None:
    done = _run_step(tmp_path, blind_to=None)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "thresholds (2/2 met)" in done.stdout and "thresholds (1/1 met)" in done.stdout
    assert done.stdout.rstrip().endswith("PASSED")
