"""Personas: the caller files designers write, where they live, and how they are checked.

Holds the schema (`schema`), the safe YAML loader and the persona libraries (`loader`), the behaviour
tests that play scripted trainees against a persona (`behaviour`), lint (`lint`, and `lines_lint` for the
caller's own lines) and the coherence suite that checks every caller reply against its plan
(`coherence_suite`). May import: the shared
vocabulary, grading labels and the call's mood machine; never storage, the CLI or the UI.
"""
