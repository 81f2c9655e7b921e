"""Scopes each Bitbucket Cloud API operation the pipe's client calls needs, in the form the token UI shows.

GENERATED from Atlassian's OpenAPI description (x-atlassian-oauth2-scopes, else `security`) by
`python -m fakes.bitbucket.spec --emit-client-scopes`; do not edit by hand. A test checks it matches the spec.
"""

SPEC_SHA256 = "ecf7b8905dc6eab269040d04fa0766b9ca31d8f3b6105a2acedbf24665598705"

OPERATION_SCOPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"): (
        "write:runner:bitbucket",
    ),
    ("DELETE", "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}"): ("write:runner:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments/{comment_id}"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/downloads"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners"): ("read:runner:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"): ("read:runner:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/merge/task-status/{task_id}"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/refs/branches/{name}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/src/{commit}/{path}"): ("read:repository:bitbucket",),
    ("GET", "/user"): ("read:user:bitbucket",),
    ("GET", "/workspaces/{workspace}/pipelines-config/runners"): ("read:runner:bitbucket",),
    ("GET", "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}"): ("read:runner:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments"): ("read:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations"): (
        "read:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/downloads"): ("write:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners"): (
        "write:runner:bitbucket",
        "read:runner:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments"): (
        "read:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/merge"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/src"): ("write:repository:bitbucket",),
    ("POST", "/workspaces/{workspace}/pipelines-config/runners"): ("write:runner:bitbucket", "read:runner:bitbucket"),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments/{comment_id}"): (
        "read:repository:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}"): ("read:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"): (
        "read:runner:bitbucket",
        "write:runner:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}"): (
        "read:pullrequest:bitbucket",
    ),
    ("PUT", "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}"): (
        "read:runner:bitbucket",
        "write:runner:bitbucket",
    ),
}
