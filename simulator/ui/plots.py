"""The debrief's plots: the caller's mood over the call and the trainee's per-turn scores.

Built as `matplotlib.figure.Figure` objects directly (no pyplot global state), so concurrent sessions
never share a figure. Gradio's `gr.Plot` renders them as images.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from simulator.grading.debrief import Debrief

COLOURS = {"anger": "#dc2626", "trust": "#16a34a", "entrenchment": "#d97706"}


def mood_figure(debrief: Debrief) -> Figure:
    """Anger, trust and entrenchment after each trainee turn (turn 0 is the start of the call)."""
    fig = Figure(figsize=(6.4, 3.3), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    points = debrief.mood_trajectory
    turns = [n for n, _ in points]
    for var, colour in COLOURS.items():
        ax.plot(turns, [getattr(m, var) for _, m in points], marker="o", color=colour, label=var)
    ax.set_ylim(0, 100)
    ax.set_xlabel("trainee turn (0 = start)")
    ax.set_ylabel("level (0-100)")
    ax.set_title("The caller's mood")
    if turns:
        ax.set_xticks(turns)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=3, fontsize="small", frameon=False)
    if debrief.outcome:
        ax.annotate(debrief.outcome.replace("_", " "), xy=(1, 0), xycoords="axes fraction",
                    xytext=(-4, 4), textcoords="offset points", ha="right", fontsize="small")  # fmt: skip
    return fig


def score_figure(debrief: Debrief) -> Figure:
    """Perspective-taking per trainee turn; manipulative turns in red, ungraded turns marked."""
    fig = Figure(figsize=(6.4, 2.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    turns = [s.turn for s in debrief.turns]
    values = [s.perspective_taking if s.perspective_taking is not None else 0 for s in debrief.turns]
    colours = ["#b91c1c" if s.manipulative else "#2563eb" for s in debrief.turns]
    bars = ax.bar(turns, values, color=colours)
    for bar, s in zip(bars, debrief.turns, strict=True):
        label = "ungraded" if s.perspective_taking is None else str(s.perspective_taking)
        label += " manip." if s.manipulative else ""
        if label:
            ax.annotate(label, xy=(bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                        textcoords="offset points", ha="center", fontsize="x-small")  # fmt: skip
    ax.set_ylim(0, 4.4)
    ax.set_yticks(range(5))
    ax.set_xlabel("trainee turn")
    ax.set_ylabel("perspective-taking")
    ax.set_title("Your score per turn (red: manipulative)")
    if turns:
        ax.set_xticks(turns)
    ax.grid(axis="y", alpha=0.3)
    return fig
