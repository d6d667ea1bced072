"""The W&B claim table of results/regress-cpu-2026-12-05/README.md, from a regress directory.

W&B's benchmark times a whole offline script (100 steps x 100 floats): import, init, the
logging, finish. Per run this takes the same pieces from the record: the tracker library's
import (timed inside the worker's import phase), init, the measure window's time beyond the
same block's `none` run (the logging's cost), finish, and teardown (atexit hooks after finish,
e.g. W&B shutting its service down). Medians over blocks, and the legacy/core ratio of the
per-block totals with its paired 95 % BCa interval (analysis.stats.compare).

    PYTHONPATH=. python results/regress-cpu-2026-12-05/claim.py \
        results/regress-cpu-2026-12-05/wandb-claim-100x100
"""

import json
import statistics
import sys
from pathlib import Path

from analysis.stats import compare

rows = [json.loads(line) for line in (Path(sys.argv[1]) / "runs.jsonl").read_text().splitlines()]
latest = {r["run_id"]: r for r in rows}
ok = [r for r in latest.values() if r["status"] == "ok"]
none = {
    r["spec"]["block"]: r["phases"]["measure"]["wall_s"]
    for r in ok
    if r["spec"]["tracker"] == "none"
}


def pieces(r: dict) -> dict[str, float]:
    p = r["phases"]
    return {
        "import": r["tracker"]["import_s"],
        "init": p["init"]["wall_s"],
        "logging": p["measure"]["wall_s"] - none[r["spec"]["block"]],
        "finish": p["finish"]["wall_s"],
        "teardown": p["teardown"]["wall_s"],
    }


totals: dict[str, dict[int, float]] = {}
print(
    "| wandb | backend | runs | import | init | logging (measure - none) | finish | teardown "
    "| total |"
)
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for config in sorted(
    {r["spec"]["tracker"] for r in ok if r["spec"]["tracker"].startswith("wandb")}
):
    runs = [r for r in ok if r["spec"]["tracker"] == config and r["spec"]["block"] in none]
    per = [pieces(r) for r in runs]
    totals[config] = {r["spec"]["block"]: sum(x.values()) for r, x in zip(runs, per, strict=True)}
    med = {k: statistics.median(x[k] for x in per) for k in per[0]}
    backend = runs[0]["tracker"]["settings"].get("backend")
    cells = " | ".join(f"{v:.2f} s" for v in med.values())
    print(
        f"| {runs[0]['tracker']['version']} | {backend} | {len(runs)} | {cells} | "
        f"{statistics.median(totals[config].values()):.2f} s |"
    )
old, new = sorted(totals)  # wandb-offline@0.17.9, wandb-offline@0.31.0
c = compare(totals[old], totals[new], "ratio", seed=20261205)
print()
print(
    f"Total of {old} / total of {new}: {1 + c.estimate:.2f}x "
    f"(95 % CI {1 + c.ci_low:.2f}x to {1 + c.ci_high:.2f}x, {c.n_pairs} paired blocks, "
    f"Wilcoxon p = {c.p_value:.4f})"
)
