"""The GitHub adapter against a local server speaking GitHub's REST wire format: headers, retries, errors."""

from __future__ import annotations

import pytest

from bot.local.standins import GitHubStandIn
from commands.adapters.github import GitHubIssues
from commands.errors import OutsideServiceFailed

REPO = "icupa/app"


def test_rate_limits_are_waited_out_as_retry_after_says(github: GitHubStandIn) -> None:
    github.add_issue(REPO, title="Release", body="old")
    github.fail_next(429, {"message": "API rate limit exceeded"}, {"Retry-After": "0"})
    github.fail_next(502, {"message": "Server Error"})
    client = GitHubIssues(token="ghp-test", api_url=github.url, base_delay_s=0)
    client.write_body(REPO, 1, "new")
    assert github.issue(REPO, 1)["body"] == "new"
    assert [r.method for r in github.requests()] == ["PATCH", "PATCH", "PATCH"]


def test_refusals_become_one_sentence_naming_the_issue(github: GitHubStandIn) -> None:
    with pytest.raises(OutsideServiceFailed, match=r"GitHub failed for icupa/app#9: HTTP 404 Not Found\. Check"):
        GitHubIssues(token="ghp-test", api_url=github.url).read_body(REPO, 9)
    with pytest.raises(OutsideServiceFailed, match="HTTP 401 Bad credentials"):
        GitHubIssues(token="wrong", api_url=github.url).read_body(REPO, 1)
    with pytest.raises(OutsideServiceFailed, match="no answer"):
        GitHubIssues(token="ghp-test", api_url="http://127.0.0.1:9", attempts=2, base_delay_s=0).read_body(REPO, 1)


def test_incident_tickets_are_created_with_labels_and_found_again_by_marker(github: GitHubStandIn) -> None:
    client = GitHubIssues(token="ghp-test", api_url=github.url)
    url = client.open_issue(REPO, title="Lighthouse drop", body="x <!-- zdm:lh-1 -->", labels=["incident"])
    assert url == f"https://github.com/{REPO}/issues/1"
    [post] = github.requests("POST")
    assert post.body == {"title": "Lighthouse drop", "body": "x <!-- zdm:lh-1 -->", "labels": ["incident"]}
    assert client.find_issue(REPO, label="incident", marker="<!-- zdm:lh-1 -->") == url
    assert client.find_issue(REPO, label="incident", marker="<!-- zdm:lh-2 -->") is None
    assert client.find_issue(REPO, label="other", marker="<!-- zdm:lh-1 -->") is None


def test_creating_an_issue_is_not_repeated_after_a_server_error_but_is_after_a_rate_limit(
    github: GitHubStandIn,
) -> None:
    client = GitHubIssues(token="ghp-test", api_url=github.url, base_delay_s=0)
    github.fail_next(502, {"message": "Server Error"})  # GitHub may have created it before failing
    with pytest.raises(OutsideServiceFailed, match="HTTP 502"):
        client.open_issue(REPO, title="t", body="b", labels=[])
    github.fail_next(429, {"message": "API rate limit exceeded"}, {"Retry-After": "0"})
    client.open_issue(REPO, title="t", body="b", labels=[])
    assert [r.method for r in github.requests()] == ["POST", "POST", "POST"] and len(github.issues[REPO]) == 1
