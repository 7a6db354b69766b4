"""Every shipped persona's example offers grade as the persona file intends (issue: a Victor remedy came
back 'intimidation', 'Sure.' was quoted as anchoring evidence, a tip quoted another scenario)."""

from __future__ import annotations

import asyncio

import pytest

from simulator.persona.consistency import check_offers, failures
from simulator.persona.library import PersonaLibrary
from simulator.runtime import local_grader

LIBRARY = PersonaLibrary.from_settings(None)


@pytest.mark.parametrize("entry", LIBRARY.valid(), ids=lambda e: e.id)
def test_example_offers_grade_as_the_persona_intends(entry: object) -> None:
    persona = LIBRARY.load(entry.id)  # type: ignore[attr-defined]
    checks = asyncio.run(check_offers(persona, local_grader()))
    assert checks, "every persona has example offers"
    assert not failures(checks), "\n".join(failures(checks))
