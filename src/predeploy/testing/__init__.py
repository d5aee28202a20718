"""Test doubles for predeploy's tests and benchmarks.

`FakeOpenAIServer` is a fake OpenAI-compatible model server: it answers from a `Script`, waits a
configurable latency and injects `Faults`, so real campaigns run through Inspect's `openai-api`
provider over real HTTP. `store_completed_campaign` stores a campaign's results directly, as a
worker's ingest would, for what comes after a campaign (determination, reports).
"""

from ._campaigns import StoredResult, store_completed_campaign
from ._fake_openai import FAULT_KINDS, FakeOpenAIServer, FaultKind, Faults, RequestRecord
from ._script import (
    Capture,
    Script,
    ToolCall,
    Turn,
    bash_then_submit,
    submit_script,
    text_script,
)

__all__ = [
    "FAULT_KINDS",
    "Capture",
    "FakeOpenAIServer",
    "FaultKind",
    "Faults",
    "RequestRecord",
    "Script",
    "StoredResult",
    "ToolCall",
    "Turn",
    "bash_then_submit",
    "store_completed_campaign",
    "submit_script",
    "text_script",
]
