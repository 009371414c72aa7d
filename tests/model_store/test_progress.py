"""Progress reports: bytes, rate over a recent window, time left, throttling."""

from __future__ import annotations

from sfumato.model_store import DownloadProgress
from sfumato.model_store.progress import ProgressMeter


def test_rate_and_eta_come_from_fresh_bytes_only() -> None:
    now = [0.0]
    reports: list[DownloadProgress] = []
    meter = ProgressMeter("m", 1000, 2, reports.append, interval=0.0, clock=lambda: now[0])
    meter.add(400, "a", resumed=True)  # found in staging: not part of the rate
    now[0] = 1.0
    meter.add(100, "a")
    now[0] = 2.0
    meter.add(100, "a")
    last = reports[-1]
    assert (last.bytes_done, last.bytes_resumed, last.rate) == (600, 400, 100.0)
    assert last.eta == 4.0
    meter.file_done("a")
    meter.finish()
    assert reports[-1].finished and reports[-1].files_done == 1


def test_reports_are_throttled_but_file_ends_always_reported() -> None:
    now = [0.0]
    reports: list[DownloadProgress] = []
    meter = ProgressMeter("m", 10, 1, reports.append, interval=0.5, clock=lambda: now[0])
    for _ in range(5):
        meter.add(1, "a")
    assert len(reports) == 1
    meter.file_done("a")
    assert len(reports) == 2 and reports[-1].files_done == 1
    assert ProgressMeter("m", 0, 0, None).snapshot().eta == 0.0
