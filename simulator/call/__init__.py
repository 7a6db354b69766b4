"""The call: one trainee's conversation with one caller, turn by turn.

Holds the mood state machine (`mood`), the pure turn engine every player of a call shares (`engine`),
the live session that stores and streams a call (`session`), its events (`events`) and the transcript
types (`transcript`). May import: the persona, grading, the caller, the storage protocol, the LLM seam
and the shared vocabulary; never the CLI or the UI.
"""
