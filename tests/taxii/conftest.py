"""The TAXII server on a loopback port, driven by OASIS's `taxii2-client` as a real client.

The server is the real app (`create_app`) on the test's runtime, served by uvicorn on
127.0.0.1 in a background thread; the clearinghouse community of `tests/clearinghouse` fills it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from requests.auth import AuthBase
from taxii2client.v21 import ApiRoot, Collection, Server

from predeploy.accounts import Actor
from predeploy.accounts.models import Scope
from predeploy.accounts.schemas import TokenCreate
from predeploy.accounts.service import issue_token
from predeploy.demo import LoopbackServer
from tests.clearinghouse.conftest import Community
from tests.clearinghouse.conftest import community as community
from tests.conftest import Caller

TAXII = "application/taxii+json;version=2.1"
MAX_CONTENT_LENGTH = 64 * 1024
"""The API root's limit in these tests: small, so that going over it sends little."""


class Bearer(AuthBase):
    """predeploy's API tokens, sent as TAXII's HTTP authentication."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def auth(caller: Caller | None) -> Bearer | None:
    return Bearer(caller.token) if caller else None


@dataclass
class Taxii:
    """The server's URLs, and taxii2-client endpoints for a caller (None: no token)."""

    url: str
    community: Community

    @property
    def root_url(self) -> str:
        return f"{self.url}/taxii2/clearinghouse/"

    def server(self, caller: Caller | None) -> Server:
        return Server(f"{self.url}/taxii2/", auth=auth(caller))

    def root(self, caller: Caller | None) -> ApiRoot:
        return ApiRoot(self.root_url, auth=auth(caller))

    def collection(self, caller: Caller | None, alias: str) -> Collection:
        """The collection named `alias`, as listed to `caller`."""
        (found,) = [c for c in self.root(caller).collections if c.alias == alias]
        return found

    def get(
        self, caller: Caller | None, path: str, accept: str = TAXII, **params: Any
    ) -> requests.Response:
        """A raw GET under the API root."""
        return requests.get(
            self.root_url + path,
            params=params,
            headers={"Accept": accept},
            auth=auth(caller),
            timeout=30,
        )

    def post(
        self,
        caller: Caller | None,
        path: str,
        body: bytes,
        content_type: str = TAXII,
        accept: str = TAXII,
    ) -> requests.Response:
        """A raw POST under the API root."""
        headers = {"Accept": accept, "Content-Type": content_type}
        return requests.post(
            self.root_url + path, data=body, headers=headers, auth=auth(caller), timeout=30
        )

    def read_only(self, caller: Caller) -> Caller:
        """`caller` with a token that holds the read scope only."""
        with self.community.api.runtime.unit(Actor.system("test")) as ctx:
            issued = issue_token(ctx, TokenCreate(user_id=caller.user_id, scopes=[Scope.READ]))
        return Caller(token=issued.token, user_id=caller.user_id, org_id=caller.org_id)


@pytest.fixture
def taxii(community: Community) -> Iterator[Taxii]:
    runtime = community.api.runtime
    runtime.settings.taxii_max_content_length = MAX_CONTENT_LENGTH
    with LoopbackServer(runtime) as url:
        # Discovery names the API root by the URL the server is reached at.
        runtime.settings.public_url = url
        yield Taxii(url, community)
