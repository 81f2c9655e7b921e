"""The local Bitbucket itself: the runner OAuth endpoint, the /_fake/ control API, the process entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket

from pipe.bitbucket.client import BitbucketClient

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def test_runner_turns_online_only_with_its_own_oauth_credentials(
    bitbucket: FakeBitbucket, bb_client: BitbucketClient
) -> None:
    reg = bb_client.create_runner("cml-1", ["self.hosted", "linux"])
    other = bb_client.create_runner("cml-2", ["self.hosted", "linux"])
    wrong = requests.post(
        reg.oauth_token_endpoint,
        data={"grant_type": "client_credentials", "client_id": reg.oauth_client_id, "client_secret": "guess"},
        timeout=5,
    )
    assert wrong.status_code == 401
    assert bb_client.get_runner(reg.runner.uuid).status == "UNREGISTERED"  # type: ignore[union-attr]
    ok = requests.post(
        reg.oauth_token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": reg.oauth_client_id,
            "client_secret": reg.oauth_client_secret,
            "audience": reg.oauth_audience,
        },
        timeout=5,
    )
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    assert bb_client.get_runner(reg.runner.uuid).status == "ONLINE"  # type: ignore[union-attr]
    assert bb_client.get_runner(other.runner.uuid).status == "UNREGISTERED"  # type: ignore[union-attr]
    # RFC 6749 client authentication with HTTP Basic works too
    basic = requests.post(
        other.oauth_token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(other.oauth_client_id, other.oauth_client_secret),
        timeout=5,
    )
    assert basic.status_code == 200
    assert bitbucket.runner(other.runner.uuid).status == "ONLINE"
    assert bitbucket.request_count("POST /repositories/{workspace}/{repo_slug}/pipelines-config/runners") == 2


def test_control_api_over_http(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    root = bitbucket.root_url
    reg = bb_client.create_runner("cml-1", ["self.hosted"])
    uuid = reg.runner.uuid
    assert requests.post(f"{root}/_fake/runners/{uuid}/busy", json={"step": {"name": "train"}}, timeout=5).ok
    assert bb_client.get_runner(uuid).busy  # type: ignore[union-attr]
    assert requests.post(f"{root}/_fake/runners/{uuid}/idle", timeout=5).ok
    assert not bb_client.get_runner(uuid).busy  # type: ignore[union-attr]
    assert requests.post(f"{root}/_fake/runners/{uuid}/offline", timeout=5).ok
    assert bb_client.get_runner(uuid).status == "OFFLINE"  # type: ignore[union-attr]
    assert requests.post(f"{root}/_fake/runners/{{nope}}/idle", timeout=5).status_code == 404

    counts = requests.get(f"{root}/_fake/requests", timeout=5).json()
    assert counts["total"] == 4  # create + 3 gets; /_fake/ calls are not counted
    assert counts["by_route"]["GET /repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"] == 3

    assert requests.post(f"{root}/_fake/faults", json={"kind": "status", "status": 500, "times": 1}, timeout=5).ok
    assert requests.get(f"{bitbucket.url}/user", headers=AUTH, timeout=5).status_code == 500
    assert requests.get(f"{bitbucket.url}/user", headers=AUTH, timeout=5).status_code == 200
    assert requests.post(f"{root}/_fake/faults", json={"kind": "status", "status": 503, "times": None}, timeout=5).ok
    assert requests.delete(f"{root}/_fake/faults", timeout=5).ok
    assert requests.get(f"{bitbucket.url}/user", headers=AUTH, timeout=5).status_code == 200

    assert requests.post(f"{root}/_fake/tokens", json={"token": "t2", "scopes": []}, timeout=5).ok
    denied = requests.get(f"{bitbucket.url}/user", headers={"Authorization": "Bearer t2"}, timeout=5)
    assert denied.status_code == 403
    assert denied.json()["error"]["data"]["required"] == ["read:user:bitbucket"]

    assert requests.post(f"{root}/_fake/merges", json={"refuse": "nope"}, timeout=5).ok
    assert bitbucket.repo().refuse_merges == "nope"

    state = requests.get(f"{root}/_fake/state", timeout=5).json()
    assert state["repositories"]["acme/ml-seeds"]["runners"][0]["uuid"] == uuid
    assert state["repositories"]["acme/ml-seeds"]["branches"]["main"]

    assert requests.post(f"{root}/_fake/reset", timeout=5).ok
    assert bitbucket.repo().runners == {} and bitbucket.request_count() == 0


def test_unknown_routes_and_methods(bitbucket: FakeBitbucket) -> None:
    assert requests.get(f"{bitbucket.url}/internal/whatever", headers=AUTH, timeout=5).status_code == 404
    r = requests.patch(f"{bitbucket.url}/user", headers=AUTH, timeout=5)
    assert r.status_code in (404, 405, 501)


def test_runs_as_a_process() -> None:
    support = Path(__file__).resolve().parents[1] / "support"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(support.parents[1]), str(support)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakes.bitbucket", "--port", "0", "--token", "demo=read:user:bitbucket"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().split("BITBUCKET_API_URL=", 1)[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/2.0")
        assert requests.get(f"{url}/user", headers={"Authorization": "Bearer demo"}, timeout=5).status_code == 200
        assert requests.get(f"{url}/repositories/acme/ml-seeds", headers=AUTH, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_runner_labels_that_break_bitbucket_rule_are_refused_with_400(bitbucket: FakeBitbucket) -> None:
    url = f"{bitbucket.url}/repositories/acme/ml-seeds/pipelines-config/runners"
    for labels in (
        ["self.hosted", "linux", "cml-runner-pipe"],  # the pipe's marker before the label rule was followed
        ["self.hosted", "linux", "cml_gpu"],
        ["self.hosted", "linux", "linux.shell"],
        ["self.hosted", "linux", *(f"l{i}" for i in range(11))],
    ):
        answer = requests.post(url, json={"name": "cml-x", "labels": labels}, headers=AUTH, timeout=5)
        assert answer.status_code == 400, labels
        assert answer.json()["type"] == "error" and answer.json()["error"]["message"]
    ok = ["self.hosted", "linux", "cml.runner", "cml.runner.pipe", *(f"l{i}" for i in range(8))]
    assert requests.post(url, json={"name": "cml-y", "labels": ok}, headers=AUTH, timeout=5).status_code == 200
