"""Validators and normalisers for the standard fields of a vulnerability report."""

from __future__ import annotations

import copy
import dataclasses
import json
from importlib import resources
from typing import Any

import pytest

from predeploy.clearinghouse._standards import (
    OWASP_LLM_TOP10_2025,
    package_key,
    parse_atlas_technique,
    parse_cpe,
    parse_cvss,
    parse_cwe,
    parse_owasp_llm,
    parse_purl,
    validate_ranges,
)
from predeploy.errors import InvalidInput

V31_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V40_BASE = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
COMMIT = "a" * 40
COMMIT_256 = "0123456789abcdef" * 4


def _error(call: Any, *args: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return caught.value


# ------------------------------------------------------------------------------------- CVSS


@pytest.mark.parametrize(
    ("vector", "version", "score", "severity", "clean"),
    [
        (V31_CRITICAL, "3.1", 9.8, "Critical", V31_CRITICAL),
        # The classic reflected-XSS vector.
        (
            "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
            "3.0",
            6.1,
            "Medium",
            "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
        ),
        # Temporal metrics do not change a 3.x base score; X values are dropped from the vector.
        (
            " CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N/E:P/RL:X ",
            "3.1",
            5.5,
            "Medium",
            "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N/E:P",
        ),
        (V40_BASE, "4.0", 9.3, "Critical", V40_BASE),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N",
            "4.0",
            6.9,
            "Medium",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N",
        ),
        # Out of order in, specification order out.
        (
            "CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/E:X",
            "4.0",
            0.0,
            "None",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
        ),
    ],
)
def test_parse_cvss_scores_real_vectors(
    vector: str, version: str, score: float, severity: str, clean: str
) -> None:
    result = parse_cvss(vector)
    assert (result.version, result.base_score, result.severity, result.vector) == (
        version,
        score,
        severity,
        clean,
    )
    assert result.as_json()["vectorString"] == clean
    assert result.as_json()["baseScore"] == score


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        (
            "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "cvss: metric AV has no value Q (allowed: N, A, L, P)",
        ),
        ("CVSS:3.1/AV:N/PR:N/UI:N/S:U/C:H/I:H/A:H", "cvss: mandatory metric AC is missing"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H", "cvss: mandatory metrics I, A are missing"),
        (
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "cvss: metric AV appears twice",
        ),
        (
            "CVSS:3.1/XX:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "cvss: unknown metric XX in a CVSS 3.1 vector",
        ),
        # AT exists in 4.0 only.
        (
            "CVSS:3.1/AV:N/AT:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "cvss: unknown metric AT in a CVSS 3.1 vector",
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
            "cvss: empty metric at position 9 (a doubled or trailing '/')",
        ),
        ("CVSS:3.1/AV:N/ACL/PR:N", "cvss: 'ACL' is not a METRIC:VALUE pair"),
        (
            "CVSS:4.0/AV:N/AC:L/AT:X/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "cvss: metric AT has no value X (allowed: N, P)",
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
            "cvss: mandatory metric SA is missing",
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/U:amber",
            "cvss: metric U has no value amber (allowed: X, Clear, Green, Amber, Red)",
        ),
        (
            "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "cvss: a vector starts with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/ (got 'AV:N')",
        ),
        (
            "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "cvss: a vector starts with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/ (got 'CVSS:3.2')",
        ),
        ("", "cvss: a vector starts with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/ (got '')"),
        (
            "AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "cvss: CVSS 2 vectors are not accepted; give a CVSS 3.0, 3.1 or 4.0 vector",
        ),
        (
            "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "cvss: CVSS 2 vectors are not accepted; give a CVSS 3.0, 3.1 or 4.0 vector",
        ),
    ],
)
def test_parse_cvss_names_the_metric_at_fault(vector: str, message: str) -> None:
    error = _error(parse_cvss, vector)
    assert error.message == message
    assert error.field == "cvss"


def test_parse_cvss_uses_the_given_field_name() -> None:
    error = _error(parse_cvss, "CVSS:3.1/AV:Q", "severity.0.score")
    assert error.field == "severity.0.score"
    assert error.message.startswith("severity.0.score: metric AV has no value Q")


