"""Tables of results/bench-cpu-2026-12-04/README.md, from its benchmarks.json."""

import json
import sys
from pathlib import Path

from analysis.compare import TIME
from analysis.formatting import format_value

d = json.loads(Path(sys.argv[1]).read_text())


def t(v: float | None) -> str:
    return format_value(TIME, v)


groups = ["log 1 scalar", "log 20 scalars", "log 200 scalars", "log a histogram", "init+finish"]
micro = {}
for b in d["benchmarks"]:
    e = b["extra_info"]
    if e["suite"] == "micro":
        micro.setdefault((e["tracker"], e["tracker_version"]), {})[b["group"][7:]] = b["stats"]
print("| tracker | version | " + " | ".join(groups) + " |")
print("|---|---|" + "---:|" * len(groups))
for (tr, ver), r in sorted(micro.items(), key=lambda kv: kv[1]["log 20 scalars"]["median"]):
    cells = [f"{t(r[g]['median'])} ({r[g]['rounds']})" if g in r else "-" for g in groups]
    print(f"| {tr} | {ver or '-'} | " + " | ".join(cells) + " |")
print()
print(
    "| tracker | version | measure window | / none (unpaired, 95 % CI) | init | finish | CPU "
    "| peak RSS |"
)
print("|---|---|---:|---:|---:|---:|---:|---:|")
macro = [b["extra_info"] for b in d["benchmarks"] if b["extra_info"]["suite"] == "macro"]
for e in sorted(macro, key=lambda e: e["measure_wall_s"]):
    ratio = "baseline" if e["overhead_ratio"] is None else f"{e['overhead_ratio']:.2f}"
    if e["overhead_ci95"]:
        ratio += " [{:.2f}, {:.2f}]".format(*e["overhead_ci95"])
    print(
        f"| {e['tracker']} | {e['tracker_version'] or '-'} | {e['measure_wall_s']:.2f} s | {ratio} "
        f"| {t(e['init_s'])} | {t(e['finish_s'])} | {e['cpu_s']:.1f} s | "
        f"{e['rss_peak_bytes'] / 2**20:.0f} MiB |"
    )
