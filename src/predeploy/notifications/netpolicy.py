"""Where webhooks may go: URL rules, the agency's host allowlist, and address checks.

A webhook URL must be http(s), carry no userinfo, and name a host on the allowlist. Entries are
`host`, `host:port` (that port only), or `*.domain` (any subdomain, public addresses only).

At delivery time the host is resolved and every address checked before connecting:
link-local addresses (169.254.0.0/16, fe80::/10, which include cloud metadata endpoints) are
always refused; private, loopback and other non-public addresses only when the URL's host is
itself an exact allowlist entry. So the allowlist is the only way to reach an internal address,
and a wildcard entry (or a DNS record that changes) never is. The request is then sent to the
checked address, so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], list[str]]
"""Turns (host, port) into the IP addresses to connect to (tests inject their own)."""

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


class PolicyError(ValueError):
    """A URL, allowlist entry or address that the policy refuses (the message says why)."""


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: its scheme, host (lowercase, IPv6 without brackets) and port."""

    scheme: str
    host: str
    port: int

    @property
    def ip(self) -> IPAddress | None:
        """The host as an address, when the URL names one directly."""
        return _ip_or_none(self.host)


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_hostname(host: str) -> str:
    host = host.lower().rstrip(".")
    if not host.isascii():
        raise PolicyError("host must be ASCII: use the punycode (xn--) form of the name")
    if _ip_or_none(host) is None and not (_HOSTNAME.match(host) and len(host) <= 253):
        raise PolicyError(f"{host!r} is not a valid host name or IP address")
    return host


def parse_url(url: str) -> Target:
    """Check a webhook URL's form (not the allowlist) and return its target."""
    if len(url) > 2000:
        raise PolicyError("URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)  # what delivery will send to must parse there too
    except (ValueError, httpx.InvalidURL) as exc:
        raise PolicyError(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PolicyError("URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise PolicyError("URL must not contain a user name or password")
    if not parts.hostname:
        raise PolicyError("URL has no host")
    if parts.fragment:
        raise PolicyError("URL must not contain a #fragment")
    host = _check_hostname(parts.hostname)
    return Target(scheme, host, port if port is not None else (443 if scheme == "https" else 80))


def normalise_entry(entry: str) -> str:
    """The canonical form of an allowlist entry: lowercase, IPv6 in brackets, optional `:port`."""
    text = entry.strip().lower()
    if not text or "/" in text or "@" in text:
        raise PolicyError("give a host, host:port or *.domain (no scheme, path or user)")
    port: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise PolicyError(f"{entry!r} is not host, host:port or [ipv6]:port")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise PolicyError(f"port {port!r} is not a number from 1 to 65535")
    wildcard = host.startswith("*.")
    host = _check_hostname(host[2:] if wildcard else host)
    ip = _ip_or_none(host)
    if wildcard and ip is not None:
        raise PolicyError("a *. wildcard needs a domain name, not an address")
    if wildcard and port is not None:
        raise PolicyError("a *. wildcard entry cannot name a port")
    if ip is None:
        shown = f"*.{host}" if wildcard else host
    else:
        shown = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{shown}:{int(port)}" if port is not None else shown


def _entry_parts(entry: str) -> tuple[str, int | None]:
    """Split a normalised entry into host (IPv6 without brackets) and port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest else None
    if ":" in entry:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


def allow_match(entries: Iterable[str], target: Target) -> bool | None:
    """None if no entry allows `target`; else whether an exact (non-wildcard) entry does."""
    host = target.ip.compressed if target.ip is not None else target.host
    matched: bool | None = None
    for entry in entries:
        entry_host, entry_port = _entry_parts(entry)
        if entry_port is not None and entry_port != target.port:
            continue
        if entry_host == host:
            return True
        if entry_host.startswith("*.") and target.ip is None and host.endswith(entry_host[1:]):
            matched = False
    return matched


def check_address(address: IPAddress, *, exact: bool) -> None:
    """Refuse an address the policy does not let a webhook reach (see the module docstring)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        raise PolicyError(f"refusing link-local address {address} (metadata endpoints live here)")
    if not address.is_global and not exact:
        raise PolicyError(
            f"refusing non-public address {address}: only an exact allowlist entry for the "
            "host may reach it"
        )


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system's resolver (the default outside tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_checked(target: Target, *, exact: bool, resolver: Resolver) -> IPAddress:
    """The address to connect to, after checking every address the host resolves to.

    All addresses must pass: a name resolving to one public and one internal address is refused
    rather than raced.
    """
    if target.ip is not None:
        addresses: list[IPAddress] = [target.ip]
    else:
        try:
            addresses = [
                ipaddress.ip_address(a.split("%")[0]) for a in resolver(target.host, target.port)
            ]
        except (OSError, UnicodeError, ValueError) as exc:
            raise PolicyError(f"cannot resolve {target.host}") from exc
        if not addresses:
            raise PolicyError(f"cannot resolve {target.host}")
    for address in addresses:
        check_address(address, exact=exact)
    return addresses[0]
