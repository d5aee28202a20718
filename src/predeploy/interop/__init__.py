"""Interoperability of the clearinghouse: advisories imported from and exported to the formats
that security tooling reads (OSV first)."""
