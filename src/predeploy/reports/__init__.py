"""Signed pre-release test reports."""