def test_cvss4_json_uses_the_first_schema_names_and_values() -> None:
    # The package's own CVSS4.as_json() says "4", ADJACENT_NETWORK, POC, "High", and uses
    # property names the schema does not have.
    vector = (
        "CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:P/CR:H/MAV:A"
        "/MSC:N/MSI:S/S:P/AU:Y/R:I/V:C/RE:M/U:Amber"
    )
    result = parse_cvss(vector)
    assert result.as_json() == {
        "version": "4.0",
        "vectorString": vector,
        "baseScore": 8.5,
        "baseSeverity": "HIGH",
        "attackVector": "ADJACENT",
        "attackComplexity": "LOW",
        "attackRequirements": "PRESENT",
        "privilegesRequired": "NONE",
        "userInteraction": "NONE",
        "vulnConfidentialityImpact": "HIGH",
        "vulnIntegrityImpact": "HIGH",
        "vulnAvailabilityImpact": "HIGH",
        "subConfidentialityImpact": "NONE",
        "subIntegrityImpact": "NONE",
        "subAvailabilityImpact": "NONE",
        "exploitMaturity": "PROOF_OF_CONCEPT",
        "confidentialityRequirement": "HIGH",
        "modifiedAttackVector": "ADJACENT",
        "modifiedSubConfidentialityImpact": "NONE",
        "modifiedSubIntegrityImpact": "SAFETY",
        "Safety": "PRESENT",
        "Automatable": "YES",
        "Recovery": "IRRECOVERABLE",
        "valueDensity": "CONCENTRATED",
        "vulnerabilityResponseEffort": "MODERATE",
        "providerUrgency": "AMBER",
    }


def test_cvss3_json_marks_modified_metrics_the_vector_omits_as_not_defined() -> None:
    data = parse_cvss("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:N").as_json()
    assert data["version"] == "3.1"
    assert data["attackVector"] == "ADJACENT_NETWORK"  # the 3.x schema's own spelling
    assert data["baseSeverity"] == "HIGH"
    assert data["modifiedAttackVector"] == "NETWORK"
    assert data["modifiedAttackComplexity"] == "NOT_DEFINED"
    assert data["environmentalScore"] == 9.8


@pytest.mark.parametrize(
    ("suffix", "nomenclature"),
    [
        ("", "CVSS-B"),
        ("/E:A", "CVSS-BT"),
        ("/MAV:L", "CVSS-BE"),
        ("/E:U/CR:H", "CVSS-BTE"),
        ("/S:P/U:Red", "CVSS-B"),  # supplemental metrics do not change the score
    ],
)
def test_cvss4_nomenclature_says_which_score_it_is(suffix: str, nomenclature: str) -> None:
    assert parse_cvss(V40_BASE + suffix).nomenclature == nomenclature


def test_cvss3_has_no_nomenclature_and_threat_metrics_change_a_cvss4_score() -> None:
    assert parse_cvss(V31_CRITICAL).nomenclature is None
    assert parse_cvss(V40_BASE + "/E:U").base_score < parse_cvss(V40_BASE).base_score


