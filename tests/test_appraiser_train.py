"""`cooldown appraiser train` and COOLDOWN_APPRAISER_WEIGHTS: small data, no tuning, never the shipped file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli.main import main
from simulator.grading.appraiser import training
from simulator.grading.appraiser.dataset import LabelledTurn, load_cases
from simulator.grading.appraiser.org_labels import (
    MIN_LABELS,
    NotEnoughLabels,
    check_enough,
    hold_out,
    rubric_positives,
)
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, WEIGHTS_FILE, AppraiserWeightsError, load_weights
from simulator.runtime import local_grader

DATA = DEFAULT_WEIGHTS.parent


def _shipped_turns() -> list[LabelledTurn]:
    return load_cases(DATA / "train_authored.jsonl") + load_cases(DATA / "train_extra.jsonl")


def _org_labels(n: int = 60) -> list[dict[str, object]]:
    """`n` labelled turns covering every rubric label, renamed as an organisation's own (3 per group)."""
    cases = _shipped_turns()
    need = set(rubric_positives(cases))
    picked: list[LabelledTurn] = []
    for c in cases:
        got = {k for k, v in rubric_positives([c]).items() if v}
        if got & need:
            picked.append(c)
            need -= got
    picked += [c for c in cases[::7] if c not in picked][: n - len(picked)]
    out = []
    for i, c in enumerate(picked[:n]):
        raw = c.model_dump(mode="json")
        raw.update(id=f"org-{i:03d}", meta={"group": f"og-{i // 3}"})
        raw.pop("split")
        out.append(raw)
    return out


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def small_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The 'shipped training data' cut to 90 turns, so a training run takes seconds."""
    rows = [c.model_dump(mode="json") for c in load_cases(DATA / "train_authored.jsonl")[::11][:90]]
    base = _write(tmp_path / "base.jsonl", rows)
    monkeypatch.setattr(training, "shipped_training_files", lambda: [base])
    return base


def test_hold_out_is_deterministic_by_group_and_never_splits_one() -> None:
    cases = [LabelledTurn.model_validate({**r, "split": "train"}) for r in _org_labels()]
    train, held = hold_out(cases)
    assert {c.id for c in held} == {c.id for c in hold_out(list(reversed(cases)))[1]}
    assert held and len(held) < len(cases) / 2
    assert not {c.meta["group"] for c in held} & {c.meta["group"] for c in train}


def test_too_few_labels_are_refused_with_the_minimum_named() -> None:
    cases = [LabelledTurn.model_validate({**r, "split": "train"}) for r in _org_labels()]
    with pytest.raises(NotEnoughLabels, match=f"at least {MIN_LABELS}"):
        check_enough(cases[:49])
    no_intimidation = [c for c in cases if "intimidation" not in c.gold.manipulation_tactics]
    no_intimidation += [c for c in _shipped_turns() if not c.gold.manipulation_tactics][:5]
    with pytest.raises(NotEnoughLabels, match=r"at least 1 positive.*tactic\.intimidation"):
        check_enough(no_intimidation)


def test_out_may_not_be_the_package_data_folder(tmp_path: Path) -> None:
    labels = _write(tmp_path / "labels.jsonl", _org_labels())
    before = DEFAULT_WEIGHTS.read_bytes()
    result = CliRunner().invoke(main, ["appraiser", "train", "--labels", str(labels), "--out", str(DATA)])
    assert result.exit_code == 2
    assert "package's data folder" in result.output
    assert DEFAULT_WEIGHTS.read_bytes() == before


@pytest.mark.slow
def test_train_writes_new_weights_and_compares_them_with_the_shipped(tmp_path: Path, small_base: Path) -> None:
    labels = _write(tmp_path / "labels.jsonl", _org_labels())
    shipped = hashlib.sha256(DEFAULT_WEIGHTS.read_bytes()).hexdigest()
    out = tmp_path / "mine"
    result = CliRunner().invoke(
        main, ["appraiser", "train", "--labels", str(labels), "--out", str(out), "--no-tune"]
    )
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(DEFAULT_WEIGHTS.read_bytes()).hexdigest() == shipped
    new = load_weights(out / WEIGHTS_FILE)
    assert new.meta["train_items"] == 90 + new.meta["own_train_items"]
    report = json.loads((out / "comparison" / "report.json").read_text())
    suites = {s["name"]: s for s in report["suites"]}
    assert set(suites) == {"heldout", "blind"}
    for suite in suites.values():
        graders = suite["graders"]
        assert graders["local:appraiser[shipped]"]["version"] == load_weights(DEFAULT_WEIGHTS).version
        assert graders["local:appraiser[new]"]["version"] == new.version
        assert "macro_f1" in graders["local:appraiser[new]"]
    assert suites["heldout"]["graders"]["local:appraiser[new]"]["counts"]["n"] == len(new.meta["held_out_ids"])
    assert f"local:appraiser[new] ({new.version})" in result.output
    assert f"COOLDOWN_APPRAISER_WEIGHTS={out}" in result.output
    again = CliRunner().invoke(main, ["appraiser", "train", "--labels", str(labels), "--out", str(out), "--no-tune"])
    assert again.exit_code == 2 and "exists already" in again.output


def test_label_ids_clashing_with_the_shipped_data_are_refused(tmp_path: Path, small_base: Path) -> None:
    rows = _org_labels()
    rows[0]["id"] = json.loads(small_base.read_text().splitlines()[0])["id"]
    labels = _write(tmp_path / "labels.jsonl", rows)
    with pytest.raises(Exception, match="already used by the shipped training data"):
        CliRunner().invoke(main, ["appraiser", "train", "--labels", str(labels), "--out", str(tmp_path / "o")],
                           catch_exceptions=False)


def _other_weights(folder: Path) -> str:
    """A copy of the shipped weights with a different meta, so a different file hash (version)."""
    import numpy as np

    with np.load(DEFAULT_WEIGHTS) as data:
        arrays = {k: data[k] for k in data.files}
    meta = {**json.loads(str(arrays["meta"])), "note": "an organisation's weights"}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / WEIGHTS_FILE, **arrays)
    return hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()[:12]


def test_the_setting_selects_the_weights_and_suite_reports_show_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = _other_weights(tmp_path / "w")
    assert version != load_weights(DEFAULT_WEIGHTS).version
    monkeypatch.setenv("COOLDOWN_APPRAISER_WEIGHTS", str(tmp_path / "w"))
    assert local_grader().version == version
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["evals", "run", "adversarial", "--out", str(run), "--no-html", "--no-progress"])
    assert result.exit_code in (0, 6), result.output
    assert f"local:appraiser ({version})" in result.output
    report = json.loads((run / "report.json").read_text())
    assert report["suites"][0]["graders"]["local:appraiser"]["version"] == version
    assert {g["version"] for g in report["run"]["graders"]} == {version}


def test_a_setting_that_names_no_weights_fails_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOLDOWN_APPRAISER_WEIGHTS", str(tmp_path / "nothing"))
    with pytest.raises(AppraiserWeightsError, match="COOLDOWN_APPRAISER_WEIGHTS"):
        local_grader()


def test_pair_differences_take_flagged_minus_clean_for_disagreeing_pairs_only() -> None:
    from scipy import sparse

    from simulator.grading.appraiser.training import _pair_differences

    rows = [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0], [5.0, 5.0, 5.0]]
    X = sparse.csr_matrix(np.array(rows))
    y = np.array([0, 1, 1, 1, 0])
    pair_id = np.array([0, 0, 1, 1, -1])  # pair 1 agrees on y, so it says nothing about the decision
    diff = _pair_differences(X, y, pair_id)
    assert diff is not None and diff.toarray().tolist() == [[0.0, 1.0, 0.0]]
    assert _pair_differences(X, y, np.full(5, -1)) is None


def test_pair_constraints_put_the_weight_on_the_clause_that_flips(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy import sparse

    rng = np.random.default_rng(0)
    # 20 pairs: the same shared words in both turns; the second turn adds the clause that makes it manipulative.
    shared = np.repeat(rng.random(20) * 3, 2)[:, None]
    flip = np.tile([[0.0], [1.0]], (20, 1))
    # 40 unpaired turns where the shared words go with manipulation by accident of who wrote them.
    loose = np.vstack([np.hstack([np.full((20, 1), 5.0), np.zeros((20, 1))]), np.zeros((20, 2))])
    X = sparse.csr_matrix(np.vstack([np.hstack([shared, flip]), loose]))
    y = np.concatenate([flip.ravel(), np.ones(20), np.zeros(20)]).astype(int)
    pair_id = np.concatenate([np.repeat(np.arange(20), 2), np.full(40, -1)])
    monkeypatch.setattr(training, "PAIR_WEIGHT", 3.0)
    with_pairs, _ = training.fit_binary_with_pairs(X, y, pair_id)
    monkeypatch.setattr(training, "PAIR_WEIGHT", 0.0)
    without, b0 = training.fit_binary_with_pairs(X, y, pair_id)
    plain, b1 = training.fit_binary(X, y)
    assert np.allclose(without, plain) and b0 == b1  # off means exactly the old head
    assert with_pairs[1] / abs(with_pairs[0]) > plain[1] / abs(plain[0])  # the flipping clause gains weight
