"""The durable label store: one append-only JSONL file per rater beside the turns file.

For `turns.jsonl` the labels live in `turns.labels/<rater>.jsonl`, one `LabelRecord` per line. A save
appends one line under an exclusive `flock`, then `fsync`s the file (and the folder when the file is
new) before it returns: a label the rater saw saved survives a closed tab, a kill -9 or a power cut.
A line cut short by a crash mid-save (never acknowledged) is ignored when reading and trimmed by the
next save. Every save is a new version; the highest version of a turn wins, earlier ones stay listable.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from simulator.labelling.items import LabelItem
from simulator.labelling.records import LabelDraft, LabelError, LabelRecord, check_draft, check_rater


def labels_folder(items_path: Path) -> Path:
    """Where the raters' files of a turns file live: `turns.jsonl` -> `turns.labels/`."""
    return items_path.with_name(items_path.stem + ".labels")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(path: Path, data: bytes) -> list[LabelRecord]:
    """The records of a rater file's bytes; an unterminated last line (a save cut short) is skipped."""
    lines = data.split(b"\n")
    complete = lines[:-1]  # after the last newline: empty, or a torn save
    out = []
    for lineno, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            out.append(LabelRecord.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise LabelError([
                f"{path}:{lineno}: not a saved label ({'.'.join(map(str, first['loc']))}: {first['msg']}); "
                "the file is written only by cooldown: restore it from a backup, or remove that line"
            ]) from exc
    return out


class LabelStore:
    """The raters' labels of one turns file."""

    def __init__(self, items_path: Path) -> None:
        self.items_path = items_path
        self.folder = labels_folder(items_path)

    def rater_path(self, rater: str) -> Path:
        """The file of one rater's labels."""
        return self.folder / f"{check_rater(rater)}.jsonl"

    def raters(self) -> list[str]:
        """The raters who saved at least one label, by name."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.jsonl") if p.stat().st_size > 0)

    def records(self, rater: str) -> list[LabelRecord]:
        """Every saved version of every label of `rater`, in save order."""
        path = self.rater_path(rater)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        return _parse(path, data)

    def history(self, rater: str, item_id: str) -> list[LabelRecord]:
        """Every version `rater` saved of one turn, oldest first."""
        return [r for r in self.records(rater) if r.item_id == item_id]

    def latest(self, rater: str) -> dict[str, LabelRecord]:
        """The latest version of each turn `rater` labelled, by item id."""
        out: dict[str, LabelRecord] = {}
        for record in self.records(rater):
            if record.item_id not in out or record.version > out[record.item_id].version:
                out[record.item_id] = record
        return out

    def current(self, rater: str, items: Sequence[LabelItem]) -> dict[str, LabelRecord]:
        """The latest labels of `rater` that were made on the turns as they are now in `items`.

        A label saved before the turn's text, context or scenario changed is stale and left out: the turn
        counts as unlabelled again.
        """
        digests = {item.id: item.digest() for item in items}
        return {i: r for i, r in self.latest(rater).items() if digests.get(i) == r.item_digest}

    def save(self, rater: str, item: LabelItem, draft: LabelDraft, *, now: datetime | None = None) -> LabelRecord:
        """Check `draft` against the turn and append it as `rater`'s next version of `item`, durably.

        Returns only once the line is on disk (fsync).

        Raises:
            LabelError: The rater name or the label is refused (nothing is written).
        """
        rater = check_rater(rater)
        verdict = check_draft(draft, item.trainee_turn)
        path = self.rater_path(rater)
        created = not self.folder.is_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        if created:
            _fsync_dir(self.folder.parent)
        with _locked(path) as (fh, is_new):
            data = fh.read()
            if data and not data.endswith(b"\n"):  # a save cut short by a crash: never acknowledged
                data = data[: data.rfind(b"\n") + 1]
                fh.truncate(len(data))
            versions = [r.version for r in _parse(path, data) if r.item_id == item.id]
            record = LabelRecord(
                item_id=item.id, rater=rater, version=max(versions, default=0) + 1,
                saved_at=now or datetime.now(UTC), item_digest=item.digest(), verdict=verdict, note=draft.note.strip(),
            )  # fmt: skip
            fh.seek(len(data))
            fh.write(record.model_dump_json().encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        if is_new:
            _fsync_dir(self.folder)
        return record

    def export_json(self, rater: str) -> str:
        """Every version of `rater`'s labels as a JSON array (for `cooldown label history --json`)."""
        return json.dumps([r.model_dump(mode="json") for r in self.records(rater)], indent=2)


@contextmanager
def _locked(path: Path) -> Iterator[tuple[IO[bytes], bool]]:
    """`path` opened for reading and appending under an exclusive lock; whether it was just created."""
    is_new = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield fh, is_new
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
