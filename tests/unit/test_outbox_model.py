"""The outbox's pure decisions: how an entry changes a file, and when a failed delivery is retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.outbox.model import LOG_HEADER, OutboxEntry, apply_entry, entry_marker, retry_at

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def entry(uid: str, text: str, **kwargs: object) -> OutboxEntry:
    marker = entry_marker("rollback", uid)
    return OutboxEntry(marker=marker, path="log.md", title="t", text=f"{marker}\n{text}\n\n", created_at=NOW, **kwargs)  # type: ignore[arg-type]


def test_append_once_by_exact_marker_and_never_confuses_two_entries() -> None:
    first = apply_entry("", entry("a1", "## one"))
    assert first.startswith(LOG_HEADER) and first.count("## one") == 1
    assert apply_entry(first, entry("a1", "## one")) == first  # the same entry again: unchanged
    both = apply_entry(first, entry("a10", "## ten"))  # a marker that merely starts like another is a new entry
    assert both.count("## one") == 1 and both.count("## ten") == 1
    assert apply_entry("# by hand", entry("b", "## b")) == "# by hand\n\n<!-- zdm:rollback:b -->\n## b\n\n"


def test_a_block_entry_replaces_the_previous_block_and_keeps_text_written_by_people() -> None:
    older = OutboxEntry(marker="<!-- zdm:entry:1 -->", path="CHANGELOG.md", title="t", text="- old", created_at=NOW,
                        block="profiles", heading="Unreleased")  # fmt: skip
    newer = OutboxEntry(marker="<!-- zdm:entry:2 -->", path="CHANGELOG.md", title="t", text="- new", created_at=NOW,
                        block="profiles", heading="Unreleased")  # fmt: skip
    text = apply_entry(apply_entry("# Changelog\n\n## Unreleased\n\n- by hand\n", older), newer)
    assert "- new" in text and "- old" not in text and "- by hand" in text and text.count("zdm:notes:profiles") == 2


def test_retries_back_off_exponentially_up_to_an_hour() -> None:
    delays = [retry_at(n, NOW) - NOW for n in (1, 2, 3, 4, 30)]
    assert delays == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
                      timedelta(hours=1)]  # fmt: skip
