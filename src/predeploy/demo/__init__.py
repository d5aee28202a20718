"""`predeploy demo`: the main job end to end on the embedded default (SQLite in the data dir).

`run_demo` runs it the way its users would, over HTTP against a real server on 127.0.0.1: the
agency onboards a developer, who submits a model with two access variants; the agency tests it
(`_testing`: a test plan in the bubblewrap sandbox, the determination, a signed report); its
finding goes through the clearinghouse to a published, exported advisory (`_clearinghouse`); and
the developer checks its service's SBOM against the advisories (`_defense`: the real OSV data when
it is there); the summary says what was produced and where.
"""

from ._run import DemoOptions, DemoResult, LoopbackServer, run_demo, set_demo_passwords

__all__ = ["DemoOptions", "DemoResult", "LoopbackServer", "run_demo", "set_demo_passwords"]
