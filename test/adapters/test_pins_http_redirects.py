"""The Bitbucket transport's redirects over real HTTP (issue #20): requests must never follow one itself, since
the origin check of pipe/bitbucket/http.py runs only on redirects the transport follows. The other origin here is
the same local Bitbucket under another host name (127.0.0.1 against localhost): a different origin to the
client, a server that counts what reaches it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket

from pipe.bitbucket.client import Auth, BitbucketClient
from pipe.bitbucket.errors import UnexpectedAnswer


def test_a_redirect_to_another_origin_is_refused_without_requests_following_it(bitbucket: FakeBitbucket) -> None:
    """Kills `allow_redirects=False` turned into True: requests would follow the 302 to the other origin by
    itself, before the transport's check, and the call would end in that origin's answer."""
    parts = urlsplit(bitbucket.url)
    assert parts.hostname == "127.0.0.1"
    elsewhere = f"http://localhost:{parts.port}{parts.path}/user"
    bitbucket.add_fault("body", status=302, method="GET", path=r"^/user$", body="", headers={"Location": elsewhere},
                        times=1)  # fmt: skip
    client = BitbucketClient(Auth(access_token=DEFAULT_TOKEN), "acme", "ml-seeds", bitbucket.url, sleep=lambda _: None)
    with pytest.raises(UnexpectedAnswer, match=r"redirected to http://localhost:\d+, which is not http://127\.0\.0\.1"):
        client.current_user_uuid()
    assert bitbucket.request_count() == 1
