"""A served web worker freezes what start-up made, so full garbage collections stop scanning it (issue #15)."""

from __future__ import annotations

import asyncio
import gc

from coachbox.roots import entry


def test_the_served_worker_freezes_its_start_up_objects(settings):
    app = entry.web_app(settings)
    registered = [(f.event, f.listener) for f in app._future_listeners]  # listeners attach when the server starts
    assert ("after_server_start", entry._freeze_start_up_objects) in registered
    try:
        asyncio.run(entry._freeze_start_up_objects(app))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this process is the test run: its objects must stay collectable
