"""The caller: the LLM that plays the angry customer, and what keeps it in character and coherent.

Holds the caller chain (`chain`), its prompt in chat and transcript-completion forms (`prompt`), the
in-character guard (`guard`) and the context budget (`budget`); the reply plan (`plan`: what each reply
must do, as data), the check of a reply against its plan (`coherence`), the persona's own lines that
stand in (`lines`), the persona's planner tying them together (`voice`) and their word tools (`words`).
May import: the persona, the call's transcript and mood types, the LLM seam and `simulator.prompts`;
never storage, the CLI or the UI.
"""
