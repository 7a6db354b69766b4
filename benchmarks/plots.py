"""Plot a run's figures as PNGs (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Figure, RunResult


def plot_all(result: RunResult, out_dir: Path) -> list[Path]:
    """One PNG per figure that has series; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    for fig in result.figures:
        if not fig.series or fig.error:
            continue
        drawer = _DRAWERS.get(fig.key)
        if drawer is None:
            continue
        pf, ax = plt.subplots(figsize=(7.5, 4.2))
        drawer(ax, fig)
        ax.set_title(fig.title, fontsize=10)
        load = fig.load_before[0]
        pf.text(0.99, 0.01, f"load avg {load:.1f} ({result.started})", ha="right", va="bottom", fontsize=7)
        pf.tight_layout()
        path = out_dir / f"{fig.key}.png"
        pf.savefig(path, dpi=110)
        plt.close(pf)
        written.append(path)
    return written


def _overhead(ax: object, fig: Figure) -> None:
    names = ["validate", "persist_turn", "appraise", "persist_grade", "state_update", "persist_mood",
             "caller_chain", "persist_reply", "pre_model"]  # fmt: skip
    data = [fig.series.get(f"stage_ms.{n}", []) for n in names]
    ax.boxplot(data, showfliers=False)  # type: ignore[attr-defined]
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, fontsize=7)  # type: ignore[attr-defined]
    ax.axhline(15, linestyle="--", linewidth=0.8)  # type: ignore[attr-defined]
    ax.set_ylabel("ms per turn (15 ms budget dashed)")  # type: ignore[attr-defined]


def _grading(ax: object, fig: Figure) -> None:
    keys = [k for k in fig.series if k.endswith(("first_shown", "caller_done", "wall", "grader_alone"))]
    ax.boxplot([fig.series[k] for k in keys], showfliers=False)  # type: ignore[attr-defined]
    ax.set_xticks(range(1, len(keys) + 1), keys, rotation=30, fontsize=7)  # type: ignore[attr-defined]
    ax.set_ylabel("seconds")  # type: ignore[attr-defined]


def _appraiser(ax: object, fig: Figure) -> None:
    ax.hist(fig.series["latency_ms"], bins=60)  # type: ignore[attr-defined]
    ax.axvline(10, linestyle="--", linewidth=0.8)  # type: ignore[attr-defined]
    ax.set_xlabel("ms per turn (10 ms p95 target dashed)")  # type: ignore[attr-defined]
    ax.set_yscale("log")  # type: ignore[attr-defined]


def _suites(ax: object, fig: Figure) -> None:
    levels = [1, 4, 16]
    for key, values in fig.series.items():
        ax.plot(levels, values, marker="o", label=key)  # type: ignore[attr-defined]
    ax.set_xscale("log", base=2)  # type: ignore[attr-defined]
    ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.set_xlabel("concurrency")  # type: ignore[attr-defined]
    ax.set_ylabel("items / s")  # type: ignore[attr-defined]
    ax.legend(fontsize=7)  # type: ignore[attr-defined]


def _growth(ax: object, fig: Figure) -> None:
    for key, values in fig.series.items():
        ax.plot(range(1, len(values) + 1), values, label=key)  # type: ignore[attr-defined]
    budget = fig.numbers.get("budget")
    if budget:
        ax.axhline(budget, linestyle="--", linewidth=0.8, label="budget")  # type: ignore[attr-defined]
    ax.set_xlabel("trainee turn")  # type: ignore[attr-defined]
    ax.set_ylabel("caller prompt tokens")  # type: ignore[attr-defined]
    ax.legend(fontsize=7)  # type: ignore[attr-defined]


_DRAWERS = {
    "overhead": _overhead,
    "grading": _grading,
    "appraiser": _appraiser,
    "suites": _suites,
    "prompt_growth": _growth,
}
