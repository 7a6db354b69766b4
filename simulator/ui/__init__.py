"""The trainee's page (`app.py`: build and launch) and its parts.

- `layout`: the page's components, grouped per tab in small dataclasses;
- `handlers`: one method per event, each returning updates keyed by component;
- `library`: the callers the page offers (the persona library, re-read on each page load).

View helpers, plain functions testable without a browser:

- `text`: escaping, safe Markdown, evidence highlighting (nothing the trainee or a model wrote is ever
  rendered as HTML);
- `panels`: the persona cards, the mood panel, per-turn feedback cards, the model banner, the outcome;
- `plots`: the debrief's mood curve and per-turn scores (matplotlib figures);
- `progress` and `progress_charts`: My progress and the Trainer tab, their charts drawn as inline SVG;
- `review`: a stored call as the debrief and history tabs show it, and its download files;
- `designer`: persona preview and lint of pasted YAML for persona designers;
- `labelling` and `label_handlers`: the Label tab, where raters label trainee turns (`simulator.labelling`);
- `live`: one browser session's running call (events from `CallSession` folded into what the page shows);
- `deps`: the models, graders and store the page runs on, auth and trainee names.
"""
