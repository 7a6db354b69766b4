"""The Label tab's events: open a turns file as a rater, move between turns, take selected evidence, save.

Each handler returns updates keyed by the `LabelView` components. Every save goes through
`LabelStore.save` (checked, appended, fsynced) before the page says "Saved", so a closed tab loses
nothing that was reported saved. Handlers check their own inputs (the file must be one of the label
folder's, the rater a valid name), and show problems on the page in plain words.

With sign-in on (COOLDOWN_AUTH), labelling is an evaluator's job: only users with the trainer or rater
role (`ann@rater:...`) get the tab, and every handler checks the role again on the server, so a trainee
who sends the events by hand reads no turns file (other trainees' turns) and saves no label.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr

from simulator.errors import CooldownError
from simulator.labelling import LabelDraft, LabelError, LabelItem, LabelStore, TechniqueMark, check_rater, load_items
from simulator.labelling.records import LabelRecord, verbatim
from simulator.ui.deps import clean_name
from simulator.ui.labelling import NOT_USED, TAKE_SELECTION_JS, LabelView, context_html, turn_html, turns_files
from simulator.ui.text import esc, md_text

Updates = dict[Any, Any]
NOT_RATER = "Only trainers and raters can label turns. Ask whoever runs Cooldown for the rater role."


class LabelHandlers:
    """Event handlers of the Label tab, over the label folder (shared by every browser session)."""

    def __init__(self, view: LabelView, folder: Path, *, auth_on: bool, raters: frozenset[str] = frozenset()) -> None:
        """`raters`: who may label with sign-in on (trainers and raters); without sign-in, anyone may."""
        self.view = view
        self.folder = folder
        self.auth_on = auth_on
        self.raters = raters
        self._items: dict[Path, tuple[float, int, list[LabelItem]]] = {}

    # -- inputs ----------------------------------------------------------------------------------

    def _path(self, file: Any) -> Path:
        if not isinstance(file, str) or not file:
            raise LabelError([f"pick a turns file (put .jsonl files in {self.folder}, then Refresh files)"])
        if file not in turns_files(self.folder):
            raise LabelError([f"{file!r} is not a turns file of the label folder; pick one from the list"])
        return self.folder / file

    def may_label(self, request: gr.Request | None) -> bool:
        """Without sign-in, anyone; with it, trainers and raters only."""
        return not self.auth_on or getattr(request, "username", None) in self.raters

    def _rater(self, name: Any, request: gr.Request | None) -> str:
        if self.auth_on:
            user = getattr(request, "username", None)
            if not user:
                raise LabelError(["sign in to label"])
            if user not in self.raters:
                raise LabelError([NOT_RATER])
            return check_rater(re.sub(r"[^A-Za-z0-9_.-]", "_", clean_name(user)).lstrip("._-")[:40])
        return check_rater(name)

    def _load(self, path: Path) -> list[LabelItem]:
        stat = path.stat()
        cached = self._items.get(path)
        if cached and cached[:2] == (stat.st_mtime, stat.st_size):
            return cached[2]
        items = load_items(path)
        self._items[path] = (stat.st_mtime, stat.st_size, items)
        return items

    def _problem(self, exc: CooldownError, doing: str = "Not saved") -> Updates:
        problems = exc.problems if isinstance(exc, LabelError) else [str(exc)]
        gr.Warning(f"{doing}: {problems[0]}" if len(problems) == 1 else f"{doing}: {len(problems)} problems")
        listed = "\n".join(f"- {md_text(p)}" for p in problems)
        return {self.view.status: f"**⚠ {doing}. Fix this, then try again:**\n\n{listed}"}

    # -- showing a turn --------------------------------------------------------------------------

    def _show(self, items: list[LabelItem], store: LabelStore, rater: str, item_id: str, status: str) -> Updates:
        v = self.view
        labels = store.current(rater, items)
        item = next(i for i in items if i.id == item_id)
        record = labels.get(item_id)
        draft = LabelDraft.of(record.verdict, record.note) if record else LabelDraft()
        uses = {m.technique: m for m in draft.techniques}
        done = len(labels)
        position = next(n for n, i in enumerate(items, start=1) if i.id == item_id)
        out: Updates = {
            v.progress: f"**{esc(rater)}**: {done} of {len(items)} labelled · turn {position} of {len(items)} "
                        f"(`{md_text(item_id)}`)" + (" · ✓ labelled" if record else "")
                        + (" · **all labelled**" if done == len(items) else ""),
            v.item: gr.Dropdown(choices=[(("✓ " if i.id in labels else "· ") + i.id, i.id) for i in items],
                                value=item_id),
            v.context: context_html(item),
            v.turn: turn_html(item, [(m.evidence, m.use) for m in draft.techniques]),
            v.behaviours: draft.behaviours,
            v.score: draft.score,
            v.tactics: draft.tactics,
            v.note: draft.note,
            v.status: status,
            v.versions: _versions(store.history(rater, item_id)),
        }
        for row in v.techniques:
            mark = uses.get(row.technique)
            out[row.use] = mark.use if mark else NOT_USED
            out[row.evidence] = mark.evidence if mark else ""
        return out

    def _next_unlabelled(self, items: list[LabelItem], labelled: set[str], after: str | None) -> str:
        ids = [i.id for i in items]
        start = ids.index(after) + 1 if after in ids else 0
        for item_id in ids[start:] + ids[:start]:
            if item_id not in labelled:
                return item_id
        return after if after in ids else ids[0]

    def open_file(self, file: Any, rater: Any, request: gr.Request) -> Updates:
        """Open a turns file as a rater, at the first turn they have not labelled."""
        try:
            name, path = self._rater(rater, request), self._path(file)
            items, store = self._load(path), LabelStore(path)
            labelled = set(store.current(name, items))
        except CooldownError as exc:
            return self._problem(exc, "Not opened")
        first = self._next_unlabelled(items, labelled, None)
        return self._show(items, store, name, first, f"Opened {esc(file)}: labels are saved in `{store.folder.name}/`.")

    def go(self, file: Any, rater: Any, item_id: Any, request: gr.Request) -> Updates:
        """Show the turn picked in the list."""
        try:
            name, path = self._rater(rater, request), self._path(file)
            items = self._load(path)
        except CooldownError as exc:
            return self._problem(exc, "Not shown")
        if item_id not in {i.id for i in items}:
            return gr.skip()
        return self._show(items, LabelStore(path), name, str(item_id), "")

    def step(self, file: Any, rater: Any, item_id: Any, request: gr.Request, *, back: bool) -> Updates:
        """The previous turn (`back`), or the next unlabelled one."""
        try:
            name, path = self._rater(rater, request), self._path(file)
            items, store = self._load(path), LabelStore(path)
            labelled = set(store.current(name, items))
        except CooldownError as exc:
            return self._problem(exc, "Not shown")
        ids = [i.id for i in items]
        if back:
            target = ids[max(ids.index(item_id) - 1, 0)] if item_id in ids else ids[0]
        else:
            target = self._next_unlabelled(items, labelled, item_id if isinstance(item_id, str) else None)
        return self._show(items, store, name, target, "")

    def take_selection(self, selected: Any, file: Any, item_id: Any, request: gr.Request) -> tuple[Any, str]:
        """The words selected in the turn, exactly as the turn has them, for a technique's evidence."""
        if not self.may_label(request):
            return gr.skip(), f"⚠ {NOT_RATER}"
        text = selected if isinstance(selected, str) else ""
        if not text.strip():
            return gr.skip(), "⚠ Select words in the trainee turn first, then press *Use selected text*."
        try:
            items = self._load(self._path(file))
        except CooldownError as exc:
            return gr.skip(), f"⚠ {md_text(str(exc))}"
        item = next((i for i in items if i.id == item_id), None)
        if item is None:
            return gr.skip(), "⚠ Open a turns file first."
        quote = verbatim(item.trainee_turn, text)
        if quote not in item.trainee_turn:
            return gr.skip(), "⚠ The selection is not part of the trainee turn; select words inside the turn."
        return quote, f"Evidence taken: “{md_text(quote)}”."

    def save(self, data: dict[Any, Any], request: gr.Request) -> Updates:
        """Check and save the label durably, then show the next unlabelled turn.

        Args:
            data: The tab's values by component (the file, rater and turn, and the label form).
            request: Who is signed in (the rater, with sign-in on).
        """
        v = self.view
        file, rater, item_id = data[v.file], data[v.rater], data[v.item]
        behaviours, score, tactics, note = data[v.behaviours], data[v.score], data[v.tactics], data[v.note]
        uses = [data[row.use] for row in v.techniques]
        evidences = [data[row.evidence] for row in v.techniques]
        try:
            name, path = self._rater(rater, request), self._path(file)
            items, store = self._load(path), LabelStore(path)
            item = next((i for i in items if i.id == item_id), None)
            if item is None:
                raise LabelError(["open a turns file and pick a turn first"])
            marks = [
                TechniqueMark(technique=row.technique, use="" if use in (None, NOT_USED) else str(use),
                              evidence=str(evidence or ""))
                for row, use, evidence in zip(v.techniques, uses, evidences, strict=True)
                if (use not in (None, NOT_USED)) or (evidence or "").strip()
            ]  # fmt: skip
            draft = LabelDraft(
                behaviours=list(behaviours or []), score=score if isinstance(score, int) else None, techniques=marks,
                tactics=list(tactics or []), note=str(note or "")[:2000],
            )  # fmt: skip
            record = store.save(name, item, draft)
        except CooldownError as exc:
            return self._problem(exc)
        labelled = set(store.current(name, items))
        following = self._next_unlabelled(items, labelled, item.id)
        saved = f"✓ Saved `{md_text(item.id)}` (version {record.version})."
        if len(labelled) == len(items):
            saved += " Every turn of this file is labelled: export it with `cooldown label export`."
        return self._show(items, store, name, following, saved)

    def label_load(self, request: gr.Request) -> Updates:
        """On page load with sign-in on: the Label tab and its file list for trainers and raters only."""
        if not self.may_label(request):
            return {self.view.tab: gr.Tab(visible=False)}
        return {self.view.tab: gr.Tab(visible=True), self.view.file: self.refresh_files(None, request)}

    def refresh_files(self, current: Any, request: gr.Request) -> Any:
        """The label folder's files as they are now (none for a user who may not label)."""
        files = turns_files(self.folder) if self.may_label(request) else []
        return gr.Dropdown(choices=files, value=current if current in files else (files[0] if files else None))


