"""The report's HTML and PDF renderings, and their inline SVG charts."""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from markupsafe import escape as html_escape

from predeploy.determination import CATEGORIES
from predeploy.errors import InvalidInput
from predeploy.reports._charts import (
    Milestone,
    Span,
    comparison_chart,
    solve_rate_chart,
    timeline_chart,
)
from predeploy.reports._render import VERIFY_COMMAND, _pdf_from_html, render_html, render_pdf
from predeploy.reports.schemas import ReportDocument
from tests.reports.factories import (
    START,
    TARGET,
    TESTED_CATEGORIES,
    TRANSCRIPT_SAMPLE_ID,
    UNTESTED_CATEGORIES,
    document_sha256,
    finding,
    reference_label,
    report_document,
    synthetic_outcomes,
)

HOSTILE = "<img src=x onerror=alert(1)>"
RENDER_LOGGER = "predeploy.reports._render"


def svgs(html: str) -> list[ET.Element]:
    """Every inline <svg> of a page, parsed as XML (raises if one is not well-formed)."""
    return [ET.fromstring(match) for match in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def issued() -> ReportDocument:
    return report_document(status="issued")


@pytest.fixture(scope="module")
def issued_html(issued: ReportDocument) -> str:
    return render_html(issued, document_sha256(issued))


@pytest.fixture(scope="module")
def issued_pdf(issued: ReportDocument) -> bytes:
    return render_pdf(issued, document_sha256(issued))


class _Recorder(BaseHTTPRequestHandler):
    """Counts every request it gets (a rendering must send none)."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server on 127.0.0.1: (its port, the paths requested from it)."""
    requests: list[str] = []
    handler = type("Handler", (_Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()


# --- HTML ----------------------------------------------------------------------------------


def test_html_shows_the_digest_the_key_and_how_to_verify(issued: ReportDocument, issued_html: str):
    sha256 = document_sha256(issued)
    assert f'<p class="digest" id="sha256">{sha256}</p>' in issued_html
    assert issued.issuer.key_id in issued_html
    assert VERIFY_COMMAND in issued_html
    assert "--public-key agency.pem" in issued_html
    assert issued.model.name in issued_html and issued.model.developer.name in issued_html


def test_html_states_the_determined_level_and_each_criterion(
    issued: ReportDocument, issued_html: str
):
    verdict = issued.determination.verdict
    assert verdict.status == "determined" and verdict.level is not None
    assert f"Level {verdict.level}" in issued_html
    assert verdict.highest_level_not_ruled_out is not None
    assert f"{verdict.highest_level_not_ruled_out} cannot be ruled out" in issued_html
    assert verdict.reason in issued_html
    criteria = re.search(r'<table id="criteria">.*?</table>', issued_html, flags=re.S)
    assert criteria is not None
    for criterion in verdict.criteria:
        assert f"<strong>{criterion.criterion_id}</strong>" in criteria.group(0)
    labels = {"met": "met", "cannot_be_ruled_out": "cannot be ruled out", "not_met": "not met"}
    outcomes = re.findall(r'<td class="outcome-(\w+)">([^<]+)</td>\n</tr>', criteria.group(0))
    assert outcomes == [(c.outcome, labels[c.outcome]) for c in verdict.criteria]


def test_html_lists_every_category_of_the_suite_even_without_results(issued_html: str):
    table = re.search(r'<table id="results-table">.*?</table>', issued_html, flags=re.S)
    assert table is not None
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', table.group(0), flags=re.S)
    assert [name for name, _ in rows] == list(CATEGORIES)
    for name, cells in rows:
        if name in UNTESTED_CATEGORIES:
            assert cells.count("no data: not run") == 3
        else:
            assert "no data" not in cells and cells.count("solved") == 3


def test_html_is_self_contained(issued_html: str):
    lowered = issued_html.lower()
    assert "<script" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    assert not re.search(r"\s(src|href|xlink:href|srcset|action)\s*=", lowered)
    assert "url(" not in lowered and "@import" not in lowered
    assert "<style>" in issued_html and "@page" in issued_html


def test_html_has_one_accessible_chart_per_figure_each_followed_by_its_table(issued_html: str):
    charts = svgs(issued_html)
    # Solve rates, one comparison per reference model, the testing window.
    assert len(charts) == 3
    for chart in charts:
        assert chart.get("role") == "img"
        title, desc = chart.find("title"), chart.find("desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert chart.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert all(element.tag != "script" for element in chart.iter())
    figures = re.findall(r"</figure>\s*<(\w+)", issued_html)
    assert figures == ["table"] * 3


def test_html_escapes_hostile_text_everywhere():
    hostile_reference = "old<b>&\"'"
    document = report_document(
        status="draft",
        references=(hostile_reference,),
        findings=[finding(title="<script>alert(1)</script>", text=HOSTILE)],
        model_name="<svg onload=alert(1)>",
    )
    html = render_html(document, document_sha256(document))
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "<script" not in html
    assert "&lt;svg onload=alert(1)&gt;" in html and "<svg onload" not in html
    charts = svgs(html)
    comparison = charts[1]
    title = comparison.find("title")
    assert (
        title is not None
        and title.text == f"Solve rate of {TARGET} minus reference:{hostile_reference}"
    )
    assert all(element.tag != "b" for chart in charts for element in chart.iter())


def test_html_shows_transcript_links_as_plain_ids(issued: ReportDocument, issued_html: str):
    findings = re.search(r'<section id="findings">.*?</section>', issued_html, flags=re.S)
    assert findings is not None
    assert f"<code>{TRANSCRIPT_SAMPLE_ID}</code>" in findings.group(0)
    assert "<a " not in issued_html
    assert issued.findings[0].text in findings.group(0)


def test_draft_marker_shows_for_drafts_only(issued_html: str):
    draft = report_document(status="draft")
    draft_html = render_html(draft, document_sha256(draft))
    assert '<div class="draft-mark" aria-hidden="true">DRAFT</div>' in draft_html
    assert "not issued and carries no signature" in draft_html
    assert "DRAFT" not in issued_html and "draft-mark" not in issued_html


def test_html_shows_window_plan_and_campaigns(issued: ReportDocument, issued_html: str):
    window = re.search(r'<section id="window">.*?</section>', issued_html, flags=re.S)
    assert window is not None
    events = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", window.group(0))
    assert [label for label, _ in events] == [
        "Submitted",
        "Access granted",
        f"Campaign {issued.campaigns[0].id} started",
        f"Campaign {issued.campaigns[0].id} finished",
        "Report created",
        "Report issued",
        "Report due",
        "Access expires",
        "Planned release",
    ]
    assert ("Planned release", f"{START + timedelta(days=30):%Y-%m-%d %H:%M} UTC") in events
    campaign = issued.campaigns[0]
    assert campaign.plan.digest in issued_html
    assert "<code>&#34;react&#34;</code>" in issued_html  # elicitation values as JSON
    assert "rate_limit: 4, sandbox_error: 1" in issued_html
    assert "7, 11" in issued_html


def test_html_of_an_inconclusive_determination_names_no_level():
    labels = [TARGET, reference_label("previous")]
    outcomes = [
        dataclasses.replace(o, error_class="sandbox_error", score=None)
        if o.model_label == TARGET
        else o
        for o in synthetic_outcomes(labels)
    ]
    document = report_document(outcomes=outcomes)
    assert document.determination.verdict.status == "inconclusive"
    html = render_html(document, document_sha256(document))
    assert "Inconclusive: no level determined" in html
    assert html_escape(document.determination.verdict.reason) in html


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_a_malformed_sha256_is_rejected(issued: ReportDocument, bad: str):
    with pytest.raises(InvalidInput) as caught:
        render_html(issued, bad)
    assert caught.value.field == "sha256"


# --- charts --------------------------------------------------------------------------------


def test_solve_rate_chart_draws_every_scored_cell_and_the_thresholds(issued: ReportDocument):
    determination = issued.determination
    chart = ET.fromstring(solve_rate_chart(determination))
    texts = [t.text for t in chart.iter("text")]
    assert all(category in texts for category in CATEGORIES)
    assert texts.count("no data") == len(UNTESTED_CATEGORIES) * 3
    bars = next(p for p in chart.iter("path") if p.get("fill") == "#9dbbe0")
    scored = [c for c in determination.cells if c.model_label == TARGET and c.scored]
    assert bars.get("d", "").count("z") == len(scored)
    thresholds = [p for p in chart.iter("path") if p.get("stroke-dasharray")]
    assert len(thresholds) == 1
    # c1 (level 1), c2 (level 2), c4-expert (level 3) at 0.5 over 8 categories, c4-binary at 0.3.
    assert thresholds[0].get("d", "").count("M") == 8 * 3 + 1


def test_comparison_chart_marks_what_cannot_be_compared():
    reference = reference_label("previous")
    outcomes = synthetic_outcomes([TARGET]) + synthetic_outcomes(
        [reference], categories=CATEGORIES[:3]
    )
    document = report_document(outcomes=outcomes)
    chart = ET.fromstring(comparison_chart(document.determination, reference, chart_id="c-1"))
    texts = [t.text for t in chart.iter("text")]
    assert all(category in texts for category in CATEGORIES) and "overall" in texts
    # Categories only the target ran have no common task; the suite's untested ones did not run.
    assert texts.count("no common task") == (len(TESTED_CATEGORIES) - 3) * 3
    assert texts.count("not run") == len(UNTESTED_CATEGORIES) * 3
    whiskers = next(p for p in chart.iter("path") if p.get("stroke-width") == "1.5")
    compared = [c for c in document.determination.comparisons if c.difference is not None]
    assert len(compared) == 3 * 3 + 1
    assert whiskers.get("d", "").count("M") == 3 * len(compared)


def test_timeline_labels_never_overlap_even_at_the_same_moment():
    same = START
    milestones = [
        Milestone(label, same) for label in ("Access granted", "Campaign started", "Report created")
    ]
    milestones.append(Milestone("Planned release", START + timedelta(days=30)))
    chart = ET.fromstring(
        timeline_chart(milestones, [Span("Model access", START, START + timedelta(days=28))])
    )
    rows = {}
    for text in chart.iter("text"):
        if text.text in {m.label for m in milestones}:
            rows.setdefault(text.get("y"), []).append(text.text)
    assert sorted(len(labels) for labels in rows.values()) == [1, 1, 2]
    with pytest.raises(ValueError, match="at least one"):
        timeline_chart([], [])


def test_chart_text_that_is_not_valid_xml_is_replaced():
    chart = timeline_chart([Milestone("bad\x00\x1b\ud800 & <x>", START)], [])
    element = ET.fromstring(chart)
    assert any(t.text == "bad\ufffd\ufffd\ufffd & <x>" for t in element.iter("text"))


# --- PDF -----------------------------------------------------------------------------------


def test_pdf_carries_the_aggregates_but_no_sample(
    issued: ReportDocument, issued_pdf: bytes, tmp_path: Path
):
    assert issued_pdf.startswith(b"%PDF")
    text = pdf_text(issued_pdf, tmp_path)
    assert document_sha256(issued) in text
    assert f"Level {issued.determination.verdict.level}" in text
    for category in CATEGORIES:
        assert category in text
    assert issued.findings[0].text in text
    assert TRANSCRIPT_SAMPLE_ID not in text
    assert "DRAFT" not in text
    assert re.search(r"Page 1 of \d+", text)


def test_pdf_fetches_nothing_a_finding_names(
    listener: tuple[int, list[str]], caplog: pytest.LogCaptureFixture, tmp_path: Path
):
    port, requests = listener
    image = f'<img src="http://127.0.0.1:{port}/x">'
    document = report_document(status="draft", findings=[finding(text=image)])
    with caplog.at_level(logging.WARNING, logger=RENDER_LOGGER):
        pdf = render_pdf(document, document_sha256(document))
    assert requests == []
    assert not [r for r in caplog.records if r.name == RENDER_LOGGER]  # the fetcher was not called
    text = pdf_text(pdf, tmp_path)
    assert image in text  # shown as the text it is
    assert "DRAFT" in text


def test_pdf_renderer_refuses_every_url_it_is_given(
    listener: tuple[int, list[str]], caplog: pytest.LogCaptureFixture
):
    port, requests = listener
    html = (
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/style.css">'
        f'<img src="http://127.0.0.1:{port}/pixel.png"><img src="file:///etc/hostname">'
        "<p>text</p>"
    )
    with caplog.at_level(logging.WARNING, logger=RENDER_LOGGER):
        pdf = _pdf_from_html(html)
    assert pdf.startswith(b"%PDF")
    assert requests == []
    refused = " ".join(r.getMessage() for r in caplog.records if r.name == RENDER_LOGGER)
    assert "/style.css" in refused and "/pixel.png" in refused and "/etc/hostname" in refused
    assert all(r.name == RENDER_LOGGER for r in caplog.records)  # WeasyPrint itself stays quiet


def test_html_gives_cost_per_solve_for_priced_models_and_says_which_are_not():
    labels = [TARGET, reference_label("previous")]
    outcomes = [
        dataclasses.replace(o, cost=0.01) if o.model_label == TARGET else o
        for o in synthetic_outcomes(labels)
    ]
    document = report_document(outcomes=outcomes)
    target, reference = document.determination.models
    assert target.cost_per_success is not None and reference.cost is None
    html = render_html(document, document_sha256(document))
    models = re.search(r"<h3>Models</h3>.*?</table>", html, flags=re.S)
    assert models is not None
    rows = {
        row.split("<")[0].strip(): row
        for row in re.findall(r"<tr><td>(.*?)</tr>", models.group(0), flags=re.S)
    }
    assert f"${target.cost_per_success:.4f}" in rows[TARGET]
    assert "not priced" in rows[reference_label("previous")]
    priced_cell = next(c for c in document.determination.cells if c.cost_per_success)
    assert (
        f"{priced_cell.tokens_per_success:,.0f} tokens, ${priced_cell.cost_per_success:.4f} per solve"
        in html
    )


def _with_window(document: ReportDocument, **fields: object) -> ReportDocument:
    window = document.submission.window.model_copy(update=fields)
    return document.model_copy(
        update={"submission": document.submission.model_copy(update={"window": window})}
    )


def _timeline_description(html: str) -> str:
    window = re.search(r'<section id="window">.*?</section>', html, flags=re.S)
    assert window is not None
    (chart,) = svgs(window.group(0))
    desc = next(element for element in chart.iter() if element.tag.endswith("desc"))
    return desc.text or ""


def test_the_testing_window_starts_at_its_start_not_at_access(issued: ReportDocument) -> None:
    # Access granted 40 days before the release: testing may start only 30 days before it.
    release = issued.submission.window.planned_release_at
    granted, start = release - timedelta(days=40), release - timedelta(days=30)
    early = _with_window(issued, access_granted_at=granted, window_start=start)
    html = render_html(early, document_sha256(early))
    description = _timeline_description(html)
    due = issued.submission.window.report_due_at
    assert f"Testing window: {start:%Y-%m-%d %H:%M} to {due:%Y-%m-%d %H:%M}" in description
    assert f"Model access: {granted:%Y-%m-%d %H:%M}" in description
    assert f"Testing window: {granted:%Y-%m-%d %H:%M}" not in description
    assert ("Testing window opens", f"{start:%Y-%m-%d %H:%M} UTC") in re.findall(
        r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", html
    )
    assert "Compressed window" not in html


def test_a_compressed_window_is_flagged(issued: ReportDocument, issued_html: str) -> None:
    compressed = _with_window(issued, compressed=True)
    assert "Compressed window" in render_html(compressed, document_sha256(compressed))
    assert "Compressed window" not in issued_html


def test_a_schema_1_report_without_a_window_start_draws_no_testing_window(
    issued: ReportDocument,
) -> None:
    old = _with_window(issued, window_start=None, compressed=None)
    description = _timeline_description(render_html(old, document_sha256(old)))
    assert "Testing window:" not in description
    assert "Model access:" in description
