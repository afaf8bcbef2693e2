"""The admin pages on a Meta box: failed messages explained in Meta's words, the WABA's templates listed."""

from __future__ import annotations

import pytest

from tests.admin.conftest import add_learner, signed_in
from tests.doubles.meta_fixtures import meta_double, meta_settings_for  # noqa: F401 - fixtures

pytestmark = pytest.mark.anyio


async def test_operations_explains_a_meta_error_code(app, client, cast, conn, settings, meta_double):
    app.ctx.services.settings = meta_settings_for(settings, meta_double.url)
    learner_id = add_learner(conn)
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, error_code,
                             attempts, created_at, updated_at) VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', 'Lesson 3',
                             'failed', '131026', 1, '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    )
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    assert "Lesson 3" in page.text and "Meta could not deliver to this number" in page.text
    assert "Twilio error 131026" not in page.text


async def test_a_learner_known_only_by_a_business_scoped_id_shows_it(app, client, cast, conn):
    conn.execute(
        """INSERT INTO learners (channel_key, channel, wa_user_id, name, created_at, updated_at)
           VALUES ('whatsapp:US.1349', 'whatsapp', 'US.1349', 'Wanjiku', '2026-03-01T00:00:00+00:00',
                   '2026-03-01T00:00:00+00:00')"""
    )
    learner_id = conn.execute("SELECT id FROM learners WHERE channel_key = 'whatsapp:US.1349'").fetchone()[0]
    await signed_in(client, "alice@school.test")
    _, listing = await client.get("/admin/learners")
    assert "US.1349" in listing.text
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "WhatsApp user id" in page.text and "US.1349" in page.text and "a WhatsApp username" in page.text