def test_cvss_score_is_frozen_and_as_json_is_a_fresh_copy() -> None:
    result = parse_cvss(V31_CRITICAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.vector = "x"  # type: ignore[misc]
    result.as_json()["baseScore"] = 0.0
    assert result.as_json()["baseScore"] == 9.8
    assert result == parse_cvss(V31_CRITICAL + "/E:X")


@pytest.mark.parametrize(
    ("vector", "definition"),
    [
        (V31_CRITICAL + "/E:P/MAV:N/CR:H", "cvssV3_1"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/RL:O", "cvssV3_0"),
        (
            "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:L/SI:H/SA:L/E:A/IR:L/MAT:N"
            "/MPR:L/MUI:P/MVC:H/MVI:L/MVA:N/MSC:H/MSA:S/S:N/AU:N/R:U/V:D/RE:L/U:Clear",
            "cvssV4_0",
        ),
        (V40_BASE + "/MAV:A/MSI:N", "cvssV4_0"),
    ],
)
def test_cvss_json_validates_against_the_cve5_bundled_first_schemas(
    vector: str, definition: str
) -> None:
    # cvelib ships the CVE JSON 5.1 schema, which bundles FIRST's CVSS 3.0/3.1/4.0 schemas.
    pytest.importorskip("cvelib")
    jsonschema = pytest.importorskip("jsonschema")
    bundled = resources.files("cvelib") / "schemas" / "CVE_JSON_bundled_5.1.1.json"
    definitions = json.loads(bundled.read_text())["definitions"]
    schema = {
        "definitions": definitions,
        "$ref": f"#/definitions/metrics/items/properties/{definition}",
    }
    jsonschema.Draft7Validator(schema).validate(parse_cvss(vector).as_json())


# ------------------------------------------------------------------------------------- purl


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        # Type is case-insensitive; a pypi name is lower-cased with "_" as "-" (purl spec).
        ("pkg:PyPI/Django@1.11.1", "pkg:pypi/django@1.11.1"),
        ("pkg:pypi/Django_Rest_Framework@3.0", "pkg:pypi/django-rest-framework@3.0"),
        ("pkg:GitHub/Package-URL/purl-spec@244fd47", "pkg:github/package-url/purl-spec@244fd47"),
        (
            "pkg:maven/org.apache.commons/io@1.3.4?type=jar&classifier=sources",
            "pkg:maven/org.apache.commons/io@1.3.4?classifier=sources&type=jar",
        ),
        # Case is kept where the type's rules do not fold it.
        (" pkg:huggingface/Microsoft/DeBERTa@abc ", "pkg:huggingface/Microsoft/DeBERTa@abc"),
    ],
)
def test_parse_purl_canonicalises(text: str, canonical: str) -> None:
    assert parse_purl(text, "affected.0.purl") == canonical


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("pkg:pypi/", "missing the required name component"),
        ("pkg:/django", "missing the required type component"),
        ("django", 'missing the required "pkg" scheme component'),
        ("pkg:py pi/django", "purl type must be composed only of"),
        ("pkg:pypi/django?debug", "Invalid qualifier"),
    ],
)
def test_parse_purl_refuses_with_the_field_and_the_reason(text: str, reason: str) -> None:
    error = _error(parse_purl, text, "affected.0.purl")
    assert error.field == "affected.0.purl"
    assert error.message.startswith("affected.0.purl: not a valid package URL: ")
    assert reason in error.message


