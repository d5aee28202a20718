"""The AI cybersecurity clearinghouse: vulnerability reports (`vulns`), triage, de-duplication and
TLP 2.0 sharing."""
