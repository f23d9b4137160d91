"""Per-environment database URLs: zdm.toml names a variable, ``Settings`` (the only reader of the environment)
gives its value, the composition root builds each environment from it."""

from __future__ import annotations

import pytest

from bot.edges import environment_urls
from bot.settings import Settings
from commands.backfill.config import Environment


def test_each_environment_url_comes_from_the_variable_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZDM_TEST_STAGING_URL", "postgresql://staging/app")
    monkeypatch.setenv("ZDM_TEST_EMPTY_URL", "")
    monkeypatch.delenv("ZDM_TEST_MISSING_URL", raising=False)
    environments = {
        "staging": Environment(database_url_env="ZDM_TEST_STAGING_URL"),
        "empty": Environment(database_url_env="ZDM_TEST_EMPTY_URL"),
        "missing": Environment(database_url_env="ZDM_TEST_MISSING_URL"),
        "target": Environment(),
    }
    urls = environment_urls(Settings(), "backfill", environments, "postgresql://target/app")
    assert urls == {"staging": "postgresql://staging/app", "target": "postgresql://target/app"}
    assert Settings().named_variable(None) is None
