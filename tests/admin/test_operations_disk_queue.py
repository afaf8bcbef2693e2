"""The operations page shows the data folder's free disk space (warning well before the floor) and the last time a
broken queue database was replaced on start."""

from __future__ import annotations

import pytest

from coachbox.store import queue_file
from tests.admin.conftest import signed_in

ABSURD_MB = 10**12


@pytest.mark.anyio
async def test_the_operations_page_shows_the_disk_and_a_replaced_queue(app, client, cast, conn, settings, clock):
    app.ctx.services.settings = settings.replace(server={"warn_free_disk_mb": ABSURD_MB})
    queue_file.record_recovery(
        conn, at=clock.now(), reason="it is corrupt (database disk image is malformed)", moved_to=settings.queue_path
    )
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    assert page.status_code == 200
    assert 'id="disk" class="warn"' in page.text and "disk space low" in page.text
    assert 'id="queue-recovery"' in page.text and "database disk image is malformed" in page.text
    assert "data/queue.db" in page.text
