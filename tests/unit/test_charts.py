"""KPI and backfill charts: the data (pure, from readings and ``now``), the PNG, and the upload to Slack's files API
as the emulator speaks it."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from slack_sdk import WebClient

from bot.chart_png import BOTTOM, PANEL_HEIGHT, TOP, WIDTH, render_png
from bot.local.emulator import BOT_TOKEN, SlackEmulator
from bot.render import card_blocks
from bot.slack_files import SlackFileUploads
from bot.slack_io import SlackNotifier
from commands.cards import Card
from commands.charts import MAX_POINTS, Mark, SeriesLog, chart_windows, rate_chart
from commands.kpi_chart import Limits, kpi_chart
from commands.rollout.gates import KpiReading

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def readings(windows: list[tuple[datetime, datetime]], *, errors: list[int], samples: int = 200) -> list[KpiReading]:
    return [
        KpiReading(since, until, samples if i != 2 else 10, errors[i % len(errors)], 240.0 + i, 0)
        for i, (since, until) in enumerate(windows)
    ]


def a_chart() -> tuple[list[tuple[datetime, datetime]], object]:
    windows = chart_windows(since=NOW - timedelta(hours=12), now=NOW, window=timedelta(minutes=5))
    chart = kpi_chart(
        title="Rollout #1 KPIs on 3 tenants",
        windows=windows,
        readings=readings(windows, errors=[0, 1, 4]),
        min_samples=50,
        limits=Limits(error_rate_below=0.01, p95_ms_below=350, guardrail_breaches_at_most=0),
        marks=[Mark(NOW - timedelta(hours=6), "step 1 canary"), Mark(NOW - timedelta(days=2), "long ago")],
    )
    return windows, chart


def test_windows_cover_the_period_ending_now_with_at_most_max_points() -> None:
    long = chart_windows(since=NOW - timedelta(hours=12), now=NOW, window=timedelta(minutes=5))
    assert len(long) == MAX_POINTS and long[-1][1] == NOW and long[0][0] == NOW - timedelta(hours=12)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(long))
    short = chart_windows(since=NOW - timedelta(minutes=15), now=NOW, window=timedelta(minutes=5))
    assert [w[1] for w in short] == [NOW - timedelta(minutes=10), NOW - timedelta(minutes=5), NOW]


def test_kpi_chart_has_limits_gaps_and_flips_and_its_alt_text_states_the_numbers() -> None:
    windows, chart = a_chart()
    rate, p95, breaches = chart.panels  # type: ignore[attr-defined]
    assert (rate.threshold, p95.threshold, breaches.threshold) == (1.0, 350, 0.0)
    assert rate.points[2][1] is None and p95.points[2][1] is None  # 10 requests < min_samples: a gap, not a zero
    assert rate.points[1] == (windows[1][1], 0.5)  # 1 error in 200 requests = 0.5 %
    assert [m.label for m in chart.marks] == ["step 1 canary"]  # type: ignore[attr-defined]
    alt = chart.alt  # type: ignore[attr-defined]
    assert "error rate: latest 2.00 %, max 2.00 % (limit < 1 %)" in alt
    assert "P95 latency: latest 263 ms" in alt and "guardrail breaches: latest 0" in alt
    assert "flips at 06:00 (step 1 canary)" in alt


def test_the_png_decodes_at_its_size() -> None:
    _, chart = a_chart()
    data = render_png(chart)  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.size == (WIDTH, TOP + 3 * PANEL_HEIGHT + BOTTOM)
    assert len(data) < 60_000  # small enough for a card
    assert len(image.getcolors(maxcolors=100_000) or ()) > 5  # something is drawn


def test_backfill_rate_chart_needs_two_readings_and_shows_the_throttle() -> None:
    log = SeriesLog(keep=8)
    log.add(7, NOW, rate=100.0, throttle=0.0)
    assert rate_chart(title="Backfill #7 speed", rates=log.points(7, "rate"), now=NOW) is None
    for i in range(1, 12):
        log.add(7, NOW + timedelta(seconds=10 * i), rate=100.0 + i, throttle=float(i % 2))
    rates = log.points(7, "rate")
    assert len(rates) < 8 and rates[0][1] == 100.0 and rates[-1][1] == 111.0  # thinned, first and last kept
    chart = rate_chart(title="Backfill #7 speed", rates=rates, throttle=log.points(7, "throttle"), now=rates[-1][0])
    assert chart is not None and [p.name for p in chart.panels] == ["speed", "throttle"]
    assert "speed: latest 111 rows/s" in chart.alt
    assert Image.open(io.BytesIO(render_png(chart))).size == (WIDTH, TOP + 2 * PANEL_HEIGHT + BOTTOM)


def test_a_card_without_its_uploaded_image_keeps_the_numbers() -> None:
    _, chart = a_chart()
    card = Card(title="Step 2/4", lines=("x",), chart=chart)  # type: ignore[arg-type]
    shown = card_blocks(card, chart_file="F123")
    image = next(b for b in shown if b["type"] == "image")
    assert image["slack_file"] == {"id": "F123"} and image["alt_text"] == chart.alt  # type: ignore[attr-defined]
    text = card_blocks(card)
    assert not any(b["type"] == "image" for b in text)
    assert any("error rate: latest 2.00 %" in str(b) for b in text if b["type"] == "context")


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator().start()
    yield emulator
    emulator.stop()


def test_the_chart_is_uploaded_with_slacks_file_api_and_shown_by_file_id(emulator: SlackEmulator) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=emulator.api_url)
    notifier = SlackNotifier(client, uploads=SlackFileUploads(client))
    _, chart = a_chart()
    card = Card(title="Step 2/4", chart=chart)  # type: ignore[arg-type]
    ref = notifier.post("#release", card)
    notifier.update(ref, card)  # the same image is not uploaded twice
    methods = [m for m, _ in emulator.calls]
    assert methods.count("files.getUploadURLExternal") == 1 and methods.count("files.completeUploadExternal") == 1
    (file_id,) = emulator.files
    shown = emulator.in_channel("#release")[0]
    image = next(b for b in shown.blocks if b["type"] == "image")
    assert image["slack_file"] == {"id": file_id}
    data = emulator.file_bytes(file_id)
    assert data is not None and Image.open(io.BytesIO(data)).format == "PNG"


def test_the_emulator_refuses_what_slack_refuses(emulator: SlackEmulator) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=emulator.api_url)
    started = client.files_getUploadURLExternal(filename="x.png", length=4)
    with pytest.raises(Exception, match="file_not_found"):  # completed before the bytes arrived
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}])
    image = {"type": "image", "slack_file": {"id": started["file_id"]}, "alt_text": "x"}
    with pytest.raises(Exception, match="invalid_blocks"):
        client.chat_postMessage(channel="#release", text="x", blocks=[image])
    with pytest.raises(Exception, match="invalid_arguments"):
        client.files_getUploadURLExternal(filename="x.png", length=0)
