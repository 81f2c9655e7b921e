"""The Kubernetes provider through the real client against the local Kubernetes: credentials from each source,
our labels as the only way in, pages of Jobs, and deletes that take the pod and Secret along."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes.kubernetes import FakeKubernetes

from pipe.config.clouds import CloudCredentials
from pipe.config.kubernetes import KubernetesOptions
from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, TAG_REPOSITORY, Instance, ProviderError
from pipe.providers.kubernetes import create

NS = "default"


def seed(kube: FakeKubernetes, name: str, labels: dict[str, str]) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config_dict(kube.kubeconfig())
    pod = {"restartPolicy": "Never", "containers": [{"name": "m", "image": "b:1"}]}
    body = {"metadata": {"name": name, "labels": labels}, "spec": {"template": {"spec": pod}}}
    client.BatchV1Api(api).create_namespaced_job(NS, body)


def ours(repo: str = "acme_ml-seeds") -> dict[str, str]:
    return {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_REPOSITORY: repo}


def job(name: str) -> Instance:
    return Instance("kubernetes", name, name, NS, NS, "", False, "running")


def test_credentials_from_a_kubeconfig_file_work_and_no_source_at_all_is_one_line(
    kube: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config"
    path.write_text(kube.kubeconfig_yaml())
    seed(kube, "cml-a", ours())
    provider = create("default", KubernetesOptions(kubeconfig_path=str(path)), CloudCredentials())
    assert [i.id for i in provider.list_ours()] == ["cml-a"]

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ProviderError, match=r"CLOUD kubernetes needs KUBE_CONFIG .* or KUBECONFIG"):
        create("default", KubernetesOptions(), CloudCredentials())
    with pytest.raises(ProviderError, match=r"KUBECONFIG: .* is not a file"):
        create("default", KubernetesOptions(kubeconfig_path=str(tmp_path / "missing")), CloudCredentials())


def test_only_our_labels_are_listed_and_terminated(kube: FakeKubernetes) -> None:
    provider = create("default", KubernetesOptions(kubeconfig=kube.kubeconfig()), CloudCredentials())
    seed(kube, "cml-ours", ours())
    seed(kube, "cml-other-repo", ours("acme_other"))
    seed(kube, "team-job", {"team": "ml"})
    assert sorted(i.id for i in provider.list_ours()) == ["cml-other-repo", "cml-ours"]
    assert [i.id for i in provider.list_ours("acme_ml-seeds")] == ["cml-ours"]

    with pytest.raises(ProviderError, match="Job team-job lacks the label cml-managed-by=cml-runner-pipe"):
        provider.terminate(job("team-job"))
    provider.terminate(job("cml-ours"))
    provider.terminate(job("cml-ours"))  # already gone: not an error
    assert sorted(j["metadata"]["name"] for j in kube.objects("jobs")) == ["cml-other-repo", "team-job"]
    deletes = [r for r in kube.requests if r.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].body["propagationPolicy"] == "Foreground"
    assert deletes[0].body["preconditions"]["uid"]


def test_lists_follow_the_continue_token(kube: FakeKubernetes, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipe.providers.kubernetes import lifecycle

    monkeypatch.setattr(lifecycle, "PAGE", 2)
    for i in range(5):
        seed(kube, f"cml-{i}", ours())
    provider = create("default", KubernetesOptions(kubeconfig=kube.kubeconfig()), CloudCredentials())
    assert [i.id for i in provider.list_ours()] == [f"cml-{i}" for i in range(5)]
    pages: list[Any] = [r for r in kube.requests if r.method == "GET" and r.path.endswith("/jobs")]
    assert len(pages) == 3 and "continue" in pages[1].query


def test_an_unreachable_or_untrusted_cluster_is_one_line(kube: FakeKubernetes) -> None:
    config = kube.kubeconfig()
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    provider = create("default", KubernetesOptions(kubeconfig=config), CloudCredentials())
    with pytest.raises(ProviderError, match=r"Could not verify the Kubernetes API's certificate"):
        provider.list_ours()
    config = kube.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    with pytest.raises(ProviderError, match=r"Could not reach the Kubernetes API at https://127\.0\.0\.1:9"):
        create("default", KubernetesOptions(kubeconfig=config), CloudCredentials()).list_ours()
