"""Human labelling of trainee turns with the RUBRIC labels (docs/rubric.md), saved durably per rater.

- `items`: the turns to label (a suite-format JSONL file, `gold` optional) and their digests;
- `records`: what a rater submits (`LabelDraft`), its validation at the boundary, and the stored
  `LabelRecord` (one version of one rater's label of one turn);
- `store`: the append-only, fsynced JSONL per rater beside the input file (`turns.labels/<rater>.jsonl`);
  every save is a new version, the latest wins, earlier ones stay listable;
- `export`: one rater's labels, or the adjudicated labels of several, as a suite file for `cooldown evals run`.

`cooldown label` (simulator/cli/label.py) and the page's Label tab (simulator/ui/labelling.py) both save
through `LabelStore`, so a label saved in one shows in the other.
"""

from simulator.labelling.items import LabelItem, load_items
from simulator.labelling.records import LabelDraft, LabelError, LabelRecord, TechniqueMark, check_draft, check_rater
from simulator.labelling.store import LabelStore

__all__ = [
    "LabelDraft",
    "LabelError",
    "LabelItem",
    "LabelRecord",
    "LabelStore",
    "TechniqueMark",
    "check_draft",
    "check_rater",
    "load_items",
]