# -------------------------------------------------------------------------------------- CPE


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        (
            "cpe:2.3:a:Microsoft:Internet_Explorer:8.0.6001:beta:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*",
        ),
        (
            "CPE:2.3:O:Linux:Linux_Kernel:6.1:-:*:*:*:*:*:*",
            "cpe:2.3:o:linux:linux_kernel:6.1:-:*:*:*:*:*:*",
        ),
        # NISTIR 7695 examples: quoted punctuation, including a quoted colon and backslash.
        (
            r"cpe:2.3:a:foo\\bar:big\$money_manager_2010:*:*:*:*:special:ipod_touch:80gb:*",
            r"cpe:2.3:a:foo\\bar:big\$money_manager_2010:*:*:*:*:special:ipod_touch:80gb:*",
        ),
        (
            r"cpe:2.3:h:vendor:prod\:uct:1.0:*:*:EN-US:*:*:*:*",
            r"cpe:2.3:h:vendor:prod\:uct:1.0:*:*:en-us:*:*:*:*",
        ),
        # Unquoted wildcards at the start or end of a value.
        (
            "cpe:2.3:a:vendor:product:1.?:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.?:*:*:*:*:*:*:*",
        ),
        (
            "cpe:2.3:a:vendor:product:*1.0*:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:*1.0*:*:*:*:*:*:*:*",
        ),
    ],
)
def test_parse_cpe_normalises(text: str, normalised: str) -> None:
    assert parse_cpe(text, "cpe") == normalised


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "cpe:/a:vendor:product:1.0",
            "cpe: the CPE 2.2 URI binding is not accepted; give a CPE 2.3 formatted string"
            " (cpe:2.3:part:vendor:product:...)",
        ),
        ("cpe:2.2:a:vendor:product", "cpe: a CPE 2.3 name starts with cpe:2.3:"),
        (
            "cpe:2.3:a:vendor:product:1:*:*:*:*:*:*",
            "cpe: a CPE 2.3 name has 13 colon-separated components (cpe:2.3:part:vendor:product"
            ":version:update:edition:language:sw_edition:target_sw:target_hw:other); got 12",
        ),
        (
            "cpe:2.3:x:vendor:product:1:*:*:*:*:*:*:*",
            "cpe: component part is 'x'; it must be a (application), o (operating system)"
            " or h (hardware)",
        ),
        (
            "cpe:2.3:a:vendor::1:*:*:*:*:*:*:*",
            "cpe: component product is empty (use * for ANY or - for not applicable)",
        ),
        (
            "cpe:2.3:a:ven$dor:product:1:*:*:*:*:*:*:*",
            "cpe: component vendor 'ven$dor' has '$' unquoted (write it as \\$)",
        ),
        (
            "cpe:2.3:a:ven dor:product:1:*:*:*:*:*:*:*",
            "cpe: component vendor 'ven dor' has ' ', which a CPE name cannot contain",
        ),
        (
            r"cpe:2.3:a:vendor:product:1\.0:*:*:*:*:*:*:*",
            r"cpe: component version '1\\.0' quotes '.', which must stand unquoted",
        ),
        (
            "cpe:2.3:a:vendor:product:1*0:*:*:*:*:*:*:*",
            "cpe: component version '1*0' may have * or a run of ? only at its start or end",
        ),
        (
            "cpe:2.3:a:vendor:product:??:*:*:*:*:*:*:*",
            "cpe: component version '??' has wildcards but no value",
        ),
        (
            "cpe:2.3:a:vendor:product:1:*:*:english:*:*:*:*",
            "cpe: component language 'english' is not a language tag such as en or en-us"
            " (or * or -)",
        ),
        (
            "cpe:2.3:a:vendor:product:1:*:*:*:*:*:*:\\",
            "cpe: the CPE name ends with a lone backslash",
        ),
    ],
)
def test_parse_cpe_refuses_naming_the_component(text: str, message: str) -> None:
    error = _error(parse_cpe, text, "cpe")
    assert (error.message, error.field) == (message, "cpe")


# ------------------------------------------------------------------------------ package key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("pkg:PyPI/Django_Rest@1.11.1?x=1#sub", "pkg:pypi/django-rest"),
        ("pkg:pypi/django@4.2", "pkg:pypi/django"),
        ("pkg:GitHub/Package-URL/purl-spec@1", "pkg:github/package-url/purl-spec"),
        ("pkg:maven/org.apache.commons/io@1.3.4", "pkg:maven/org.apache.commons/io"),
        (
            "cpe:2.3:a:DjangoProject:Django:1.11:*:*:*:*:*:*:*",
            "cpe:2.3:a:djangoproject:django",
        ),
    ],
)
def test_package_key_drops_the_version(text: str, key: str) -> None:
    assert package_key(text) == key


def test_package_key_is_the_same_for_every_version_of_a_package() -> None:
    assert package_key("pkg:pypi/Django@1.0") == package_key("pkg:pypi/django@5.0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "django",
            "package: expected a package URL (pkg:...) or a CPE 2.3 name (cpe:2.3:...)",
        ),
        (
            "cpe:2.3:a:*:*:1:*:*:*:*:*:*:*",
            "package: the CPE names no vendor and product (* or -), so it has no package key",
        ),
        ("pkg:pypi/", "package: not a valid package URL: "),
        ("cpe:2.3:q:v:p:*:*:*:*:*:*:*:*", "package: component part is 'q'"),
    ],
)
def test_package_key_refuses(text: str, message: str) -> None:
    error = _error(package_key, text)
    assert error.field == "package"
    assert error.message.startswith(message)


