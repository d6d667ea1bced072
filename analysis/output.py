"""Write a report's files: ``DIR/report/{report.md,summary.csv,report.tex,report.html,plots/}``."""

from __future__ import annotations

from pathlib import Path

from analysis.carbon import CarbonSettings
from analysis.plots import render_plots
from analysis.render import render_csv, render_html, render_markdown, render_tex
from analysis.report import DEFAULT_RESAMPLES, DEFAULT_SEED, Report, build_report
from bench.jsonio import write_text_atomic

REPORT_DIR = "report"
PLOT_SUFFIXES = (".png", ".svg")


def _svg_element(text: str) -> str:
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def write_report(
    result_dir: Path,
    out_dir: Path | None = None,
    skip_corrupt: bool = False,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    carbon: CarbonSettings | None = None,
) -> tuple[Report, list[Path]]:
    """Build the report of ``result_dir`` and write its files (default ``result_dir/report``).

    Plots left from an earlier rendering are removed first, so the folder holds exactly this
    rendering. Returns the report and the paths written, sorted.
    """
    result_dir = Path(result_dir)
    report = build_report(
        result_dir, skip_corrupt=skip_corrupt, seed=seed, n_resamples=n_resamples, carbon=carbon
    )
    out_dir = Path(out_dir) if out_dir is not None else result_dir / REPORT_DIR
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    for stale in plots_dir.iterdir():
        if stale.suffix in PLOT_SUFFIXES:
            stale.unlink()
    plots = render_plots(report, result_dir, plots_dir)
    svgs = {  # inlined in the HTML page: the <svg> element, without the XML prolog
        name: _svg_element((plots_dir / name).read_text(encoding="utf-8"))
        for name in plots
        if name.endswith(".svg")
    }
    files = {
        "report.md": render_markdown(report, plots),
        "summary.csv": render_csv(report),
        "report.tex": render_tex(report),
        "report.html": render_html(report, svgs),
    }
    for name, text in files.items():
        write_text_atomic(out_dir / name, text)
    written = [out_dir / name for name in files] + [plots_dir / name for name in plots]
    return report, sorted(written)
