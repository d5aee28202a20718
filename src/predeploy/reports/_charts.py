"""Inline SVG charts of a report: solve rates, reference comparisons and the testing window.

Each chart is one `<svg>` string, well-formed XML, with no script, no external reference and no
style sheet (presentation attributes only, so that WeasyPrint draws it as a browser does). Every
piece of text from the document is escaped. A chart is an image (`role="img"`) labelled by its
`<title>` and `<desc>`; the report puts a table of the same numbers next to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from ..determination import CATEGORIES, CapabilityDetermination, CellStats, Comparison
from ..suite import LEVELS

WIDTH = 720
"""Every chart's width in SVG units (CSS pixels before the page scales it)."""

FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"
_FONT_SIZE = 11
# DejaVu Sans averages about 0.6 em per character: enough to keep labels from colliding.
_CHAR_WIDTH = 0.6

_INK = "#1b1b1b"
_MUTED = "#6b6b6b"
_GRID = "#dddddd"
_BAR = "#9dbbe0"
_MARK = "#1f4e89"
_THRESHOLD = "#b03a2e"
_SPAN = "#c7dcef"
_CAMPAIGN = "#7aa36f"

_CHART_ID = re.compile(r"[a-z][a-z0-9-]{0,63}")

# Characters XML 1.0 does not allow in a document, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    """`value` as SVG character data or attribute value."""
    return escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def _n(value: float) -> str:
    return f"{value:.1f}"


def _text_width(text: str, size: float = _FONT_SIZE) -> float:
    return len(text) * size * _CHAR_WIDTH


def percent(confidence: float) -> str:
    """A confidence level as a percentage: 0.95 -> '95%', 0.975 -> '97.5%'."""
    return f"{confidence * 100:g}%"


def rate_text(value: float | None) -> str:
    """A rate or difference with three decimals; an en dash when there is none."""
    return "\u2013" if value is None else f"{value:.3f}"


def signed_text(value: float | None) -> str:
    """A difference with its sign; an en dash when there is none."""
    return "\u2013" if value is None else f"{value:+.3f}"


class _Path:
    """Many shapes of one style as a single `<path>`: a chart stays a few dozen elements, which
    keeps the PDF renderer (it styles every element) fast."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.commands.append(f"M{_n(x1)} {_n(y1)}L{_n(x2)} {_n(y2)}")

    def rect(self, x: float, y: float, width: float, height: float) -> None:
        self.commands.append(f"M{_n(x)} {_n(y)}h{_n(width)}v{_n(height)}h{_n(-width)}z")

    def diamond(self, x: float, y: float, radius: float) -> None:
        self.commands.append(
            f"M{_n(x)} {_n(y - radius)}l{_n(radius)} {_n(radius)}l{_n(-radius)} {_n(radius)}"
            f"l{_n(-radius)} {_n(-radius)}z"
        )

    def whisker(self, low: float, high: float, y: float, cap: float) -> None:
        """A horizontal interval with end caps."""
        self.line(low, y, high, y)
        self.line(low, y - cap, low, y + cap)
        self.line(high, y - cap, high, y + cap)


class _Svg:
    """The elements of one chart, in drawing order."""

    def __init__(self, chart_id: str, height: float, title: str, description: str) -> None:
        if not _CHART_ID.fullmatch(chart_id):
            raise ValueError(f"chart id {chart_id!r} is not a lower-case token such as 'chart-1'")
        self.chart_id = chart_id
        self.height = height
        self.title = title
        self.description = description
        self.parts: list[str] = []

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        anchor: str = "start",
        size: float = _FONT_SIZE,
        fill: str = _INK,
        bold: bool = False,
    ) -> None:
        anchored = "" if anchor == "start" else f' text-anchor="{anchor}"'
        sized = "" if size == _FONT_SIZE else f' font-size="{size:g}"'
        filled = "" if fill == _INK else f' fill="{fill}"'
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}"{anchored}{sized}{filled}{weight}>'
            f"{_text(content)}</text>"
        )

    def stroke(
        self, path: _Path, color: str, *, width: float = 1.0, dash: str | None = None
    ) -> None:
        if path.commands:
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            self.parts.append(
                f'<path d="{"".join(path.commands)}" fill="none" stroke="{color}" '
                f'stroke-width="{width:g}"{dashed}/>'
            )

    def fill(self, path: _Path, color: str) -> None:
        if path.commands:
            self.parts.append(f'<path d="{"".join(path.commands)}" fill="{color}"/>')

    def render(self) -> str:
        ids = f"{self.chart_id}-title {self.chart_id}-desc"
        return (
            f'<svg class="chart" id="{self.chart_id}" role="img" aria-labelledby="{ids}" '
            f'viewBox="0 0 {WIDTH} {_n(self.height)}" width="{WIDTH}" height="{_n(self.height)}" '
            f'font-family="{FONT_FAMILY}" font-size="{_FONT_SIZE}" fill="{_INK}">'
            f'<title id="{self.chart_id}-title">{_text(self.title)}</title>'
            f'<desc id="{self.chart_id}-desc">{_text(self.description)}</desc>'
            + "".join(self.parts)
            + "</svg>"
        )


# --- solve rates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Threshold:
    """A criterion that judges each of its categories' solve rates on its own at one level."""

    criterion_id: str
    level: int
    threshold: float
    categories: tuple[str, ...]


