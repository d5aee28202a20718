"""Root-cause fingerprints (exact duplicates) and text similarity (near-duplicates)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from predeploy.clearinghouse._dedupe import (
    FINGERPRINT_VERSION,
    FingerprintParts,
    Suggestion,
    fingerprint,
    normalised_parts,
    similar,
    text_for_similarity,
)
from predeploy.errors import InvalidInput

SOFTWARE = FingerprintParts(
    kind="software",
    products=("pkg:pypi/libexample",),
    cwe="CWE-787",
    location="src/parser.c:parse_header",
)
JAILBREAK = FingerprintParts(
    kind="ai_model",
    technique="AML.T0054",
    model_developer="Acme AI",
    model_name="falcon",
)


# --- fingerprints: stability ------------------------------------------------------------------


def test_v1_software_key_is_frozen() -> None:
    # Fixed values on purpose: if this fails, v1's normalisation changed, which needs a v2
    # and a migration that recomputes stored keys, not an updated expectation.
    canonical = (
        '{"cwe":"CWE-787","file":"src/parser.c","function":"parse_header","kind":"software",'
        '"model":null,"products":["pkg:pypi/libexample"],"technique":null}'
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "86a987f9177cac829fb0be45ee321e466ec83db6044591f59abceb43fb0b8ecb"
    )
    assert fingerprint(SOFTWARE) == (
        "v1:86a987f9177cac829fb0be45ee321e466ec83db6044591f59abceb43fb0b8ecb"
    )


def test_v1_ai_model_key_is_frozen() -> None:
    assert normalised_parts(JAILBREAK) == {
        "kind": "ai_model",
        "products": [],
        "cwe": None,
        "file": None,
        "function": None,
        "technique": "AML.T0054",
        "model": {"developer": "acme ai", "name": "falcon"},
    }
    assert fingerprint(JAILBREAK) == (
        "v1:7f7a0879038bc4127beb3498fc01df68bb5a0019dade62e8bf115b8316ba0b3b"
    )


def test_the_version_is_visible_in_the_key() -> None:
    assert FINGERPRINT_VERSION == 1
    prefix, _, digest = fingerprint(SOFTWARE).partition(":")
    assert prefix == "v1"
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_the_same_report_reimported_gets_the_same_key() -> None:
    again = FingerprintParts(
        kind="software",
        products=("pkg:pypi/libexample",),
        cwe="CWE-787",
        location="src/parser.c:parse_header",
    )
    assert fingerprint(again) == fingerprint(SOFTWARE)


# --- fingerprints: products -------------------------------------------------------------------


def test_products_ignore_order_case_whitespace_and_repeats() -> None:
    one = replace(SOFTWARE, products=("pkg:pypi/libexample", "cpe:2.3:a:example:libexample"))
    other = replace(
        SOFTWARE,
        products=(
            " CPE:2.3:A:Example:LibExample ",
            "pkg:PyPI/LibExample",
            "pkg:pypi/libexample",
        ),
    )
    assert fingerprint(one) == fingerprint(other)
    assert normalised_parts(other)["products"] == [
        "cpe:2.3:a:example:libexample",
        "pkg:pypi/libexample",
    ]


def test_products_ignore_versions() -> None:
    versioned = replace(
        SOFTWARE,
        products=(
            "pkg:pypi/libexample@2.4.0?arch=x86#src",
            "cpe:2.3:a:example:libexample:2.4.0:*:*:*:*:*:*:*",
        ),
    )
    bare = replace(SOFTWARE, products=("pkg:pypi/libexample", "cpe:2.3:a:example:libexample"))
    assert fingerprint(versioned) == fingerprint(bare)


def test_an_npm_scope_is_not_taken_for_a_version() -> None:
    scoped = normalised_parts(replace(SOFTWARE, products=("pkg:npm/@angular/core@17.0.1",)))
    assert scoped["products"] == ["pkg:npm/@angular/core"]


def test_different_products_give_different_keys() -> None:
    assert fingerprint(replace(SOFTWARE, products=("pkg:pypi/otherlib",))) != fingerprint(SOFTWARE)


@pytest.mark.parametrize("key", ["django", "", "cpe:2.3:a:vendor"])
def test_a_malformed_product_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        fingerprint(replace(SOFTWARE, products=("pkg:pypi/libexample", key)))
    assert caught.value.field == "products.1"


# --- fingerprints: location -------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "src/parser.c:parse_header",
        "src/parser.c:123:parse_header",
        "src/parser.c:parse_header:123",
        "src/parser.c:parse_header:123:7",
        "./src//parser.c:parse_header",
        "src\\parser.c:parse_header",
        "src/parser.c#L123:parse_header",
        "SRC/Parser.c:Parse_Header",
        " src/parser.c : parse_header() ",
        "src/parser.c:parse_header(const char *buf, size_t len)",
    ],
)
def test_location_spellings_of_one_function_match(location: str) -> None:
    assert fingerprint(replace(SOFTWARE, location=location)) == fingerprint(SOFTWARE)


def test_line_numbers_alone_are_not_a_function() -> None:
    at_line = normalised_parts(replace(SOFTWARE, location="src/parser.c:123:5"))
    assert (at_line["file"], at_line["function"]) == ("src/parser.c", None)
    assert fingerprint(replace(SOFTWARE, location="src/parser.c:88")) == fingerprint(
        replace(SOFTWARE, location="src/parser.c:123:5")
    )


def test_a_qualified_cxx_function_keeps_its_scope() -> None:
    parts = normalised_parts(replace(SOFTWARE, location="src/http.cc:http::Parser::header"))
    assert parts["function"] == "http::parser::header"


def test_different_functions_or_files_give_different_keys() -> None:
    keys = {
        fingerprint(replace(SOFTWARE, location=location))
        for location in (
            "src/parser.c:parse_header",
            "src/parser.c:parse_body",
            "src/lexer.c:parse_header",
            "src/parser.c",
        )
    }
    assert len(keys) == 4


# --- fingerprints: CWE and missing parts ------------------------------------------------------


def test_different_cwe_gives_a_different_key() -> None:
    assert fingerprint(replace(SOFTWARE, cwe="CWE-122")) != fingerprint(SOFTWARE)


def test_cwe_spellings_match() -> None:
    assert fingerprint(replace(SOFTWARE, cwe=" cwe-787 ")) == fingerprint(SOFTWARE)
    assert fingerprint(replace(SOFTWARE, cwe="787")) == fingerprint(SOFTWARE)


def test_missing_parts_are_explicit_nulls() -> None:
    without = replace(SOFTWARE, cwe=None)
    assert normalised_parts(without)["cwe"] is None
    assert fingerprint(without) == fingerprint(replace(SOFTWARE, cwe=None))
    assert fingerprint(without) != fingerprint(SOFTWARE)


def test_an_invalid_cwe_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        fingerprint(replace(SOFTWARE, cwe="XSS"))
    assert caught.value.field == "cwe"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        fingerprint(replace(SOFTWARE, kind="hardware"))
    assert caught.value.field == "kind"


# --- fingerprints: AI models ------------------------------------------------------------------


def test_a_jailbreak_on_two_checkpoints_of_one_model_is_one_key() -> None:
    # The caller passes the model's name without its version: the checkpoint is no part.
    respelled = replace(JAILBREAK, model_developer="  ACME   ai ", model_name="Falcon")
    assert fingerprint(respelled) == fingerprint(JAILBREAK)


def test_another_model_or_developer_or_technique_is_another_key() -> None:
    keys = {
        fingerprint(JAILBREAK),
        fingerprint(replace(JAILBREAK, model_name="kestrel")),
        fingerprint(replace(JAILBREAK, model_developer="Other Labs")),
        fingerprint(replace(JAILBREAK, technique="AML.T0051")),
        fingerprint(replace(JAILBREAK, technique="AML.T0054.000")),
        fingerprint(replace(JAILBREAK, technique="LLM01")),
    }
    assert len(keys) == 6


def test_technique_spellings_match() -> None:
    assert fingerprint(replace(JAILBREAK, technique=" aml.t0054 ")) == fingerprint(JAILBREAK)
    owasp = replace(JAILBREAK, technique="LLM01")
    assert fingerprint(replace(JAILBREAK, technique="llm1")) == fingerprint(owasp)
    assert fingerprint(replace(JAILBREAK, technique="LLM01:2025")) == fingerprint(owasp)


def test_an_unknown_technique_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        fingerprint(replace(JAILBREAK, technique="T1059"))
    assert caught.value.field == "technique"


def test_parts_that_do_not_describe_the_kind_are_ignored() -> None:
    assert fingerprint(replace(JAILBREAK, location="prompts/system.txt:intro")) == fingerprint(
        JAILBREAK
    )
    assert fingerprint(replace(SOFTWARE, technique="LLM01")) == fingerprint(SOFTWARE)
    assert fingerprint(replace(SOFTWARE, model_name="falcon")) == fingerprint(SOFTWARE)


def test_an_ai_system_keys_on_location_and_technique() -> None:
    agent = FingerprintParts(
        kind="ai_system",
        products=("pkg:pypi/agentkit",),
        location="agentkit/tools/browse.py:fetch",
        technique="LLM01",
    )
    assert fingerprint(replace(agent, technique="LLM02")) != fingerprint(agent)
    assert fingerprint(replace(agent, location="agentkit/tools/shell.py:run")) != fingerprint(agent)
    assert fingerprint(replace(agent, kind="software")) != fingerprint(agent)


# --- near-duplicates --------------------------------------------------------------------------

CRASH = text_for_similarity(
    "Heap-buffer-overflow in parse_header (libexample)",
    "AddressSanitizer: heap-buffer-overflow on address 0x602000000011 at pc 0x55d4c3 READ of "
    "size 1. A header longer than 4096 bytes is copied into a fixed buffer without a length "
    "check.",
)
PARAPHRASE = text_for_similarity(
    "libexample parse_header heap overflow with oversized header",
    "ASan reports heap-buffer-overflow on address 0x6020000000f1 at pc 0x55aa01 READ of size 1 "
    "in parse_header. Headers over 4 KiB overflow the destination buffer because the length is "
    "not checked.",
)
UNRELATED = text_for_similarity(
    "Prompt injection through tool output in the agent framework",
    "Text returned by the web-browsing tool is treated as instructions, letting a page "
    "exfiltrate the conversation.",
)
SAME_LIBRARY = text_for_similarity(
    "Integer overflow in libexample chunked decoder",
    "A chunk size of 0xffffffff wraps the size computation in decode_chunk and a short buffer "
    "is allocated.",
)


def test_similar_finds_a_paraphrased_duplicate_and_rejects_other_reports() -> None:
    found = similar(CRASH, [("other", UNRELATED), ("dup", PARAPHRASE), ("lib", SAME_LIBRARY)])
    assert [s.id for s in found] == ["dup"]
    assert 0.6 <= found[0].score <= 1


def test_similar_ranks_best_first_with_scores_between_zero_and_one() -> None:
    found = similar(
        CRASH,
        [("other", UNRELATED), ("dup", PARAPHRASE), ("same", CRASH), ("lib", SAME_LIBRARY)],
        threshold=0,
    )
    assert [s.id for s in found][:2] == ["same", "dup"]
    assert found[0] == Suggestion(id="same", score=1.0)
    scores = [s.score for s in found]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores)


def test_similar_compares_raw_texts_without_case_or_punctuation() -> None:
    found = similar("Heap overflow in parse_header!", [("a", "HEAP OVERFLOW IN PARSE_HEADER")])
    assert found == [Suggestion(id="a", score=1.0)]


def test_similar_with_no_candidates_is_empty() -> None:
    assert similar(CRASH, []) == []


@pytest.mark.parametrize(
    ("threshold", "limit", "field"), [(1.5, 10, "threshold"), (0.5, 0, "limit")]
)
def test_similar_refuses_bad_arguments(threshold: float, limit: int, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        similar(CRASH, [("a", CRASH)], threshold=threshold, limit=limit)
    assert caught.value.field == field


def test_thousands_of_candidates_give_at_most_limit_results() -> None:
    candidates = [(f"dup-{n}", f"{PARAPHRASE} variant {n}") for n in range(2_500)]
    candidates += [(f"other-{n}", f"{UNRELATED} variant {n}") for n in range(2_500)]
    found = similar(CRASH, candidates, limit=7)
    assert len(found) == 7
    assert all(s.id.startswith("dup-") for s in found)
    assert len(similar(CRASH, candidates, limit=7, threshold=0.95)) == 0


# --- text_for_similarity ----------------------------------------------------------------------


def test_crash_addresses_and_numbers_are_stripped() -> None:
    one = text_for_similarity(
        "SEGV in parse_header",
        "SEGV on unknown address 0x7ffd5e3c8a10 (pc 0x55d4c3b2 bp 0x7ffd5e3c8a00) pid 4121 "
        "build-id 5f3a9c0d7e21b4a6 run 123e4567-e89b-12d3-a456-426614174000 src/parser.c:123:5",
    )
    two = text_for_similarity(
        "SEGV in parse_header",
        "SEGV on unknown address 0x7fff01aa0000 (pc 0x5600beef bp 0x7fff01a9fff0) pid 77 "
        "build-id 0a1b2c3d4e5f6789 run 9f3e1d2c-0b1a-4c5d-8e7f-0123456789ab src/parser.c:131:9",
    )
    assert one == two
    assert one == (
        "segv in parse header segv on unknown address pc bp pid build id run src parser c"
    )


def test_words_that_hold_digits_or_hex_letters_are_kept() -> None:
    text = text_for_similarity("Overflow in sha256_update", "x86_64 only; the dead beef cafe path")
    assert text == "overflow in sha256 update x86 64 only the dead beef cafe path"


def test_the_description_is_cut_at_a_word_boundary() -> None:
    text = text_for_similarity("Title", "word " * 500)
    assert text.startswith("title word word")
    assert len(text) <= len("title ") + 500
    assert text.endswith("word")
