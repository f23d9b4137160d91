"""Work after the ack logs under the ref of the Slack request it belongs to: the one the person is shown."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import JsonFormatter
from commands.config import RunbookConfig
from tests.conftest import ONCALL, BotServer, write_config

BROKEN_JOB = """
[backfill]
default_job = "broken"

[backfill.environments.staging]

[backfill.jobs.broken]
table = "public.tenants"
batch_sql = "select 0, 0, null where %(after)s < %(upto)s limit %(limit)s"
verify_sql = "select count(*) from public.no_such_table"
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=BROKEN_JOB, roles=f'dba = ["{ONCALL}"]')


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


def test_an_error_after_the_ack_is_logged_with_the_ref_in_the_reply(bot: BotServer, json_log: io.StringIO) -> None:
    ack = bot.command("backfill start staging").json()["text"]
    assert ack == "Backfill #1 of `broken` on `staging` starts now."
    bot.settle()  # after the ack: counting the rows to do fails (the verification query names no real table)
    reply = next(text for text in bot.responses() if "internal error" in text)
    ref = re.search(r"\(ref ([0-9a-f]{8})\) while working on this", reply)
    assert ref, reply
    errors = [json.loads(line) for line in json_log.getvalue().splitlines()]
    errors = [e for e in errors if e["level"] == "ERROR"]
    assert [(e["logger"], e["ref"]) for e in errors] == [("zdm.errors", ref[1])]
    assert errors[0]["message"] == f"internal error (ref {ref[1]})" and "UndefinedTable" in errors[0]["exception"]