# ------------------------------------------------------------------------------- OSV ranges


def test_validate_ranges_accepts_and_normalises_osv_ranges() -> None:
    ranges: list[dict[str, Any]] = [
        {
            "type": "SEMVER",
            "events": [{"introduced": "0"}, {"fixed": "1.2.3-rc.1+build.5"}],
            "database_specific": {"source": "ghsa"},
        },
        {
            "type": "ECOSYSTEM",
            "events": [{"introduced": "1.0"}, {"last_affected": "1.4.post1"}, {"limit": "*"}],
        },
        {
            "type": "GIT",
            "repo": " https://github.com/example/project ",
            "events": [{"introduced": "0"}, {"fixed": COMMIT.upper()}, {"limit": COMMIT_256}],
        },
    ]
    before = copy.deepcopy(ranges)
    result = validate_ranges(ranges, "affected.0.ranges")
    assert ranges == before  # the input is not changed
    assert result[0] == ranges[0]
    assert result[1] == ranges[1]
    assert result[2] == {
        "type": "GIT",
        "repo": "https://github.com/example/project",
        "events": [{"introduced": "0"}, {"fixed": COMMIT}, {"limit": COMMIT_256}],
    }
    assert validate_ranges([], "affected.0.ranges") == []


def _semver(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "SEMVER", "events": list(events)}]


@pytest.mark.parametrize(
    ("ranges", "path", "message"),
    [
        ({"type": "SEMVER"}, "affected.0.ranges", "must be a list of ranges"),
        (["SEMVER"], "affected.0.ranges.0", "a range must be an object"),
        (
            [{"type": "SEMVER", "events": [{"introduced": "0"}], "versions": []}],
            "affected.0.ranges.0.versions",
            "unknown field",
        ),
        (
            [{"type": "semver", "events": [{"introduced": "0"}]}],
            "affected.0.ranges.0.type",
            "must be one of SEMVER, ECOSYSTEM, GIT; got 'semver'",
        ),
        (
            [{"type": "GIT", "events": [{"introduced": "0"}]}],
            "affected.0.ranges.0.repo",
            "a GIT range needs repo, the repository URL",
        ),
        (
            [{"type": "SEMVER", "repo": 5, "events": [{"introduced": "0"}]}],
            "affected.0.ranges.0.repo",
            "must be a non-empty string",
        ),
        (
            [{"type": "SEMVER", "events": []}],
            "affected.0.ranges.0.events",
            "must be a non-empty list of events",
        ),
        (
            _semver({"fixed": "1.0.0"}),
            "affected.0.ranges.0.events",
            "needs at least one introduced event",
        ),
        (
            _semver({"introduced": "0"}, {"fixed": "1.0.0"}, {"last_affected": "0.9.0"}),
            "affected.0.ranges.0.events",
            "fixed and last_affected cannot both appear in one range",
        ),
        (
            _semver({"introduced": "0"}, {"introduced": "1.0.0", "fixed": "2.0.0"}),
            "affected.0.ranges.0.events.1",
            "an event is an object with exactly one of introduced, fixed, last_affected, limit",
        ),
        (
            _semver({"introduced": "0"}, {}),
            "affected.0.ranges.0.events.1",
            "an event is an object with exactly one of introduced, fixed, last_affected, limit",
        ),
        (
            _semver({"introduced": "0"}, {"patched": "1.0.0"}),
            "affected.0.ranges.0.events.1",
            "unknown event 'patched'",
        ),
        (
            _semver({"introduced": "0"}, {"fixed": ""}),
            "affected.0.ranges.0.events.1.fixed",
            "must be a non-empty string",
        ),
        (
            _semver({"introduced": "0"}, {"fixed": "1.2"}),
            "affected.0.ranges.0.events.1.fixed",
            "'1.2' is not a SemVer 2.0 version",
        ),
        (
            _semver({"introduced": "v1.0.0"}),
            "affected.0.ranges.0.events.0.introduced",
            "'v1.0.0' is not a SemVer 2.0 version (drop the leading 'v')",
        ),
        # "0" is special for introduced only.
        (
            _semver({"introduced": "1.0.0"}, {"fixed": "0"}),
            "affected.0.ranges.0.events.1.fixed",
            "'0' is not a SemVer 2.0 version",
        ),
        (
            [
                {"type": "SEMVER", "events": [{"introduced": "0"}]},
                {
                    "type": "GIT",
                    "repo": "https://example.org/r.git",
                    "events": [{"introduced": "0"}, {"fixed": "abc123"}],
                },
            ],
            "affected.0.ranges.1.events.1.fixed",
            "'abc123' is not a full commit hash (40 or 64 hex digits)",
        ),
        (
            [
                {
                    "type": "GIT",
                    "repo": "https://example.org/r.git",
                    "events": [{"introduced": COMMIT}, {"limit": "*"}],
                }
            ],
            "affected.0.ranges.0.events.1.limit",
            "'*' is not a full commit hash",
        ),
        (
            [{"type": "SEMVER", "events": [{"introduced": "0"}], "database_specific": []}],
            "affected.0.ranges.0.database_specific",
            "must be an object",
        ),
    ],
)
def test_validate_ranges_refuses_naming_the_path(ranges: Any, path: str, message: str) -> None:
    error = _error(validate_ranges, ranges, "affected.0.ranges")
    assert error.field == path
    assert error.message.startswith(f"{path}: {message}")


