"""Scopes each Bitbucket Cloud API operation needs, in the form the token UI shows.

GENERATED from Atlassian's OpenAPI description (x-atlassian-oauth2-scopes, else `security`) by
`python -m fakes.bitbucket.spec --emit-scopes`; do not edit by hand. A test checks it matches the spec.
"""

SPEC_SHA256 = "ecf7b8905dc6eab269040d04fa0766b9ca31d8f3b6105a2acedbf24665598705"

OPERATION_SCOPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("DELETE", "/addon"): (),
    ("DELETE", "/repositories/{workspace}/{repo_slug}"): ("delete:repository:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/branch-restrictions/{id}"): ("admin:repository:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/commit/{commit}/approve"): ("write:repository:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments/{comment_id}"): (
        "read:repository:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/commit/{commit}/properties/{app_key}/{property_name}"): (),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}"): (
        "read:repository:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations/{annotationId}"): (
        "read:repository:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/default-reviewers/{target_username}"): (
        "admin:repository:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}"): (
        "admin:repository:bitbucket",
        "delete:ssh-key:bitbucket",
    ),
    (
        "DELETE",
        "/repositories/{workspace}/{repo_slug}/deployments_config/environments/{environment_uuid}/variables/{variable_uuid}",
    ): ("admin:pipeline:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/downloads/{filename}"): ("write:repository:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/environments/{environment_uuid}"): ("admin:pipeline:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/hooks/{uid}"): ("delete:webhook:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}"): ("delete:issue:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/attachments/{path}"): (
        "write:issue:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/comments/{comment_id}"): (
        "write:issue:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/vote"): (
        "write:issue:bitbucket",
        "write:user:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/watch"): (
        "write:issue:bitbucket",
        "write:user:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/permissions-config/groups/{group_slug}"): (
        "admin:repository:bitbucket",
        "delete:permission:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/permissions-config/users/{selected_user_id}"): (
        "admin:repository:bitbucket",
        "delete:permission:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines-config/caches"): ("write:pipeline:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines-config/caches/{cache_uuid}"): (
        "write:pipeline:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"): (
        "write:runner:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines_config/schedules/{schedule_uuid}"): (
        "write:pipeline:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/key_pair"): ("admin:pipeline:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/known_hosts/{known_host_uuid}"): (
        "admin:pipeline:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pipelines_config/variables/{variable_uuid}"): (
        "admin:pipeline:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/properties/{app_key}/{property_name}"): (),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/approve"): (
        "write:pullrequest:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}"): (
        "read:pullrequest:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}/resolve"): (
        "read:pullrequest:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/request-changes"): (
        "write:pullrequest:bitbucket",
    ),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/tasks/{task_id}"): (
        "read:pullrequest:bitbucket",
    ),
    (
        "DELETE",
        "/repositories/{workspace}/{repo_slug}/pullrequests/{pullrequest_id}/properties/{app_key}/{property_name}",
    ): (),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/refs/branches/{name}"): ("write:repository:bitbucket",),
    ("DELETE", "/repositories/{workspace}/{repo_slug}/refs/tags/{name}"): ("write:repository:bitbucket",),
    ("DELETE", "/snippets/{workspace}/{encoded_id}"): ("delete:snippet:bitbucket",),
    ("DELETE", "/snippets/{workspace}/{encoded_id}/comments/{comment_id}"): ("write:snippet:bitbucket",),
    ("DELETE", "/snippets/{workspace}/{encoded_id}/watch"): ("write:snippet:bitbucket",),
    ("DELETE", "/snippets/{workspace}/{encoded_id}/{node_id}"): ("write:snippet:bitbucket",),
    ("DELETE", "/teams/{username}/pipelines_config/variables/{variable_uuid}"): ("admin:pipeline:bitbucket",),
    ("DELETE", "/users/{selected_user}/gpg-keys/{fingerprint}"): ("delete:gpg-key:bitbucket",),
    ("DELETE", "/users/{selected_user}/pipelines_config/variables/{variable_uuid}"): ("admin:pipeline:bitbucket",),
    ("DELETE", "/users/{selected_user}/properties/{app_key}/{property_name}"): (),
    ("DELETE", "/users/{selected_user}/ssh-keys/{key_id}"): ("delete:ssh-key:bitbucket",),
    ("DELETE", "/workspaces/{workspace}/hooks/{uid}"): ("delete:webhook:bitbucket",),
    ("DELETE", "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}"): ("write:runner:bitbucket",),
    ("DELETE", "/workspaces/{workspace}/pipelines-config/variables/{variable_uuid}"): ("admin:pipeline:bitbucket",),
    ("DELETE", "/workspaces/{workspace}/projects/{project_key}"): ("admin:project:bitbucket",),
    ("DELETE", "/workspaces/{workspace}/projects/{project_key}/default-reviewers/{selected_user}"): (
        "admin:project:bitbucket",
    ),
    ("DELETE", "/workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}"): (
        "admin:project:bitbucket",
        "delete:ssh-key:bitbucket",
    ),
    ("DELETE", "/workspaces/{workspace}/projects/{project_key}/permissions-config/groups/{group_slug}"): (
        "admin:project:bitbucket",
        "delete:permission:bitbucket",
    ),
    ("DELETE", "/workspaces/{workspace}/projects/{project_key}/permissions-config/users/{selected_user_id}"): (
        "admin:project:bitbucket",
        "delete:permission:bitbucket",
    ),
    ("GET", "/addon/{addon_key}/client-key"): ("admin:workspace:bitbucket",),
    ("GET", "/hook_events"): (),
    ("GET", "/hook_events/{subject_type}"): (),
    ("GET", "/repositories"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/branch-restrictions"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/branch-restrictions/{id}"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/branching-model"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/branching-model/settings"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments/{comment_id}"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/properties/{app_key}/{property_name}"): (
        "admin:workspace:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations/{annotationId}"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build/{key}"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/commits"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/commits/{revision}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/components"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/components/{component_id}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/default-reviewers"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/default-reviewers/{target_username}"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/deploy-keys"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/deployments"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/deployments/{deployment_uuid}"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/deployments_config/environments/{environment_uuid}/variables"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/diff/{spec}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/diffstat/{spec}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/downloads"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/downloads/{filename}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/effective-branching-model"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/effective-default-reviewers"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/environments"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/environments/{environment_uuid}"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/file-conflicts/{spec}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/filehistory/{commit}/{path}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/forks"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/hooks"): ("read:webhook:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/hooks/{uid}"): ("read:webhook:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/export/{repo_name}-issues-{task_id}.zip"): (
        "read:issue:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/import"): (
        "write:issue:bitbucket",
        "admin:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/attachments"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/attachments/{path}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/changes"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/changes/{change_id}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/comments"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/comments/{comment_id}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/vote"): (
        "read:issue:bitbucket",
        "read:user:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/watch"): (
        "read:issue:bitbucket",
        "read:user:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/merge-base/{revspec}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/milestones"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/milestones/{milestone_id}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/override-settings"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/patch/{spec}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/permissions-config/groups"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/permissions-config/groups/{group_slug}"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/permissions-config/users"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/permissions-config/users/{selected_user_id}"): (
        "read:repository:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/caches"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/caches/{cache_uuid}/content-uri"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners"): ("read:runner:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"): ("read:runner:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps/{step_uuid}"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps/{step_uuid}/log"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps/{step_uuid}/logs/{log_uuid}"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps/{step_uuid}/test_reports"): (
        "read:pipeline:bitbucket",
    ),
    (
        "GET",
        "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps/{step_uuid}/test_reports/test_cases",
    ): ("read:pipeline:bitbucket",),
    (
        "GET",
        "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/steps/{step_uuid}/test_reports/test_cases/{test_case_uuid}/test_case_reasons",
    ): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config"): ("admin:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/schedules"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/schedules/{schedule_uuid}"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/schedules/{schedule_uuid}/executions"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/key_pair"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/known_hosts"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/known_hosts/{known_host_uuid}"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/variables"): ("read:pipeline:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pipelines_config/variables/{variable_uuid}"): (
        "read:pipeline:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/properties/{app_key}/{property_name}"): (
        "admin:workspace:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/activity"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}"): ("read:pullrequest:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/activity"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/commits"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/conflicts"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/diff"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/diffstat"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/merge/task-status/{task_id}"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/patch"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/statuses"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/tasks"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/tasks/{task_id}"): (
        "read:pullrequest:bitbucket",
    ),
    (
        "GET",
        "/repositories/{workspace}/{repo_slug}/pullrequests/{pullrequest_id}/properties/{app_key}/{property_name}",
    ): ("admin:workspace:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/refs"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/refs/branches"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/refs/branches/{name}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/refs/tags"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/refs/tags/{name}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/src"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/src/{commit}/{path}"): ("read:repository:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/versions"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/versions/{version_id}"): ("read:issue:bitbucket",),
    ("GET", "/repositories/{workspace}/{repo_slug}/watchers"): ("read:repository:bitbucket",),
    ("GET", "/snippets"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/comments"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/comments/{comment_id}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/commits"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/commits/{revision}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/files/{path}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/watch"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/watchers"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/{node_id}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/{node_id}/files/{path}"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/{revision}/diff"): ("read:snippet:bitbucket",),
    ("GET", "/snippets/{workspace}/{encoded_id}/{revision}/patch"): ("read:snippet:bitbucket",),
    ("GET", "/teams/{username}/pipelines_config/variables"): ("read:pipeline:bitbucket",),
    ("GET", "/teams/{username}/pipelines_config/variables/{variable_uuid}"): ("read:pipeline:bitbucket",),
    ("GET", "/teams/{username}/search/code"): ("read:repository:bitbucket",),
    ("GET", "/user"): ("read:user:bitbucket",),
    ("GET", "/user/emails"): ("read:user:bitbucket",),
    ("GET", "/user/emails/{email}"): ("read:user:bitbucket",),
    ("GET", "/user/permissions/repositories"): ("read:repository:bitbucket",),
    ("GET", "/user/permissions/workspaces"): ("read:workspace:bitbucket", "read:user:bitbucket"),
    ("GET", "/user/workspaces"): ("read:workspace:bitbucket",),
    ("GET", "/user/workspaces/{workspace}/permission"): ("read:workspace:bitbucket",),
    ("GET", "/user/workspaces/{workspace}/permissions/repositories"): ("read:repository:bitbucket",),
    ("GET", "/users/{selected_user}"): ("read:user:bitbucket",),
    ("GET", "/users/{selected_user}/gpg-keys"): ("read:gpg-key:bitbucket",),
    ("GET", "/users/{selected_user}/gpg-keys/{fingerprint}"): ("read:gpg-key:bitbucket",),
    ("GET", "/users/{selected_user}/pipelines_config/variables"): ("read:pipeline:bitbucket",),
    ("GET", "/users/{selected_user}/pipelines_config/variables/{variable_uuid}"): ("read:pipeline:bitbucket",),
    ("GET", "/users/{selected_user}/properties/{app_key}/{property_name}"): ("admin:workspace:bitbucket",),
    ("GET", "/users/{selected_user}/search/code"): ("read:repository:bitbucket",),
    ("GET", "/users/{selected_user}/ssh-keys"): ("read:ssh-key:bitbucket",),
    ("GET", "/users/{selected_user}/ssh-keys/{key_id}"): ("read:ssh-key:bitbucket",),
    ("GET", "/workspaces"): ("read:user:bitbucket", "read:workspace:bitbucket"),
    ("GET", "/workspaces/{workspace}"): ("read:workspace:bitbucket",),
    ("GET", "/workspaces/{workspace}/hooks"): ("read:webhook:bitbucket",),
    ("GET", "/workspaces/{workspace}/hooks/{uid}"): ("read:webhook:bitbucket",),
    ("GET", "/workspaces/{workspace}/members"): ("read:workspace:bitbucket",),
    ("GET", "/workspaces/{workspace}/members/{member}"): ("read:workspace:bitbucket",),
    ("GET", "/workspaces/{workspace}/permissions"): ("read:workspace:bitbucket",),
    ("GET", "/workspaces/{workspace}/permissions/repositories"): ("read:repository:bitbucket",),
    ("GET", "/workspaces/{workspace}/permissions/repositories/{repo_slug}"): ("read:repository:bitbucket",),
    ("GET", "/workspaces/{workspace}/pipelines-config/identity/oidc/.well-known/openid-configuration"): (),
    ("GET", "/workspaces/{workspace}/pipelines-config/identity/oidc/keys.json"): (),
    ("GET", "/workspaces/{workspace}/pipelines-config/runners"): ("read:runner:bitbucket",),
    ("GET", "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}"): ("read:runner:bitbucket",),
    ("GET", "/workspaces/{workspace}/pipelines-config/variables"): ("read:pipeline:bitbucket",),
    ("GET", "/workspaces/{workspace}/pipelines-config/variables/{variable_uuid}"): ("read:pipeline:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects"): ("read:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}"): ("read:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/branching-model"): ("read:repository:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/branching-model/settings"): ("admin:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/default-reviewers"): ("read:pullrequest:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/default-reviewers/{selected_user}"): (
        "read:pullrequest:bitbucket",
    ),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/deploy-keys"): ("admin:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}"): ("admin:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/permissions-config/groups"): ("read:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/permissions-config/groups/{group_slug}"): (
        "read:project:bitbucket",
    ),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/permissions-config/users"): ("read:project:bitbucket",),
    ("GET", "/workspaces/{workspace}/projects/{project_key}/permissions-config/users/{selected_user_id}"): (
        "read:project:bitbucket",
    ),
    ("GET", "/workspaces/{workspace}/pullrequests/{selected_user}"): ("read:pullrequest:bitbucket",),
    ("GET", "/workspaces/{workspace}/search/code"): ("read:repository:bitbucket",),
    ("GET", "/workspaces/{workspace}/settings/gpg/public-key"): ("read:workspace:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}"): ("admin:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/branch-restrictions"): ("admin:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/commit/{commit}/approve"): (
        "read:repository:bitbucket",
        "write:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments"): ("read:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations"): (
        "read:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build"): ("read:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/commits"): ("read:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/commits/{revision}"): ("read:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/deploy-keys"): (
        "admin:repository:bitbucket",
        "write:ssh-key:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/deployments_config/environments/{environment_uuid}/variables"): (
        "admin:pipeline:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/downloads"): ("write:repository:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/environments"): ("admin:pipeline:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/environments/{environment_uuid}/changes"): (
        "admin:pipeline:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/forks"): (
        "read:repository:bitbucket",
        "write:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/hooks"): ("read:webhook:bitbucket", "write:webhook:bitbucket"),
    ("POST", "/repositories/{workspace}/{repo_slug}/issues"): ("read:issue:bitbucket", "write:issue:bitbucket"),
    ("POST", "/repositories/{workspace}/{repo_slug}/issues/export"): ("read:issue:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/issues/import"): (
        "write:issue:bitbucket",
        "admin:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/attachments"): ("write:issue:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/changes"): (
        "read:issue:bitbucket",
        "write:issue:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/comments"): (
        "read:issue:bitbucket",
        "write:issue:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines"): (
        "read:pipeline:bitbucket",
        "write:pipeline:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners"): (
        "write:runner:bitbucket",
        "read:runner:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}/stopPipeline"): (
        "write:pipeline:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines_config/schedules"): (
        "read:pipeline:bitbucket",
        "write:pipeline:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/known_hosts"): ("admin:pipeline:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/pipelines_config/variables"): ("admin:pipeline:bitbucket",),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/approve"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments"): (
        "read:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}/resolve"): (
        "read:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/decline"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/merge"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/request-changes"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/tasks"): (
        "read:pullrequest:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/refs/branches"): (
        "write:repository:bitbucket",
        "read:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/refs/tags"): (
        "write:repository:bitbucket",
        "read:repository:bitbucket",
    ),
    ("POST", "/repositories/{workspace}/{repo_slug}/src"): ("write:repository:bitbucket",),
    ("POST", "/snippets"): ("read:snippet:bitbucket", "write:snippet:bitbucket"),
    ("POST", "/snippets/{workspace}"): ("read:snippet:bitbucket", "write:snippet:bitbucket"),
    ("POST", "/snippets/{workspace}/{encoded_id}/comments"): ("read:snippet:bitbucket", "write:snippet:bitbucket"),
    ("POST", "/teams/{username}/pipelines_config/variables"): ("admin:pipeline:bitbucket",),
    ("POST", "/users/{selected_user}/gpg-keys"): ("read:gpg-key:bitbucket", "write:gpg-key:bitbucket"),
    ("POST", "/users/{selected_user}/pipelines_config/variables"): ("admin:pipeline:bitbucket",),
    ("POST", "/users/{selected_user}/ssh-keys"): ("read:ssh-key:bitbucket", "write:ssh-key:bitbucket"),
    ("POST", "/workspaces/{workspace}/hooks"): ("read:webhook:bitbucket", "write:webhook:bitbucket"),
    ("POST", "/workspaces/{workspace}/pipelines-config/runners"): ("write:runner:bitbucket", "read:runner:bitbucket"),
    ("POST", "/workspaces/{workspace}/pipelines-config/variables"): ("admin:pipeline:bitbucket",),
    ("POST", "/workspaces/{workspace}/projects"): ("admin:project:bitbucket",),
    ("POST", "/workspaces/{workspace}/projects/{project_key}/deploy-keys"): (
        "admin:project:bitbucket",
        "write:ssh-key:bitbucket",
    ),
    ("PUT", "/addon"): (),
    ("PUT", "/repositories/{workspace}/{repo_slug}"): ("admin:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/branch-restrictions/{id}"): ("admin:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/branching-model/settings"): ("admin:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/comments/{comment_id}"): (
        "read:repository:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/properties/{app_key}/{property_name}"): (),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}"): ("read:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations/{annotationId}"): (
        "read:repository:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build/{key}"): (
        "read:repository:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/default-reviewers/{target_username}"): (
        "admin:repository:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}"): (
        "admin:repository:bitbucket",
        "write:ssh-key:bitbucket",
    ),
    (
        "PUT",
        "/repositories/{workspace}/{repo_slug}/deployments_config/environments/{environment_uuid}/variables/{variable_uuid}",
    ): ("admin:pipeline:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/hooks/{uid}"): ("read:webhook:bitbucket", "write:webhook:bitbucket"),
    ("PUT", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}"): (
        "read:issue:bitbucket",
        "write:issue:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/comments/{comment_id}"): (
        "read:issue:bitbucket",
        "write:issue:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/vote"): (
        "write:issue:bitbucket",
        "write:user:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/issues/{issue_id}/watch"): (
        "write:issue:bitbucket",
        "write:user:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/override-settings"): ("admin:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/permissions-config/groups/{group_slug}"): (
        "admin:repository:bitbucket",
        "write:permission:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/permissions-config/users/{selected_user_id}"): (
        "admin:repository:bitbucket",
        "write:permission:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"): (
        "read:runner:bitbucket",
        "write:runner:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines_config"): ("admin:repository:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines_config/build_number"): ("admin:pipeline:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines_config/schedules/{schedule_uuid}"): (
        "read:pipeline:bitbucket",
        "write:pipeline:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/key_pair"): ("admin:pipeline:bitbucket",),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines_config/ssh/known_hosts/{known_host_uuid}"): (
        "admin:pipeline:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pipelines_config/variables/{variable_uuid}"): (
        "admin:pipeline:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/properties/{app_key}/{property_name}"): (),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}"): (
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}"): (
        "read:pullrequest:bitbucket",
    ),
    ("PUT", "/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/tasks/{task_id}"): (
        "read:pullrequest:bitbucket",
    ),
    (
        "PUT",
        "/repositories/{workspace}/{repo_slug}/pullrequests/{pullrequest_id}/properties/{app_key}/{property_name}",
    ): (),
    ("PUT", "/snippets/{workspace}/{encoded_id}"): ("read:snippet:bitbucket", "write:snippet:bitbucket"),
    ("PUT", "/snippets/{workspace}/{encoded_id}/comments/{comment_id}"): (
        "read:snippet:bitbucket",
        "write:snippet:bitbucket",
    ),
    ("PUT", "/snippets/{workspace}/{encoded_id}/watch"): ("write:snippet:bitbucket",),
    ("PUT", "/snippets/{workspace}/{encoded_id}/{node_id}"): ("read:snippet:bitbucket", "write:snippet:bitbucket"),
    ("PUT", "/teams/{username}/pipelines_config/variables/{variable_uuid}"): ("admin:pipeline:bitbucket",),
    ("PUT", "/users/{selected_user}/pipelines_config/variables/{variable_uuid}"): ("admin:pipeline:bitbucket",),
    ("PUT", "/users/{selected_user}/properties/{app_key}/{property_name}"): (),
    ("PUT", "/users/{selected_user}/ssh-keys/{key_id}"): ("read:ssh-key:bitbucket", "write:ssh-key:bitbucket"),
    ("PUT", "/workspaces/{workspace}/hooks/{uid}"): ("read:webhook:bitbucket", "write:webhook:bitbucket"),
    ("PUT", "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}"): (
        "read:runner:bitbucket",
        "write:runner:bitbucket",
    ),
    ("PUT", "/workspaces/{workspace}/pipelines-config/variables/{variable_uuid}"): ("admin:pipeline:bitbucket",),
    ("PUT", "/workspaces/{workspace}/projects/{project_key}"): ("admin:project:bitbucket",),
    ("PUT", "/workspaces/{workspace}/projects/{project_key}/branching-model/settings"): ("admin:project:bitbucket",),
    ("PUT", "/workspaces/{workspace}/projects/{project_key}/default-reviewers/{selected_user}"): (
        "admin:project:bitbucket",
    ),
    ("PUT", "/workspaces/{workspace}/projects/{project_key}/permissions-config/groups/{group_slug}"): (
        "admin:project:bitbucket",
        "write:permission:bitbucket",
    ),
    ("PUT", "/workspaces/{workspace}/projects/{project_key}/permissions-config/users/{selected_user_id}"): (
        "admin:project:bitbucket",
        "write:permission:bitbucket",
    ),
}
