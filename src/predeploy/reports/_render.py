"""The report's renderings: one self-contained HTML page, and a PDF of its aggregates.

Both are made from the document and show the SHA-256 of its canonical bytes, which is what the
signature covers: a reader checks the JSON with `predeploy report verify`, then that the
rendering names the same digest. The HTML has no script and no external resource (styles and
SVG charts are inline); the PDF is drawn from it by WeasyPrint with a URL fetcher that refuses
every URL, so rendering never touches the network or the file system, whatever the text says.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from ..campaigns.schemas import reference_model_label
from ..determination import CellStats, Comparison, CriterionResult, Evidence, Interval
from ..errors import InvalidInput
from ._charts import (
    Milestone,
    Span,
    as_utc,
    axes,
    comparison_chart,
    each_thresholds,
    percent,
    rate_text,
    signed_text,
    solve_rate_chart,
    target_cells,
    timeline_chart,
)
from .schemas import CampaignRecord, PlanRecord, ReportDocument

logger = logging.getLogger(__name__)

VERIFY_COMMAND = (
    "predeploy report verify REPORT.json --signature REPORT.json.sig --public-key agency.pem"
)
"""How a reader checks the signed JSON (the file names `predeploy report download` writes)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")

_OUTCOMES = {"met": "met", "cannot_be_ruled_out": "cannot be ruled out", "not_met": "not met"}


# --- template data -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CriterionView:
    criterion: CriterionResult
    groups: list[tuple[str, list[Evidence]]]
    """Its rates grouped by outcome (met first), for a criterion that judges each category."""


@dataclass(frozen=True)
class _ResultRow:
    category: str
    cells: list[CellStats | None]
    """The target's cell at each suite level; None where nothing ran."""


@dataclass(frozen=True)
class _ReferenceView:
    label: str
    model: str | None
    chart: Markup
    rows: list[tuple[str, list[Comparison | None]]]
    """Per category, the comparison at each suite level; None where neither model ran."""
    overall: Comparison | None


@dataclass(frozen=True)
class _Event:
    label: str
    at: datetime


@dataclass(frozen=True)
class _PlanView:
    plan: PlanRecord
    campaigns: list[str]


def _checked_sha256(sha256: str) -> str:
    digest = sha256.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise InvalidInput(
            "sha256: expected the 64 hexadecimal digits of the report's SHA-256", field="sha256"
        )
    return digest


def _criterion_view(criterion: CriterionResult) -> _CriterionView:
    groups = [
        (outcome, [e for e in criterion.evidence if e.outcome == outcome]) for outcome in _OUTCOMES
    ]
    return _CriterionView(criterion, [(outcome, items) for outcome, items in groups if items])


def _result_rows(document: ReportDocument) -> list[_ResultRow]:
    categories, levels = axes(document.determination)
    cells = target_cells(document.determination)
    return [
        _ResultRow(category, [cells.get((category, level)) for level in levels])
        for category in categories
    ]


def _references(document: ReportDocument) -> list[_ReferenceView]:
    determination = document.determination
    models = {
        reference_model_label(reference.label): reference.model
        for campaign in document.campaigns
        for reference in campaign.plan.reference_models
    }
    categories, levels = axes(determination)
    views = []
    for index, reference in enumerate(determination.references, start=1):
        places = {
            (c.category, c.level): c for c in determination.comparisons if c.reference == reference
        }
        views.append(
            _ReferenceView(
                label=reference,
                model=models.get(reference),
                chart=Markup(  # noqa: S704 (every text in the chart is escaped by _charts)
                    comparison_chart(determination, reference, chart_id=f"comparison-{index}")
                ),
                rows=[
                    (category, [places.get((category, level)) for level in levels])
                    for category in categories
                ],
                overall=places.get((None, None)),
            )
        )
    return views


def _campaign_name(campaign: CampaignRecord) -> str:
    return f"Campaign {campaign.id}"


def _timeline(document: ReportDocument) -> tuple[list[Milestone], list[Span]]:
    window = document.submission.window
    dated: list[tuple[str, datetime | None]] = [
        ("Submitted", window.submitted_at),
        ("Access granted", window.access_granted_at),
        # Named apart only when it differs: access granted before the window may open.
        (
            "Testing window opens",
            window.window_start if window.window_start != window.access_granted_at else None,
        ),
        ("Report due", window.report_due_at),
        ("Access expires", window.access_expires_at),
        ("Planned release", window.planned_release_at),
        ("Report created", document.report.created_at),
        ("Report issued", document.report.issued_at),
    ]
    spans = []
    # Testing starts when access is granted but no earlier than the window allows; a report of
    # schema 1 did not record that start, and its window is not drawn rather than drawn wrong.
    if window.window_start is not None:
        spans.append(Span("Testing window", window.window_start, window.report_due_at))
    if window.access_granted_at is not None:
        spans.append(Span("Model access", window.access_granted_at, window.access_expires_at))
    for campaign in document.campaigns:
        name = _campaign_name(campaign)
        if campaign.started_at is not None and campaign.finished_at is not None:
            spans.append(Span(name, campaign.started_at, campaign.finished_at, campaign=True))
        else:
            dated.append((f"{name} started", campaign.started_at))
            dated.append((f"{name} finished", campaign.finished_at))
    milestones = [Milestone(label, at) for label, at in dated if at is not None]
    return milestones, spans


