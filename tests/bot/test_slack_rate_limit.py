"""Slack answers 429 with Retry-After: zdm waits and posts once (the Slack Web API emulator is the fake at the edge)."""

from __future__ import annotations

from bot.local.emulator import SlackEmulator
from tests.conftest import BotServer


def test_a_rate_limited_post_is_retried_after_retry_after_and_lands_once(bot: BotServer, slack: SlackEmulator) -> None:
    slack.rate_limit_next(1)
    assert bot.command("rollout start").status_code == 200
    bot.settle()
    assert slack.rate_limited_answers == 1
    texts = [params["text"] for method, params in slack.calls if method == "chat.postMessage"]
    assert texts and texts[0].startswith("Rollout #1 of `tenant.enableNewProfile`")  # the rate-limited call landed
    assert len(texts) == len(set(texts))  # and nothing was posted twice
