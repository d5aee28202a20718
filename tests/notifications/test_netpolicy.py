"""The address policy and the signature helpers, without a database."""

from __future__ import annotations

import ipaddress

import pytest

from predeploy.notifications.delivery import sign, verify_signature
from predeploy.notifications.netpolicy import (
    PolicyError,
    Target,
    allow_match,
    check_address,
    normalise_entry,
    parse_url,
    resolve_checked,
)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example.com/x", "http"),
        ("https://user:pw@hooks.example.com/x", "user name or password"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
        ("https://bad_host!.example.com/", "not a valid host"),
        ("https://hooks.example.com/\x00", "not a valid URL"),
    ],
)
def test_parse_url_refuses(url: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        parse_url(url)


def test_parse_url_defaults_ports_and_lowercases() -> None:
    assert parse_url("https://Hooks.Example.COM./p?q=1") == Target(
        "https", "hooks.example.com", 443
    )
    assert parse_url("http://[::1]:8080/") == Target("http", "::1", 8080)


@pytest.mark.parametrize(
    ("entry", "normal"),
    [
        ("Hooks.Example.com", "hooks.example.com"),
        ("hooks.example.com:8443", "hooks.example.com:8443"),
        ("*.Example.com", "*.example.com"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("::1", "[::1]"),
        ("[0:0::1]:9000", "[::1]:9000"),
    ],
)
def test_normalise_entry(entry: str, normal: str) -> None:
    assert normalise_entry(entry) == normal


@pytest.mark.parametrize(
    "entry", ["https://hooks.example.com", "host:0", "host:http", "*.10.0.0.1", "*.a.com:80", ""]
)
def test_normalise_entry_refuses(entry: str) -> None:
    with pytest.raises(PolicyError):
        normalise_entry(entry)


def test_allow_match_exact_port_and_wildcard() -> None:
    entries = ["hooks.example.com", "api.example.org:8443", "*.corp.example", "[::1]:9000"]
    assert allow_match(entries, parse_url("https://hooks.example.com:1234/")) is True
    assert allow_match(entries, parse_url("https://api.example.org:8443/")) is True
    assert allow_match(entries, parse_url("https://api.example.org/")) is None
    assert allow_match(entries, parse_url("https://a.b.corp.example/")) is False
    assert allow_match(entries, parse_url("https://corp.example/")) is None
    assert allow_match(entries, parse_url("https://evilcorp.example/")) is None
    assert allow_match(entries, parse_url("http://[::1]:9000/")) is True


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254"])
def test_link_local_is_refused_even_for_exact_entries(address: str) -> None:
    with pytest.raises(PolicyError, match="link-local"):
        check_address(ipaddress.ip_address(address), exact=True)


@pytest.mark.parametrize("address", ["10.1.2.3", "127.0.0.1", "::1", "192.168.0.5", "fd00::1"])
def test_internal_addresses_need_an_exact_entry(address: str) -> None:
    with pytest.raises(PolicyError, match="non-public"):
        check_address(ipaddress.ip_address(address), exact=False)
    check_address(ipaddress.ip_address(address), exact=True)


def test_one_bad_address_among_good_ones_refuses_the_host() -> None:
    target = parse_url("https://hooks.example.com/")

    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(PolicyError, match=r"10\.0\.0\.7"):
        resolve_checked(target, exact=False, resolver=resolver)
    assert str(resolve_checked(target, exact=True, resolver=resolver)) == "93.184.216.34"


def test_signature_verifies_and_rejects_tampering() -> None:
    body = b'{"kind":"submission.accepted"}'
    header = sign("s3cret-s3cret-s3cret", "1796040000", body)
    assert header.startswith("sha256=")
    assert verify_signature("s3cret-s3cret-s3cret", "1796040000", body, header)
    assert verify_signature("s3cret-s3cret-s3cret", "1796040000", body.decode(), header)
    assert not verify_signature("wrong-secret-wrong", "1796040000", body, header)
    assert not verify_signature("s3cret-s3cret-s3cret", "1796040001", body, header)
    assert not verify_signature("s3cret-s3cret-s3cret", "1796040000", body + b" ", header)
