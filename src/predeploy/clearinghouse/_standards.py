"""Validators and normalisers for the standard fields of a vulnerability report.

CVSS 3.0/3.1/4.0 vectors (through the `cvss` package), package URLs (through
`packageurl-python`), CPE 2.3 formatted strings (NISTIR 7695), OSV 1.7 affected ranges,
CWE ids, MITRE ATLAS technique ids and OWASP Top 10 for LLM Applications 2025 ids.

Pure functions, no I/O. Every failure is an `InvalidInput` whose message starts with the
field (or the dotted path inside it) and says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import semver
from cvss import CVSS3, CVSS4, CVSSError, constants3, constants4  # type: ignore[import-untyped]
from packageurl import PackageURL

from ..errors import InvalidInput

CvssVersion = Literal["3.0", "3.1", "4.0"]
JsonValue = str | float

# --------------------------------------------------------------------------------------- CVSS

_CVSS_PREFIXES: dict[str, CvssVersion] = {
    "CVSS:3.0/": "3.0",
    "CVSS:3.1/": "3.1",
    "CVSS:4.0/": "4.0",
}

# Allowed values per metric, in the package's order (which is the specification's order).
_V3_VALUES: dict[str, tuple[str, ...]] = {
    metric: tuple(values) for metric, values in constants3.METRICS_VALUES.items()
}
_V4_VALUES: dict[str, tuple[str, ...]] = {
    metric: tuple(values) for metric, values in constants4.METRICS_VALUE_NAMES.items()
}
_V3_JSON_KEYS: dict[str, str] = dict(constants3.METRICS_ABBREVIATIONS_JSON)
_V3_MANDATORY: tuple[str, ...] = tuple(constants3.METRICS_MANDATORY)
_V4_MANDATORY: tuple[str, ...] = tuple(constants4.METRICS_MANDATORY)

_V4_THREAT = frozenset({"E"})
_V4_ENVIRONMENTAL = frozenset(
    {"CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA"}
)

# The FIRST cvss-v4.0 JSON schema (as bundled in CVE JSON 5.1.1): property name and enum value
# for each metric letter. The `cvss` package's CVSS4.as_json() disagrees with it on most keys
# and on several values (issue #74 and more: "version": "4", ADJACENT_NETWORK, POC, NEGLIGIBLE
# for MSC/MSI/MSA, title-case severity, modified metrics filled from the base ones), and the
# schema forbids additional properties, so the v4 JSON is built from the parsed metrics here.
_HLN = {"H": "HIGH", "L": "LOW", "N": "NONE"}
_AV = {"N": "NETWORK", "A": "ADJACENT", "L": "LOCAL", "P": "PHYSICAL"}
_AC = {"L": "LOW", "H": "HIGH"}
_AT = {"N": "NONE", "P": "PRESENT"}
_PR = {"N": "NONE", "L": "LOW", "H": "HIGH"}
_UI = {"N": "NONE", "P": "PASSIVE", "A": "ACTIVE"}
_REQ = {"H": "HIGH", "M": "MEDIUM", "L": "LOW"}
_V4_JSON: dict[str, tuple[str, dict[str, str]]] = {
    "AV": ("attackVector", _AV),
    "AC": ("attackComplexity", _AC),
    "AT": ("attackRequirements", _AT),
    "PR": ("privilegesRequired", _PR),
    "UI": ("userInteraction", _UI),
    "VC": ("vulnConfidentialityImpact", _HLN),
    "VI": ("vulnIntegrityImpact", _HLN),
    "VA": ("vulnAvailabilityImpact", _HLN),
    "SC": ("subConfidentialityImpact", _HLN),
    "SI": ("subIntegrityImpact", _HLN),
    "SA": ("subAvailabilityImpact", _HLN),
    "E": ("exploitMaturity", {"A": "ATTACKED", "P": "PROOF_OF_CONCEPT", "U": "UNREPORTED"}),
    "CR": ("confidentialityRequirement", _REQ),
    "IR": ("integrityRequirement", _REQ),
    "AR": ("availabilityRequirement", _REQ),
    "MAV": ("modifiedAttackVector", _AV),
    "MAC": ("modifiedAttackComplexity", _AC),
    "MAT": ("modifiedAttackRequirements", _AT),
    "MPR": ("modifiedPrivilegesRequired", _PR),
    "MUI": ("modifiedUserInteraction", _UI),
    "MVC": ("modifiedVulnConfidentialityImpact", _HLN),
    "MVI": ("modifiedVulnIntegrityImpact", _HLN),
    "MVA": ("modifiedVulnAvailabilityImpact", _HLN),
    "MSC": ("modifiedSubConfidentialityImpact", _HLN),
    "MSI": ("modifiedSubIntegrityImpact", {**_HLN, "S": "SAFETY"}),
    "MSA": ("modifiedSubAvailabilityImpact", {**_HLN, "S": "SAFETY"}),
    "S": ("Safety", {"N": "NEGLIGIBLE", "P": "PRESENT"}),
    "AU": ("Automatable", {"N": "NO", "Y": "YES"}),
    "R": ("Recovery", {"A": "AUTOMATIC", "U": "USER", "I": "IRRECOVERABLE"}),
    "V": ("valueDensity", {"D": "DIFFUSE", "C": "CONCENTRATED"}),
    "RE": ("vulnerabilityResponseEffort", {"L": "LOW", "M": "MODERATE", "H": "HIGH"}),
    "U": (
        "providerUrgency",
        {"Clear": "CLEAR", "Green": "GREEN", "Amber": "AMBER", "Red": "RED"},
    ),
}


@dataclass(frozen=True)
class CvssScore:
    """A checked CVSS vector with its score.

    `base_score` is the package's score of the whole vector: for 3.x the base score (temporal
    and environmental metrics do not change it); for 4.0 the one CVSS 4 score, which takes threat
    and environmental metrics into account, so `nomenclature` (CVSS-B, CVSS-BT, CVSS-BE or
    CVSS-BTE, as the 4.0 specification asks) says which it is. `severity` is "None", "Low",
    "Medium", "High" or "Critical".
    """

    version: CvssVersion
    vector: str
    base_score: float
    severity: str
    nomenclature: str | None
    json_items: tuple[tuple[str, JsonValue], ...]

    def as_json(self) -> dict[str, JsonValue]:
        """The FIRST CVSS JSON form (cvss-v3.0, cvss-v3.1 or cvss-v4.0 schema), a fresh dict."""
        return dict(self.json_items)


def parse_cvss(vector: str, field: str = "cvss") -> CvssScore:
    """Check and score a CVSS 3.0, 3.1 or 4.0 vector string.

    The vector is returned cleaned (metrics in the specification's order, `X` values dropped).
    A malformed vector raises InvalidInput naming the metric at fault; CVSS 2 is refused.
    """
    text = vector.strip()
    version = _cvss_version(text, field)
    try:
        parsed: Any = CVSS3(text) if version != "4.0" else CVSS4(text)
    except CVSSError as exc:
        raise InvalidInput(_cvss_problem(text, version, field, exc), field=field) from exc
    clean = str(parsed.clean_vector())
    score = float(parsed.scores()[0])
    severity = str(parsed.severities()[0])
    if version == "4.0":
        metrics = _metrics_of(clean)
        json_items = _v4_json(clean, metrics, score, severity)
        nomenclature = _v4_nomenclature(metrics)
    else:
        json_items = _v3_json(clean)
        nomenclature = None
    return CvssScore(
        version=version,
        vector=clean,
        base_score=score,
        severity=severity,
        nomenclature=nomenclature,
        json_items=json_items,
    )


def _cvss_version(text: str, field: str) -> CvssVersion:
    for prefix, version in _CVSS_PREFIXES.items():
        if text.startswith(prefix):
            return version
    if text.startswith("CVSS:2") or "Au" in _metrics_of(text):
        raise InvalidInput(
            f"{field}: CVSS 2 vectors are not accepted; give a CVSS 3.0, 3.1 or 4.0 vector",
            field=field,
        )
    head = text.split("/", 1)[0]
    raise InvalidInput(
        f"{field}: a vector starts with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/ (got {head!r})",
        field=field,
    )


def _metrics_of(text: str) -> dict[str, str]:
    """The METRIC:VALUE pairs of a vector, without its prefix and parts that are not pairs."""
    pairs: dict[str, str] = {}
    for part in text.split("/"):
        metric, sep, value = part.partition(":")
        if sep and metric != "CVSS":
            pairs[metric] = value
    return pairs


def _cvss_problem(text: str, version: CvssVersion, field: str, exc: CVSSError) -> str:
    """The first fault in `text`, naming the metric; the package found one, so there is one."""
    allowed = _V4_VALUES if version == "4.0" else _V3_VALUES
    mandatory = _V4_MANDATORY if version == "4.0" else _V3_MANDATORY
    seen: set[str] = set()
    for position, part in enumerate(text.split("/")[1:], start=1):
        if not part:
            return f"{field}: empty metric at position {position} (a doubled or trailing '/')"
        metric, sep, value = part.partition(":")
        if not sep or ":" in value:
            return f"{field}: {part!r} is not a METRIC:VALUE pair"
        if metric not in allowed:
            return f"{field}: unknown metric {metric} in a CVSS {version} vector"
        if metric in seen:
            return f"{field}: metric {metric} appears twice"
        seen.add(metric)
        if value not in allowed[metric]:
            return (
                f"{field}: metric {metric} has no value {value}"
                f" (allowed: {', '.join(allowed[metric])})"
            )
    missing = [metric for metric in mandatory if metric not in seen]
    if len(missing) == 1:
        return f"{field}: mandatory metric {missing[0]} is missing"
    if missing:
        return f"{field}: mandatory metrics {', '.join(missing)} are missing"
    # Only a rule that the checks above do not know can land here; say what the package said.
    return f"{field}: not a valid CVSS {version} vector ({exc})"


def _v3_json(clean: str) -> tuple[tuple[str, JsonValue], ...]:
    # From the cleaned vector: the package echoes the vector it was given (the schema's pattern
    # wants the cleaned one) and lists a metric group that is only given as X.
    data: dict[str, JsonValue] = dict(CVSS3(clean).as_json(minimal=True))
    # The package fills modified metrics the vector leaves out with the base values, which
    # scores the same but claims modifications nobody made.
    given = _metrics_of(clean)
    for metric, key in _V3_JSON_KEYS.items():
        if key in data and metric not in given and metric not in _V3_MANDATORY:
            data[key] = "NOT_DEFINED"
    return tuple(data.items())


def _v4_json(
    clean: str, metrics: Mapping[str, str], score: float, severity: str
) -> tuple[tuple[str, JsonValue], ...]:
    items: list[tuple[str, JsonValue]] = [
        ("version", "4.0"),
        ("vectorString", clean),
        ("baseScore", score),
        ("baseSeverity", severity.upper()),
    ]
    for metric, value in metrics.items():
        key, names = _V4_JSON[metric]
        items.append((key, names[value]))
    return tuple(items)


def _v4_nomenclature(metrics: Mapping[str, str]) -> str:
    threat = "T" if _V4_THREAT & metrics.keys() else ""
    environmental = "E" if _V4_ENVIRONMENTAL & metrics.keys() else ""
    return f"CVSS-B{threat}{environmental}"


# ------------------------------------------------------------------------------ purl and CPE


def parse_purl(text: str, field: str) -> str:
    """The canonical form of a package URL (type lower-cased, per-type name rules applied).

    Type and name are required, as the purl specification says.
    """
    try:
        purl = PackageURL.from_string(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{field}: not a valid package URL: {exc}", field=field) from exc
    return str(purl.to_string())


_CPE_COMPONENTS = (
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
)
# NISTIR 7695 §6.2 formatted-string grammar: unreserved characters stand alone, every other
# printable one is quoted with a backslash, and unquoted "?" runs or one "*" may open or close.
_CPE_UNRESERVED = r"[a-z0-9._-]"
_CPE_PUNCT = "\\*?!\"#$%&'()+,/:;<=>@[]^`{|}~"
_CPE_QUOTED = r"\\[" + re.escape(_CPE_PUNCT) + "]"
_CPE_VALUE = re.compile(
    rf"\*|-|(?:\?+|\*)?(?:{_CPE_UNRESERVED}|{_CPE_QUOTED})+(?:\?+|\*)?", re.ASCII
)
_CPE_LANGUAGE = re.compile(r"\*|-|[a-z]{2,3}(?:-(?:[a-z]{2}|[0-9]{3}))?", re.ASCII)


def parse_cpe(text: str, field: str) -> str:
    """A CPE 2.3 formatted string, checked against NISTIR 7695 and lower-cased.

    The 2.2 URI binding (`cpe:/a:...`) is refused: it has other escaping rules.
    """
    cpe = text.strip().lower()
    if cpe.startswith("cpe:/"):
        raise InvalidInput(
            f"{field}: the CPE 2.2 URI binding is not accepted; give a CPE 2.3 formatted string"
            " (cpe:2.3:part:vendor:product:...)",
            field=field,
        )
    if not cpe.startswith("cpe:2.3:"):
        raise InvalidInput(f"{field}: a CPE 2.3 name starts with cpe:2.3:", field=field)
    values = _split_cpe(cpe[len("cpe:2.3:") :], field)
    if len(values) != len(_CPE_COMPONENTS):
        raise InvalidInput(
            f"{field}: a CPE 2.3 name has 13 colon-separated components"
            f" (cpe:2.3:{':'.join(_CPE_COMPONENTS)}); got {len(values) + 2}",
            field=field,
        )
    if values[0] not in ("a", "o", "h"):
        raise InvalidInput(
            f"{field}: component part is {values[0]!r}; it must be a (application),"
            " o (operating system) or h (hardware)",
            field=field,
        )
    for name, value in zip(_CPE_COMPONENTS[1:], values[1:], strict=True):
        pattern = _CPE_LANGUAGE if name == "language" else _CPE_VALUE
        if not pattern.fullmatch(value):
            raise InvalidInput(
                f"{field}: component {name} {_cpe_value_problem(name, value)}", field=field
            )
    return cpe


def _split_cpe(body: str, field: str) -> list[str]:
    """Split on the colons that are not quoted."""
    values = [""]
    chars = iter(body)
    for char in chars:
        if char == ":":
            values.append("")
        elif char == "\\":
            quoted = next(chars, None)
            if quoted is None:
                raise InvalidInput(f"{field}: the CPE name ends with a lone backslash", field=field)
            values[-1] += char + quoted
        else:
            values[-1] += char
    return values


def _cpe_value_problem(name: str, value: str) -> str:
    if not value:
        return "is empty (use * for ANY or - for not applicable)"
    if name == "language":
        return f"{value!r} is not a language tag such as en or en-us (or * or -)"
    if not value.strip("*?"):
        return f"{value!r} has wildcards but no value"
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            quoted = value[index + 1]
            if quoted not in _CPE_PUNCT:
                return f"{value!r} quotes {quoted!r}, which must stand unquoted"
            index += 2
            continue
        if char in _CPE_PUNCT and char not in "*?":
            return f"{value!r} has {char!r} unquoted (write it as \\{char})"
        if not re.fullmatch(_CPE_UNRESERVED, char, re.ASCII) and char not in "*?":
            return f"{value!r} has {char!r}, which a CPE name cannot contain"
        index += 1
    return f"{value!r} may have * or a run of ? only at its start or end"


def package_key(purl_or_cpe: str, field: str = "package") -> str:
    """The affected product without its version, for dedupe fingerprints.

    A purl keeps type, namespace and name in canonical form (`pkg:pypi/django`); a CPE keeps
    part, vendor and product (`cpe:2.3:a:djangoproject:django`). The prefix stays so that the
    two kinds of key never collide.
    """
    text = purl_or_cpe.strip()
    if text.startswith("pkg:"):
        purl = PackageURL.from_string(parse_purl(text, field))
        return str(PackageURL(type=purl.type, namespace=purl.namespace, name=purl.name).to_string())
    if text.lower().startswith("cpe:"):
        part, vendor, product = parse_cpe(text, field).split(":")[2:5]
        if "*" in (vendor, product) or "-" in (vendor, product):
            raise InvalidInput(
                f"{field}: the CPE names no vendor and product (* or -), so it has no package key",
                field=field,
            )
        return f"cpe:2.3:{part}:{vendor}:{product}"
    raise InvalidInput(
        f"{field}: expected a package URL (pkg:...) or a CPE 2.3 name (cpe:2.3:...)", field=field
    )


# -------------------------------------------------------------------------------- OSV ranges

_RANGE_TYPES = ("SEMVER", "ECOSYSTEM", "GIT")
_RANGE_KEYS = frozenset({"type", "repo", "events", "database_specific"})
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)


def validate_ranges(ranges: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Check OSV 1.7 `affected[].ranges` and return normalised copies.

    Rules of the OSV schema: type SEMVER, ECOSYSTEM or GIT; GIT needs `repo` and full 40- or
    64-hex commits (returned lower-cased); each event has exactly one of introduced, fixed,
    last_affected, limit; at least one introduced; fixed and last_affected never in one range.
    SEMVER versions must be SemVer 2.0 (no leading "v"). "0" is allowed as introduced and "*"
    as limit (the OSV specification's special values).
    """
    if not isinstance(ranges, list):
        raise InvalidInput(f"{field}: must be a list of ranges", field=field)
    return [_validate_range(item, f"{field}.{index}") for index, item in enumerate(ranges)]


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", field=path)


def _validate_range(item: object, path: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _fail(path, "a range must be an object")
    unknown = sorted(set(item) - _RANGE_KEYS)
    if unknown:
        raise _fail(
            f"{path}.{unknown[0]}",
            "unknown field (a range has type, repo, events, database_specific)",
        )
    range_type = item.get("type")
    if range_type not in _RANGE_TYPES:
        raise _fail(f"{path}.type", f"must be one of {', '.join(_RANGE_TYPES)}; got {range_type!r}")
    result: dict[str, Any] = {"type": range_type}
    repo = item.get("repo")
    if repo is None and range_type == "GIT":
        raise _fail(f"{path}.repo", "a GIT range needs repo, the repository URL")
    if repo is not None:
        if not isinstance(repo, str) or not repo.strip():
            raise _fail(f"{path}.repo", "must be a non-empty string (the repository URL)")
        result["repo"] = repo.strip()
    events = item.get("events")
    if not isinstance(events, list) or not events:
        raise _fail(f"{path}.events", "must be a non-empty list of events")
    result["events"] = [
        _validate_event(event, range_type, f"{path}.events.{index}")
        for index, event in enumerate(events)
    ]
    kinds = {next(iter(event)) for event in result["events"]}
    if "introduced" not in kinds:
        raise _fail(f"{path}.events", "needs at least one introduced event")
    if {"fixed", "last_affected"} <= kinds:
        raise _fail(f"{path}.events", "fixed and last_affected cannot both appear in one range")
    if "database_specific" in item:
        if not isinstance(item["database_specific"], dict):
            raise _fail(f"{path}.database_specific", "must be an object")
        result["database_specific"] = dict(item["database_specific"])
    return result


def _validate_event(event: object, range_type: str, path: str) -> dict[str, str]:
    if not isinstance(event, dict) or len(event) != 1:
        raise _fail(path, f"an event is an object with exactly one of {', '.join(_EVENT_KINDS)}")
    ((kind, value),) = event.items()
    if kind not in _EVENT_KINDS:
        raise _fail(path, f"unknown event {kind!r} (expected one of {', '.join(_EVENT_KINDS)})")
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{path}.{kind}", "must be a non-empty string")
    value = value.strip()
    special = (kind == "introduced" and value == "0") or (
        kind == "limit" and value == "*" and range_type != "GIT"
    )
    if special:
        return {kind: value}
    if range_type == "GIT":
        commit = value.lower()
        if not _COMMIT.fullmatch(commit):
            raise _fail(
                f"{path}.{kind}",
                f"{value!r} is not a full commit hash (40 or 64 hex digits)",
            )
        return {kind: commit}
    if range_type == "SEMVER" and not semver.Version.is_valid(value):
        hint = " (drop the leading 'v')" if semver.Version.is_valid(value[1:]) else ""
        raise _fail(f"{path}.{kind}", f"{value!r} is not a SemVer 2.0 version{hint}")
    return {kind: value}


# ---------------------------------------------------------------- CWE, ATLAS, OWASP LLM Top 10

_CWE = re.compile(r"(?:CWE-)?([1-9][0-9]*)", re.ASCII | re.IGNORECASE)
_ATLAS = re.compile(r"AML\.T[0-9]{4}(?:\.[0-9]{3})?", re.ASCII)
_OWASP_LLM = re.compile(r"LLM([0-9]{1,2})(?::2025)?", re.ASCII)

OWASP_LLM_TOP10_2025: dict[str, str] = {
    "LLM01": "Prompt Injection",
    "LLM02": "Sensitive Information Disclosure",
    "LLM03": "Supply Chain",
    "LLM04": "Data and Model Poisoning",
    "LLM05": "Improper Output Handling",
    "LLM06": "Excessive Agency",
    "LLM07": "System Prompt Leakage",
    "LLM08": "Vector and Embedding Weaknesses",
    "LLM09": "Misinformation",
    "LLM10": "Unbounded Consumption",
}


def parse_cwe(text: str, field: str = "cwe") -> str:
    """`CWE-79`, `cwe-79` or `79` as `CWE-79` (the form CVE JSON 5 and CSAF use)."""
    match = _CWE.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            f"{field}: {text!r} is not a CWE id (expected CWE-<number>, e.g. CWE-79)", field=field
        )
    return f"CWE-{match.group(1)}"


def parse_atlas_technique(text: str, field: str = "atlas_technique") -> str:
    """A MITRE ATLAS technique (`AML.T0051`) or sub-technique (`AML.T0051.000`) id, upper-cased.

    Only the form is checked: the ATLAS catalogue itself is not shipped here.
    """
    technique = text.strip().upper()
    if not _ATLAS.fullmatch(technique):
        raise InvalidInput(
            f"{field}: {text!r} is not an ATLAS technique id (expected AML.T0000 or AML.T0000.000)",
            field=field,
        )
    return technique


def parse_owasp_llm(text: str, field: str = "owasp_llm") -> str:
    """An OWASP Top 10 for LLM Applications 2025 id: `LLM01`..`LLM10` (also `llm1`, `LLM01:2025`)."""
    match = _OWASP_LLM.fullmatch(text.strip().upper())
    number = int(match.group(1)) if match else 0
    if not 1 <= number <= len(OWASP_LLM_TOP10_2025):
        raise InvalidInput(
            f"{field}: {text!r} is not an OWASP Top 10 for LLM Applications 2025 id"
            " (expected LLM01 to LLM10)",
            field=field,
        )
    return f"LLM{number:02d}"
