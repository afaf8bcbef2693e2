"""Health that sees the disk: /healthz reports free space and answers 503 below [server] min_free_disk_mb, `coachbox
check` and the operations page warn well before, and a backup that would cross the floor refuses to start."""

from __future__ import annotations

import pytest

from coachbox.core import disk
from coachbox.core.errors import UserError
from coachbox.ops.backup import backup
from coachbox.ops.checks import check_disk

ABSURD_MB = 10**12  # more than any disk


@pytest.mark.anyio
async def test_healthz_reports_free_space_and_answers_200_above_the_floor(app):
    request, response = await app.asgi_client.get("/healthz")
    body = response.json
    assert body["disk"]["ok"] is True and body["disk"]["free_bytes"] > 0 and body["disk"]["total_bytes"] > 0
    assert body["disk"]["floor_mb"] == 256
    assert response.status == 200 or not body.get("worker", {"ok": True})["ok"]  # only the disk is judged here


@pytest.mark.anyio
async def test_healthz_answers_503_below_the_floor_with_the_figure(app, settings):
    app.ctx.services.settings = settings.replace(server={"min_free_disk_mb": ABSURD_MB})
    request, response = await app.asgi_client.get("/healthz")
    assert response.status == 503
    body = response.json
    assert body["status"] == "degraded" and body["disk"]["ok"] is False
    assert body["disk"]["free_mb"] >= 0 and f"{body['disk']['free_mb']:,} MB free" in body["disk"]["warning"]
    assert "min_free_disk_mb" in body["disk"]["warning"]


def test_the_statvfs_result_is_kept_for_a_second(settings, monkeypatch):
    calls = []
    real = disk.os.statvfs
    monkeypatch.setattr(disk.os, "statvfs", lambda path: calls.append(path) or real(path))
    disk._cache.clear()
    for _ in range(50):
        disk.disk_space(settings.data_dir)
    assert len(calls) == 1
    disk.disk_space(settings.data_dir, cached=False)
    assert len(calls) == 2


def test_check_warns_well_before_the_floor_and_errs_below_it(settings):
    [ok] = check_disk(settings)
    assert ok.level in ("ok", "warn") and "MB free" in ok.what  # the test machine's own disk
    [warn] = check_disk(settings.replace(server={"warn_free_disk_mb": ABSURD_MB}))
    assert warn.level == "warn" and "disk space low" in warn.what and warn.fix
    [warn] = check_disk(settings.replace(server={"warn_free_disk_mb": 0, "warn_free_disk_percent": 101}))
    assert warn.level == "warn"
    [error] = check_disk(settings.replace(server={"min_free_disk_mb": ABSURD_MB}))
    assert error.level == "error" and "min_free_disk_mb" in error.what


def test_backup_refuses_when_it_would_cross_the_floor(settings, conn):
    high = settings.replace(server={"min_free_disk_mb": ABSURD_MB})
    with pytest.raises(UserError) as refused:
        backup(high)
    message = str(refused.value)
    assert message.startswith("backup not started: it needs up to ")
    assert "MB free" in message and f"{ABSURD_MB:,} MB must stay free" in message and "min_free_disk_mb" in message
    assert not list((settings.data_dir / "backups").glob("*"))  # nothing written, not even a staging folder
    assert backup(settings).is_file()  # the normal floor lets it run
