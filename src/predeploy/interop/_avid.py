"""A published advisory about an AI model as an AVID report (the AI Vulnerability Database's
report format, data version 0.2, as `avidtools.datamodels.report.Report` defines it).

`avidtools` itself is not a dependency (its releases for Python 3.11 pin pydantic 1): the models
below mirror its fields and the enumeration values we emit, and the tests hold an export to them.

The mapping:

| advisory | AVID |
|---|---|
| number | `metadata.report_id` (AVID assigns its own ids when a report is accepted) |
| each affected model | an `affects.artifacts` entry of type `Model` (`developer/model version`); its developer in `affects.developer` |
| title; summary and details | `problemtype.description`; `description` |
| case vulnerabilities | a `metrics` entry each, with its CVSS and SSVC decision where scored |
| references | `references` (`label` is the OSV reference type) |
| credits | `credit` |
| published | `reported_date` |

AVID's taxonomy: the clearinghouse's AI-model flaws are safeguard bypasses found in pre-release
evaluation, so `risk_domain` is `Security`, `sep_view` `S0400: Model Bypass`, and
`lifecycle_view` `L05: Evaluation`; `problemtype.classof` is `LLM Evaluation` and its type
`Advisory`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..clearinghouse.schemas import AdvisoryDocument

AVID_DATA_VERSION = "0.2"


class _Avid(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LangValue(_Avid):
    lang: str
    value: str


class Artifact(_Avid):
    type: Literal["Dataset", "Model", "System"]
    name: str


class Affects(_Avid):
    developer: list[str]
    deployer: list[str]
    artifacts: list[Artifact]


class Problemtype(_Avid):
    classof: Literal["AIID Incident", "ATLAS Case Study", "CVE Entry", "LLM Evaluation",
                     "Undefined"]  # fmt: skip
    type: Literal["Issue", "Advisory", "Measurement", "Detection"] | None
    description: LangValue


class Detection(_Avid):
    type: Literal["Significance Test", "Static Threshold"]
    name: str


class Metric(_Avid):
    name: str
    detection_method: Detection
    results: dict[str, Any]


class Reference(_Avid):
    type: str | None
    label: str
    url: str


class AvidTaxonomy(_Avid):
    vuln_id: str | None = None
    risk_domain: list[Literal["Security", "Ethics", "Performance"]]
    sep_view: list[str]
    lifecycle_view: list[str]
    taxonomy_version: str


class Impact(_Avid):
    avid: AvidTaxonomy


class ReportMetadata(_Avid):
    report_id: str


class Report(_Avid):
    """An AVID report."""

    data_type: Literal["AVID"] = "AVID"
    data_version: str = AVID_DATA_VERSION
    metadata: ReportMetadata
    affects: Affects
    problemtype: Problemtype
    metrics: list[Metric]
    references: list[Reference]
    description: LangValue
    impact: Impact
    credit: list[LangValue]
    reported_date: date


def avid_applies(document: AdvisoryDocument) -> bool:
    """Whether the advisory names an AI model among its affected products."""
    return any(product.model is not None for product in document.affected)


def advisory_to_avid(document: AdvisoryDocument, published: datetime) -> dict[str, Any]:
    """`document` as an AVID report; call only when `avid_applies`."""
    models = [p.model for p in document.affected if p.model is not None]
    artifacts = [
        Artifact(type="Model", name=" ".join(filter(None, (f"{m.developer}/{m.model}", m.version))))
        for m in models
    ]
    report = Report(
        metadata=ReportMetadata(report_id=document.id),
        affects=Affects(
            developer=sorted({m.developer for m in models}),
            deployer=[],
            artifacts=artifacts,
        ),
        problemtype=Problemtype(
            classof="LLM Evaluation",
            type="Advisory",
            description=LangValue(lang="eng", value=document.title),
        ),
        metrics=[
            Metric(
                name=vulnerability.title,
                detection_method=Detection(type="Static Threshold", name="pre-release evaluation"),
                results={
                    key: value
                    for key, value in (
                        ("cvss_v3", vulnerability.cvss_v3 and vulnerability.cvss_v3.vector),
                        ("cvss_v4", vulnerability.cvss_v4 and vulnerability.cvss_v4.vector),
                        ("ssvc", vulnerability.ssvc),
                    )
                    if value
                },
            )
            for vulnerability in document.vulnerabilities
        ],
        references=[Reference(type="source", label=r.type, url=r.url) for r in document.references],
        description=LangValue(
            lang="eng",
            value="\n\n".join(
                p for p in (document.summary, document.details, document.remediation) if p
            ),
        ),
        impact=Impact(
            avid=AvidTaxonomy(
                risk_domain=["Security"],
                sep_view=["S0400: Model Bypass"],
                lifecycle_view=["L05: Evaluation"],
                taxonomy_version=AVID_DATA_VERSION,
            )
        ),
        credit=[LangValue(lang="eng", value=c.name) for c in document.credits],
        reported_date=published.date(),
    )
    return report.model_dump(mode="json", exclude_none=True)