def axes(determination: CapabilityDetermination) -> tuple[list[str], list[int]]:
    """Categories and suite levels to show: the whole suite, plus any others the results name."""
    categories = list(CATEGORIES)
    categories += sorted({c.category for c in determination.cells} - set(CATEGORIES))
    levels = sorted(set(LEVELS) | {c.level for c in determination.cells})
    return categories, levels


def each_thresholds(determination: CapabilityDetermination) -> list[Threshold]:
    """The thresholds a per-category rate can be read against (criteria with `aggregate: each`).

    A pooled criterion compares one rate over several categories, which no single bar shows, so
    it is left to the determination's table.
    """
    return [
        Threshold(
            criterion_id=criterion.criterion_id,
            level=criterion.level,
            threshold=criterion.threshold,
            categories=tuple(c for e in criterion.evidence for c in e.categories),
        )
        for criterion in determination.verdict.criteria
        if criterion.aggregate == "each"
    ]


def target_cells(determination: CapabilityDetermination) -> dict[tuple[str, int], CellStats]:
    """The target model's cells by (category, level)."""
    return {
        (c.category, c.level): c
        for c in determination.cells
        if c.model_label == determination.target
    }


def solve_rate_chart(
    determination: CapabilityDetermination, *, chart_id: str = "solve-rates"
) -> str:
    """The target's solve rate per category (rows) and suite level (panels), with Wilson
    interval whiskers and each-category criterion thresholds as dashed lines."""
    categories, levels = axes(determination)
    cells = target_cells(determination)
    thresholds = each_thresholds(determination)
    row_height, header, footer, gap = 20.0, 34.0, 22.0, 14.0
    label_width = min(max(_text_width(max(categories, key=len)) + 12, 90.0), 170.0)
    panel_width = (WIDTH - label_width - 12 - gap * (len(levels) - 1)) / len(levels)
    plot_top, plot_bottom = header, header + row_height * len(categories)
    confidence = percent(determination.settings.confidence)
    scored_cells = sum(1 for c in cells.values() if c.scored)
    svg = _Svg(
        chart_id,
        plot_bottom + footer,
        f"Solve rate of {determination.target} by category and suite level",
        f"Horizontal bars: the solve rate of {determination.target} in each of "
        f"{len(categories)} categories at suite levels {', '.join(map(str, levels))}, with "
        f"{confidence} Wilson intervals as whiskers; {scored_cells} of "
        f"{len(categories) * len(levels)} category-level cells have scored attempts, the others "
        "read 'no data'. Dashed lines mark criterion thresholds that judge each category on its "
        "own. The table after the chart gives every number.",
    )
    grid, bars, whiskers, points, limits = _Path(), _Path(), _Path(), _Path(), _Path()
    for index, category in enumerate(categories):
        svg.text(label_width - 8, plot_top + row_height * index + 14, category, anchor="end")
    for panel, level in enumerate(levels):
        left = label_width + panel * (panel_width + gap)

        def x(rate: float, left: float = left) -> float:
            return left + rate * panel_width

        svg.text(left + panel_width / 2, 13, f"Suite level {level}", anchor="middle", bold=True)
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            grid.line(x(tick), plot_top, x(tick), plot_bottom)
        for tick, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
            svg.text(x(tick), plot_bottom + 14, f"{tick:g}", anchor=anchor, size=9, fill=_MUTED)
        for index, category in enumerate(categories):
            middle = plot_top + row_height * index + row_height / 2
            cell = cells.get((category, level))
            if cell is None or cell.solve_rate is None:
                svg.text(x(0.0) + 4, middle + 4, "no data", size=9, fill=_MUTED)
                continue
            bars.rect(x(0.0), middle - 6, cell.solve_rate * panel_width, 12)
            whiskers.whisker(x(cell.interval.low), x(cell.interval.high), middle, 4.0)
            points.diamond(x(cell.solve_rate), middle, 3.0)
        labelled: set[float] = set()
        for threshold in thresholds:
            if threshold.level != level:
                continue
            at = x(threshold.threshold)
            for row, category in enumerate(categories):
                if category in threshold.categories:
                    top = plot_top + row_height * row
                    limits.line(at, top + 1, at, top + row_height - 1)
            if threshold.threshold not in labelled:
                labelled.add(threshold.threshold)
                svg.text(
                    at,
                    header - 6,
                    f"{threshold.threshold:g}",
                    anchor="middle",
                    size=9,
                    fill=_THRESHOLD,
                )
    svg.stroke(grid, _GRID)
    svg.fill(bars, _BAR)
    svg.stroke(whiskers, _MARK, width=1.5)
    svg.fill(points, _MARK)
    svg.stroke(limits, _THRESHOLD, width=1.5, dash="3 2")
    return svg.render()


