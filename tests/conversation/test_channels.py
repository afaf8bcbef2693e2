"""The terminal chat: the engine in-process, no session or CSRF token (the simulator API: tests/admin)."""

import io

import pytest

from coachbox.cli.chat import run_chat
from coachbox.content.importer import import_folder


def test_it_chats_in_the_terminal_from_a_script(conn, settings, clock):
    import_folder(conn, settings.content_dir, settings, progress=None)
    out = io.StringIO()
    code = run_chat(
        settings,
        phone="+254712345678",
        language="sw",
        profile_name="Juma",
        stdin=io.StringIO("habari\nndiyo\n"),
        stdout=out,
        clock=clock,
        periodic=False,
    )
    text = out.getvalue()
    assert code == 0
    assert "> habari\n🤖 👋 Karibu" in text and "Nimefurahi kukufahamu, Juma!" in text
    rows = conn.execute("SELECT direction, channel FROM messages ORDER BY id").fetchall()
    assert [tuple(r) for r in rows][:2] == [("in", "simulator"), ("out", "simulator")]
