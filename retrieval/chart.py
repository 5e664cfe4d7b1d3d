"""A PNG bar chart comparing retrieval methods. matplotlib lives here and nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb.errors import MedKBError

CHART_METRICS = ("nDCG@10", "R@1", "R@5", "R@20", "MRR")


def methods_chart(result: dict[str, Any], path: Path) -> Path:
    """Grouped bars: one group per metric, one bar per method, from an evaluate() result."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MedKBError("the chart needs matplotlib: `pip install 'medkb[eval]'` "
                         "(or `pip install matplotlib`)") from exc
    methods = list(result["methods"])
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    for j, method in enumerate(methods):
        values = [result["methods"][method].get(m, 0.0) for m in CHART_METRICS]
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(CHART_METRICS))]
        bars = ax.bar(xs, values, width, label=method)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=1)
    ax.set_xticks(range(len(CHART_METRICS)), CHART_METRICS)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.set_title(f"{result.get('dataset', 'retrieval')}: {result.get('n_queries')} queries, "
                 f"{result.get('passages')} passages ({result.get('embedder')})", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