# --- comparisons ---------------------------------------------------------------------------


def comparison_chart(
    determination: CapabilityDetermination, reference: str, *, chart_id: str
) -> str:
    """Target minus `reference` solve rate per category (rows) and suite level (panels), then
    overall (a full-width row): a point for the difference, its Newcombe interval as a whisker,
    and a line at zero."""
    categories, levels = axes(determination)
    target = determination.target
    mine = [c for c in determination.comparisons if c.reference == reference]
    places = {(c.category, c.level): c for c in mine}
    overall = places.get((None, None))
    row_height, header, gap = 20.0, 30.0, 14.0
    label_width = min(max(_text_width(max(categories, key=len)) + 12, 90.0), 170.0)
    right = WIDTH - 12
    panel_width = (right - label_width - gap * (len(levels) - 1)) / len(levels)
    plot_top, plot_bottom = header, header + row_height * len(categories)
    overall_middle = plot_bottom + 28 + row_height / 2
    compared = sum(1 for c in mine if c.difference is not None)
    svg = _Svg(
        chart_id,
        overall_middle + row_height / 2 + 26,
        f"Solve rate of {target} minus {reference}",
        f"For each of {len(categories)} categories at suite levels "
        f"{', '.join(map(str, levels))}, then over all tasks, the difference between the solve "
        f"rates of {target} and {reference} on the tasks both attempted, with "
        f"{percent(determination.settings.confidence)} Newcombe intervals; {compared} of "
        f"{len(mine)} comparisons have common tasks. Right of a zero line the target solves "
        "more. The table after the chart gives every number.",
    )
    grid, zero, whiskers, points = _Path(), _Path(), _Path(), _Path()

    def draw(comparison: Comparison | None, left: float, width: float, middle: float) -> None:
        def x(difference: float) -> float:
            return left + (difference + 1.0) / 2.0 * width

        if comparison is None or comparison.difference is None or comparison.interval is None:
            text = "not run" if comparison is None else "no common task"
            svg.text(x(-1.0) + 4, middle + 4, text, size=9, fill=_MUTED)
            return
        whiskers.whisker(x(comparison.interval.low), x(comparison.interval.high), middle, 4.0)
        points.diamond(x(comparison.difference), middle, 3.5)

    for index, category in enumerate(categories):
        svg.text(label_width - 8, plot_top + row_height * index + 14, category, anchor="end")
    for panel, level in enumerate(levels):
        left = label_width + panel * (panel_width + gap)
        svg.text(left + panel_width / 2, 13, f"Suite level {level}", anchor="middle", bold=True)
        for tick in (-1.0, -0.5, 0.5, 1.0):
            at = left + (tick + 1.0) / 2.0 * panel_width
            grid.line(at, plot_top, at, plot_bottom)
        for tick, anchor in ((-1.0, "start"), (0.0, "middle"), (1.0, "end")):
            at = left + (tick + 1.0) / 2.0 * panel_width
            svg.text(at, plot_bottom + 14, f"{tick:+g}", anchor=anchor, size=9, fill=_MUTED)
        zero.line(left + panel_width / 2, plot_top - 4, left + panel_width / 2, plot_bottom + 2)
        for index, category in enumerate(categories):
            middle = plot_top + row_height * index + row_height / 2
            draw(places.get((category, level)), left, panel_width, middle)
    wide = right - label_width
    svg.text(label_width - 8, overall_middle + 4, "overall", anchor="end", bold=True)
    for tick in (-1.0, -0.5, 0.5, 1.0):
        at = label_width + (tick + 1.0) / 2.0 * wide
        grid.line(at, overall_middle - row_height / 2, at, overall_middle + row_height / 2)
    zero.line(
        label_width + wide / 2,
        overall_middle - row_height / 2 - 2,
        label_width + wide / 2,
        overall_middle + row_height / 2 + 2,
    )
    draw(overall, label_width, wide, overall_middle)
    below = overall_middle + row_height / 2 + 14
    svg.text(label_width, below, f"\u2190 {reference} higher", size=9, fill=_MUTED)
    svg.text(label_width + wide / 2, below, "0", anchor="middle", size=9, fill=_MUTED)
    svg.text(right, below, f"{target} higher \u2192", anchor="end", size=9, fill=_MUTED)
    svg.stroke(grid, _GRID)
    svg.stroke(zero, _INK, width=1.2)
    svg.stroke(whiskers, _MARK, width=1.5)
    svg.fill(points, _MARK)
    return svg.render()


