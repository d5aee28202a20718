"""A TAXII 2.1 server for the clearinghouse: collections of STIX 2.1 advisories and vulnerability
reports per audience, each read under the sharing rules, and an inbox for new reports."""