def _versions(records: list[LabelRecord]) -> str:
    if not records:
        return "Not labelled yet."
    from simulator.cli.label_prompts import verdict_line

    return "\n".join(
        f"- v{r.version} · {r.saved_at:%Y-%m-%d %H:%M:%S} UTC · {md_text(verdict_line(r.verdict))}"
        for r in reversed(records)
    )


def wire_label(view: LabelView, h: LabelHandlers, demo: gr.Blocks) -> None:
    """Connect the Label tab's events (and, with sign-in on, the page-load check that shows the tab)."""
    quiet: dict[str, Any] = {"api_visibility": "private"}
    if h.auth_on:
        demo.load(h.label_load, None, [view.tab, view.file], queue=False, show_progress="hidden", **quiet)
    where = [view.file, view.rater, view.item]
    view.refresh.click(h.refresh_files, [view.file], [view.file], **quiet)
    view.open.click(h.open_file, [view.file, view.rater], view.shown(), **quiet)
    view.item.input(h.go, where, view.shown(), **quiet)

    def back(file: Any, rater: Any, item_id: Any, request: gr.Request) -> Updates:
        return h.step(file, rater, item_id, request, back=True)

    def forward(file: Any, rater: Any, item_id: Any, request: gr.Request) -> Updates:
        return h.step(file, rater, item_id, request, back=False)

    view.prev.click(back, where, view.shown(), **quiet)
    view.next.click(forward, where, view.shown(), **quiet)
    for row in view.techniques:
        row.take.click(h.take_selection, [row.evidence, view.file, view.item], [row.evidence, view.status],
                       js=TAKE_SELECTION_JS, **quiet)  # fmt: skip
    view.save.click(h.save, {*where, *view.form()}, view.shown(), **quiet)