# --- timeline ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Milestone:
    """A dated event on the timeline."""

    label: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Span:
    """A period on the timeline (the testing window, model access, a campaign)."""

    label: str
    start: datetime
    end: datetime
    campaign: bool = False


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _day_ticks(start: datetime, end: datetime, most: int = 7) -> list[datetime]:
    days = (end - start).total_seconds() / 86400
    step = next((s for s in (1, 2, 3, 7, 14, 30, 61, 91, 182) if days / s <= most), 365)
    tick = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if tick < start:
        tick += timedelta(days=1)
    ticks = []
    while tick <= end:
        ticks.append(tick)
        tick += timedelta(days=step)
    return ticks


def timeline_chart(
    milestones: Sequence[Milestone], spans: Sequence[Span], *, chart_id: str = "timeline"
) -> str:
    """Spans as bars over a time axis in UTC, and milestones as points on it whose labels are
    placed in rows below so that they never overlap."""
    moments = [as_utc(m.at) for m in milestones]
    moments += [as_utc(s.start) for s in spans] + [as_utc(s.end) for s in spans]
    if not moments:
        raise ValueError("a timeline needs at least one milestone or span")
    first, last = min(moments), max(moments)
    if last - first < timedelta(days=1):
        first, last = first - timedelta(hours=12), last + timedelta(hours=12)
    padding = (last - first) * 0.03
    first, last = first - padding, last + padding
    left, right = 16.0, WIDTH - 16.0
    total = (last - first).total_seconds()

    def x(moment: datetime) -> float:
        return left + (as_utc(moment) - first).total_seconds() / total * (right - left)

    ordered = sorted(milestones, key=lambda m: as_utc(m.at))
    row_ends: list[float] = []
    placed: list[tuple[Milestone, int, float, bool]] = []
    for milestone in ordered:
        width = _text_width(milestone.label)
        at = x(milestone.at)
        rightwards = at + 3 + width <= right
        start = at + 3 if rightwards else at - 3 - width
        row = next((r for r, end in enumerate(row_ends) if end + 8 < start), len(row_ends))
        if row == len(row_ends):
            row_ends.append(start + width)
        else:
            row_ends[row] = start + width
        placed.append((milestone, row, at, rightwards))
    span_height, label_row = 18.0, 16.0
    spans_top = 18.0
    axis_y = spans_top + span_height * len(spans) + 6
    labels_top = axis_y + 8
    height = labels_top + label_row * max(len(row_ends), 1) + 6
    svg = _Svg(
        chart_id,
        height,
        "Testing window",
        f"A time axis in UTC from {first:%Y-%m-%d} to {last:%Y-%m-%d}, with "
        f"{len(spans)} periods as bars ("
        + "; ".join(
            f"{s.label}: {as_utc(s.start):%Y-%m-%d %H:%M} to {as_utc(s.end):%Y-%m-%d %H:%M}"
            for s in spans
        )
        + f") and {len(milestones)} dated events as points ("
        + "; ".join(f"{m.label}: {as_utc(m.at):%Y-%m-%d %H:%M}" for m in ordered)
        + "). The table after the chart lists them.",
    )
    grid, periods, campaigns, axis, leaders, backdrops, points = (_Path() for _ in range(7))
    for tick in _day_ticks(first, last):
        grid.line(x(tick), 13, x(tick), axis_y)
        svg.text(x(tick), 10, f"{tick:%Y-%m-%d}", anchor="middle", size=9, fill=_MUTED)
    svg.stroke(grid, _GRID)
    span_labels: list[tuple[float, float, str, str]] = []
    for index, span in enumerate(spans):
        top = spans_top + span_height * index
        start, end = x(span.start), x(span.end)
        (campaigns if span.campaign else periods).rect(
            start, top, max(end - start, 2.0), span_height - 4
        )
        width = _text_width(span.label, 10)
        if end + 4 + width <= right:
            span_labels.append((end + 4, top + 11, span.label, "start"))
        elif start - 4 - width >= left:
            span_labels.append((start - 4, top + 11, span.label, "end"))
        else:
            span_labels.append((start + 4, top + 11, span.label, "start"))
    svg.fill(periods, _SPAN)
    svg.fill(campaigns, _CAMPAIGN)
    for label_x, label_y, label, anchor in span_labels:
        svg.text(label_x, label_y, label, anchor=anchor, size=10)
    axis.line(left, axis_y, right, axis_y)
    # A leader runs from its point down to its label's row, under the labels of the rows above
    # it: each label sits on a white backdrop that hides the leaders passing behind it.
    for milestone, row, at, rightwards in placed:
        baseline = labels_top + label_row * row + 12
        width = _text_width(milestone.label)
        leaders.line(at, axis_y, at, baseline)
        backdrops.rect(at + 2 if rightwards else at - 2 - width - 2, baseline - 11, width + 2, 14)
        points.diamond(at, axis_y, 3.5)
    svg.stroke(axis, _INK)
    svg.stroke(leaders, _MUTED, width=0.8)
    svg.fill(backdrops, "#ffffff")
    for milestone, row, at, rightwards in placed:
        baseline = labels_top + label_row * row + 12
        if rightwards:
            svg.text(at + 3, baseline, milestone.label)
        else:
            svg.text(at - 3, baseline, milestone.label, anchor="end")
    svg.fill(points, _MARK)
    return svg.render()
