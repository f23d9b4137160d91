"""Process settings: the only module that reads the environment (``ZDM_*`` variables or a ``.env`` file).

Secrets and URLs live here; the runbook itself (roles, channels, steps) lives in ``zdm.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from commands.errors import ConfigError


class Settings(BaseSettings):
    # an empty variable (``ZDM_SLACK_APP_TOKEN=`` in .env, ``${X:-}`` in compose) means unset
    model_config = SettingsConfigDict(env_prefix="ZDM_", env_file=".env", extra="ignore", env_ignore_empty=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = Field(default=None, description="xapp-… token: enables Socket Mode")
    slack_api_url: str | None = Field(default=None, description="Slack Web API base URL override (tests, emulator)")
    state_database_url: str | None = Field(default=None, description="bot state; unset = embedded Postgres")
    state_owner_database_url: str | None = Field(
        default=None,
        description="the role owning zdm's state schema, for the migrator only; state_database_url is then the "
        "runtime role (INSERT/SELECT on the audit log, nothing it could tamper with): see deploy/state-roles.sql",
    )
    target_database_url: str | None = Field(default=None, description="app being migrated; unset = embedded demo")
    github_token: SecretStr | None = Field(default=None, description="release issue + incident tickets")
    github_api_url: str | None = Field(default=None, description="GitHub API base URL override (tests, GHES)")
    pagerduty_routing_key: SecretStr | None = Field(default=None, description="Events API v2 integration key")
    pagerduty_events_url: str | None = Field(default=None, description="Events API URL override (tests)")
    lighthouse_token: SecretStr | None = Field(default=None, description="enables POST /lighthouse (bearer)")
    repo_token: SecretStr | None = Field(default=None, description="token to fetch [app] repo over HTTPS")
    repo_cache_dir: Path | None = Field(default=None, description="git cache of [app] repo; unset = <data_dir>/repo")
    config_path: Path = Path("zdm.toml")
    data_dir: Path = Path(".zdm")
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    http_threads: int = Field(default=16, ge=1, le=256)
    scheduler_tick_s: float = Field(default=30.0, gt=0)
    shell_user: str = Field(default="U0DEMO", pattern=r"^[UW][A-Z0-9]{1,30}$")
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object per line")
    role_cache_max_age_s: float = Field(
        default=600.0, gt=0, description="user-group membership older than this is not trusted when Slack fails"
    )
    shutdown_grace_s: float = Field(default=20.0, gt=0, description="SIGTERM: finish in-flight work within this")
    lock_lease_s: float = Field(
        default=10.0, gt=0, description="a lock not renewed for this long (its process died) can be taken over"
    )

    @field_validator("slack_api_url")
    @classmethod
    def _api_base_ends_with_slash(cls, value: str | None) -> str | None:
        # slack_sdk joins method names onto the base URL: without the trailing "/" a path part would be dropped
        return value if value is None or value.endswith("/") else value + "/"

    def named_variable(self, name: str | None) -> str | None:
        """The value of an environment variable zdm.toml names (an environment's database URL, its shadow
        database); None when it is unset or empty. zdm.toml holds names only, never the secret URLs."""
        return (os.environ.get(name) or None) if name else None

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    @property
    def audit_tamper_proof(self) -> bool:
        """The bot connects as a runtime role that owns nothing, the migrator as the owner role."""
        return self.state_database_url is not None and self.state_owner_database_url is not None

    @property
    def embedded(self) -> bool:
        return self.state_database_url is None or self.target_database_url is None


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "ZDM_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"setting {key}: {first['msg']}") from exc
