"""RELIABILITY §8 F1 and F3: hostile persona files are rejected with a position and never execute; a running
session keeps its persona snapshot when the file changes.

Adds to `tests/test_persona_loader.py` (21 hostile fixtures there): YAML tag tricks that reach Python through
other spellings (verbatim tags, `%TAG` shorthands, `object/new`, `name:`), multi-document files, quadratic
alias growth, and generated files (10 MB, a 1 MB single line, a symlink to /etc/passwd).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.errors import PersonaError
from simulator.persona.loader import check_persona_file, load_persona

from .conftest import FigureBook
from .support import ATTACKS, BRIAN, local_grader, start_session

pytestmark = pytest.mark.reliability

HOSTILE = ATTACKS / "personas"
MARKER = Path("/tmp/cooldown-persona-pwned")
EXISTING = Path(__file__).resolve().parents[1] / "fixtures" / "personas_bad"


def generated(tmp: Path) -> list[Path]:
    src = BRIAN.read_text(encoding="utf-8")
    big = tmp / "ten_megabytes.yaml"
    big.write_text(src + "\n# " + "x" * 10_000_000 + "\n", encoding="utf-8")
    line = tmp / "one_long_line.yaml"
    line.write_text(src.replace("designer_notes:", "designer_notes: " + "y" * 1_000_000 + "\nx_old:", 1))
    link = tmp / "symlink_passwd.yaml"
    link.symlink_to("/etc/passwd")
    return [big, line, link]


def test_f1_hostile_persona_files_are_rejected_and_never_run(tmp_path: Path, figures: FigureBook) -> None:
    MARKER.unlink(missing_ok=True)
    files = sorted(HOSTILE.glob("*.yaml")) + generated(tmp_path) + sorted(EXISTING.glob("*.yaml"))
    loaded: list[str] = []
    unlocated: list[str] = []
    for path in files:
        persona, problems = check_persona_file(path)
        try:
            load_persona(path)
            loaded.append(path.name)
        except PersonaError as exc:
            if not exc.location or exc.location.count(":") < 1:
                unlocated.append(f"{path.name}: {exc}"[:120])
        if persona is not None:
            loaded.append(path.name)
        assert problems or persona is None
    executed = MARKER.exists()
    met = not loaded and not unlocated and not executed
    figures.record("F1", "hostile persona files (21 existing + our 11)",
                   f"{len(files) - len(set(loaded))}/{len(files)} rejected; {len(unlocated)} without file:line; "
                   f"code executed: {executed}", "all rejected with file:line; 0 loaded; 0 executed", met,
                   note="; ".join(unlocated[:2] + loaded[:2]))  # fmt: skip
    assert not executed and not loaded, loaded
    assert not unlocated, unlocated


@pytest.mark.anyio
async def test_f3_editing_a_persona_mid_session_keeps_the_snapshot(tmp_path: Path, figures: FigureBook) -> None:
    from simulator.call.session import CallSession
    from simulator.llm.fake import FakeChatModel
    from simulator.storage import Store, persona_content_hash

    from .support import fast_db_url, play

    persona = tmp_path / "backfire_brian.yaml"
    shutil.copy(BRIAN, persona)
    url, folder = fast_db_url("f3.db")
    try:
        with Store.open(url) as store:
            session = start_session(store, FakeChatModel(), persona=persona)
            before = persona_content_hash(store.load_session(session.id).persona_text)
            persona.write_text(persona.read_text().replace("Brian Keller", "Mallory Evil"), encoding="utf-8")
            await play(session, "What happened when you got the email?")
            resumed = await CallSession.resume(store, session.id, caller_model=FakeChatModel(),
                                               local_grader=local_grader())  # fmt: skip
            after = persona_content_hash(store.load_session(session.id).persona_text)
            names = {session.persona.identity.name, resumed.persona.identity.name}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    met = before == after and names == {"Brian Keller"}
    figures.record("F3", "persona file edited mid-session", f"snapshot hash unchanged: {before == after}; "
                   f"running and resumed session persona: {sorted(names)}", "snapshot unchanged", met)  # fmt: skip
    assert met
