"""The benchmark machinery runs end to end with scripted models (no timing assertions: figures only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.common import Dist, check, percentile
from benchmarks.run import run_benchmarks, summary
from simulator.cli.bench import bench


def test_percentile_and_dist() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([0, 10], 95) == pytest.approx(9.5)
    d = Dist.of([5.0, 1.0, 3.0])
    assert (d.n, d.median, d.min, d.max) == (3, 3.0, 1.0, 5.0)


def test_check_verdicts() -> None:
    assert check("x", 10.0, le=15).verdict == "met"
    assert check("x", 20.0, le=15).verdict == "missed"
    assert check("x", 900.0, ge=1000).verdict == "missed"
    assert check("x", None, le=1).verdict == "skipped"


@pytest.mark.slow
def test_quick_run_with_scripted_models_writes_json_and_summary(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_benchmarks(quick=True, embedded=False, only=["grading", "prompt_growth"], out_dir=tmp_path,
                            echo=lines.append)  # fmt: skip
    assert [f.key for f in result.figures] == ["grading", "prompt_growth"]
    assert all(f.error is None for f in result.figures), [f.error for f in result.figures]
    saved = json.loads((tmp_path / "latest-quick.json").read_text())
    assert saved["quick"] is True and len(saved["figures"]) == 2
    grading = result.figures[0]
    assert grading.numbers["fake.graded_ok_rate"] == 1.0  # the real LLM grading chain accepted the fake
    growth = result.figures[1]
    assert len(growth.series["completion"]) == 100 and len(growth.series["chat"]) == 100
    assert max(growth.series["chat"]) <= growth.numbers["budget"]
    assert "[grading]" in lines[-1] and "load" in summary(result)


def test_unknown_figure_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown figure"):
        run_benchmarks(only=["nope"], out_dir=tmp_path, embedded=False)


@pytest.mark.slow
def test_bench_command_runs_one_figure(tmp_path: Path) -> None:
    out = CliRunner().invoke(bench, ["--quick", "--no-embedded", "--only", "prompt_growth", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "prompt_growth" in out.output
    assert (tmp_path / "latest-quick.json").is_file()


def test_progress_figure_seeds_and_times_the_views(tmp_path: Path) -> None:
    from benchmarks.progress_page import run

    fig = run(quick=True, postgres=False, turns=1200, browser=False)
    assert fig.error is None and fig.numbers["sqlite.seeded"]["turns"] == 1200
    assert fig.numbers["sqlite.seeded"]["calls"] == 100
    assert {"sqlite.page_trainee", "sqlite.page_cohort", "sqlite.sql_cohort"} <= set(fig.series)
    assert len(fig.targets) == 2 and all(t.value is not None for t in fig.targets)  # figures only, no timing asserted


def test_appraiser_figure_times_the_weights_calls_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from benchmarks import appraiser_speed
    from benchmarks.fixtures import gold_requests
    from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights

    with np.load(DEFAULT_WEIGHTS) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "note": "a user's copy"}))
    np.savez_compressed(tmp_path / DEFAULT_WEIGHTS.name, **arrays)
    monkeypatch.setenv("COOLDOWN_APPRAISER_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(appraiser_speed, "gold_requests", lambda: gold_requests()[:4])
    fig = appraiser_speed.run(quick=True)
    assert fig.error is None, fig.error
    copy = load_weights(tmp_path / DEFAULT_WEIGHTS.name)
    assert fig.numbers["weights"] == copy.version != load_weights().version
    assert fig.numbers["turns"] == 4