# --------------------------------------------------------------- CWE, ATLAS, OWASP LLM Top 10


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("CWE-79", "CWE-79"), ("79", "CWE-79"), ("cwe-79", "CWE-79"), (" CWE-1004 ", "CWE-1004")],
)
def test_parse_cwe(text: str, canonical: str) -> None:
    assert parse_cwe(text) == canonical


@pytest.mark.parametrize("text", ["CWE-", "CWE-079", "CWE 79", "NVD-CWE-Other", "CWE-0", ""])
def test_parse_cwe_refuses(text: str) -> None:
    error = _error(parse_cwe, text)
    assert error.field == "cwe"
    assert error.message == (f"cwe: {text!r} is not a CWE id (expected CWE-<number>, e.g. CWE-79)")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("AML.T0051", "AML.T0051"),
        ("aml.t0051.000", "AML.T0051.000"),
        (" AML.T0054 ", "AML.T0054"),
    ],
)
def test_parse_atlas_technique(text: str, canonical: str) -> None:
    assert parse_atlas_technique(text) == canonical


@pytest.mark.parametrize("text", ["AML.T51", "AML.TA0001", "T0051", "AML.T0051.0", "AML.T0051."])
def test_parse_atlas_technique_refuses(text: str) -> None:
    error = _error(parse_atlas_technique, text)
    assert error.field == "atlas_technique"
    assert error.message == (
        f"atlas_technique: {text!r} is not an ATLAS technique id"
        " (expected AML.T0000 or AML.T0000.000)"
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("LLM01", "LLM01"), ("llm1", "LLM01"), ("LLM10:2025", "LLM10"), (" llm07 ", "LLM07")],
)
def test_parse_owasp_llm(text: str, canonical: str) -> None:
    assert parse_owasp_llm(text) == canonical
    assert canonical in OWASP_LLM_TOP10_2025


def test_owasp_llm_2025_list_has_its_ten_entries() -> None:
    assert list(OWASP_LLM_TOP10_2025) == [f"LLM{n:02d}" for n in range(1, 11)]
    assert OWASP_LLM_TOP10_2025["LLM07"] == "System Prompt Leakage"


@pytest.mark.parametrize("text", ["LLM00", "LLM11", "LLM01:2023", "LLM", "A01", "LLM001"])
def test_parse_owasp_llm_refuses(text: str) -> None:
    error = _error(parse_owasp_llm, text, "taxonomy.owasp")
    assert error.field == "taxonomy.owasp"
    assert error.message == (
        f"taxonomy.owasp: {text!r} is not an OWASP Top 10 for LLM Applications 2025 id"
        " (expected LLM01 to LLM10)"
    )
