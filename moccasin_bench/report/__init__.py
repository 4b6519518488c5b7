"""Reports from a results store: the paper-style table (markdown, LaTeX, CSV), scaling,
anytime, budget and performance-profile figures, one schedule drawn, and an index page.

Modules, one job each: `analysis` (store tables -> what is shown), `metrics` (pure
measures), `methods` (readable method names), `published` (the paper's and others' figures), `table`,
`figures`, `schedule`, `style` (matplotlib plumbing), `index` (the page), `build` (all of it).
matplotlib is imported lazily, with the Agg backend.
"""

from moccasin_bench.report.build import ReportRequest, ReportResult, build_report

__all__ = ["ReportRequest", "ReportResult", "build_report"]
