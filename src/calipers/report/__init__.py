"""Reports of runs: the self-contained HTML page of ``calipers run``.

:func:`render_figures` draws the pictures (PNG bytes, needs the ``plot`` extra);
:func:`write_html_report` writes one HTML file with them embedded as base64, no
JavaScript and no external resources. Nothing here is imported by ``import calipers``.
"""

from __future__ import annotations

from calipers.report._figures import Figure, render_figures
from calipers.report._html import fmt_number, render_html, write_html_report

__all__ = ["Figure", "fmt_number", "render_figures", "render_html", "write_html_report"]
