"""Personas: the caller files designers write, where they live, and how they are checked.

Holds the schema (`schema`), the safe YAML loader (`loader`), the persona libraries (`library`), lint
(`lint`), the behaviour tests that play scripted trainees against a persona (`behaviour`) and the check
that the grader agrees with the persona's own example offers (`consistency`). May import: the shared
vocabulary, grading labels and the grader protocol, and the call's mood machine; never storage, the CLI
or the UI.
"""
