"""Personas: the caller files designers write, where they live, and how they are checked.

Holds the schema (`schema`), the safe YAML loader (`loader`), the persona libraries (`library`), lint
(`lint`, and `lines_lint` for the caller's own lines), the behaviour tests that play scripted trainees
against a persona (`behaviour`), the check that the grader agrees with the persona's own example offers
(`consistency`) and the coherence suite that checks every caller reply against its plan
(`coherence_suite`). May import: the shared vocabulary, grading labels and the grader protocol, and the
call's mood machine; never storage, the CLI or the UI.
"""
