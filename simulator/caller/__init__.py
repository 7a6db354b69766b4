"""The caller: the LLM that plays the angry customer, and what keeps it in character.

Holds the caller chain (`chain`), its prompt in chat and transcript-completion forms (`prompt`), the
in-character guard (`guard`) and the context budget (`budget`). May import: the persona, the call's
transcript and mood types, the LLM seam and `simulator.prompts`; never storage, the CLI or the UI.
"""