def _events(milestones: list[Milestone], spans: list[Span]) -> list[_Event]:
    events = [_Event(m.label, m.at) for m in milestones]
    for span in spans:
        if span.campaign:
            events.append(_Event(f"{span.label} started", span.start))
            events.append(_Event(f"{span.label} finished", span.end))
    return sorted(events, key=lambda e: as_utc(e.at))


def _plans(document: ReportDocument) -> list[_PlanView]:
    by_digest: dict[str, _PlanView] = {}
    for campaign in document.campaigns:
        view = by_digest.setdefault(campaign.plan.digest, _PlanView(campaign.plan, []))
        view.campaigns.append(campaign.id)
    return list(by_digest.values())


def _context(document: ReportDocument, sha256: str, *, aggregates_only: bool) -> dict[str, Any]:
    determination = document.determination
    milestones, spans = _timeline(document)
    # The charts escape every text they draw (see _charts), so they go into the page as markup.
    return {
        "doc": document,
        "sha256": sha256,
        "verify_command": VERIFY_COMMAND,
        "aggregates_only": aggregates_only,
        "draft": document.report.status != "issued",
        "determination": determination,
        "verdict": determination.verdict,
        "criteria": [_criterion_view(c) for c in determination.verdict.criteria],
        "criteria_per_level": Counter(c.level_id for c in determination.verdict.criteria),
        "confidence": percent(determination.settings.confidence),
        "suite_levels": axes(determination)[1],
        "result_rows": _result_rows(document),
        "thresholds": each_thresholds(determination),
        "solve_rate_chart": Markup(solve_rate_chart(determination)),  # noqa: S704
        "references": _references(document),
        "timeline_chart": Markup(timeline_chart(milestones, spans)),  # noqa: S704
        "events": _events(milestones, spans),
        "plans": _plans(document),
    }


# --- filters -------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return "\u2013" if moment is None else f"{as_utc(moment):%Y-%m-%d %H:%M} UTC"


def _interval(interval: Interval | None) -> str:
    if interval is None:
        return "\u2013"
    return f"[{rate_text(interval.low)}, {rate_text(interval.high)}]"


def _signed_interval(interval: Interval | None) -> str:
    if interval is None:
        return "\u2013"
    return f"[{signed_text(interval.low)}, {signed_text(interval.high)}]"


def _whole(value: float | None) -> str:
    return "\u2013" if value is None else f"{value:,.0f}"


def _dollars(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _share(value: float) -> str:
    return f"{value:.1%}"


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


@functools.cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("predeploy.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        when=_when,
        rate=rate_text,
        rate_or_none=lambda value: "(no data)" if value is None else rate_text(value),
        signed=signed_text,
        interval=_interval,
        signed_interval=_signed_interval,
        share=_share,
        whole=_whole,
        dollars=_dollars,
        outcome=lambda value: _OUTCOMES.get(value, value),
        as_json=_as_json,
    )
    return environment.get_template("report.html.j2")


def _html(document: ReportDocument, sha256: str, *, aggregates_only: bool) -> str:
    context = _context(document, _checked_sha256(sha256), aggregates_only=aggregates_only)
    return _template().render(context)


def render_html(document: ReportDocument, sha256: str) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no script, nothing to
    fetch) showing `sha256`, the SHA-256 of the signed JSON, and how to verify it."""
    return _html(document, sha256, aggregates_only=False)


# --- PDF -----------------------------------------------------------------------------------


def _refuse(url: str) -> NoReturn:
    """What the PDF renderer gets for any URL: nothing (and a warning, since a report should
    never reference one)."""
    logger.warning("report PDF: refused to fetch %.200r", url)
    raise PermissionError(f"a report rendering fetches nothing: {url[:200]!r}")


@functools.cache
def _weasyprint() -> tuple[Any, Any]:
    """WeasyPrint, imported on first use (it takes about a second), and its refusing fetcher."""
    import weasyprint  # type: ignore[import-untyped]

    # Its warnings concern resources (all refused, and logged above) and CSS (ours, tested);
    # at INFO it narrates every rendering step.
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)

    class RefusingFetcher(weasyprint.URLFetcher):  # type: ignore[misc]
        """Fetches nothing: every URL is refused (WeasyPrint then leaves the resource out)."""

        def fetch(self, url: str, headers: object = None) -> NoReturn:
            _refuse(url)

    return weasyprint, RefusingFetcher


def _pdf_from_html(html: str) -> bytes:
    weasyprint, fetcher = _weasyprint()
    pdf: bytes = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher()).write_pdf()
    return pdf


def render_pdf(document: ReportDocument, sha256: str) -> bytes:
    """The report as a PDF of aggregates only: the determination, rates and intervals per
    category and level, comparisons, findings' text and `sha256`, without anything
    sample-level (transcript links). Nothing is fetched while rendering."""
    return _pdf_from_html(_html(document, sha256, aggregates_only=True))
