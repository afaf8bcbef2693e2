"""Structured logs: one JSON object per line, with the request id, to stdout and a rotating file."""

from __future__ import annotations

import json
import logging

from coachbox.core.logs import request_id, setup_logging


def test_it_writes_json_lines_with_the_request_id_to_the_log_file(settings, capsys):
    setup_logging(settings)
    token = request_id.set("req-123")
    try:
        logging.getLogger("coachbox.test").warning("learner said hi", extra={"learner_id": 7})
    finally:
        request_id.reset(token)
    for handler in logging.getLogger("coachbox").handlers:
        handler.flush()
    line = (settings.data_dir / "logs" / "coachbox.log").read_text(encoding="utf-8").strip().splitlines()[-1]
    record = json.loads(line)
    assert record["msg"] == "learner said hi"
    assert record["request_id"] == "req-123"
    assert record["learner_id"] == 7
    assert record["level"] == "WARNING"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["msg"] == "learner said hi"


def test_it_keeps_a_traceback_inside_one_json_line(settings):
    setup_logging(settings)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("coachbox.test").exception("it failed")
    for handler in logging.getLogger("coachbox").handlers:
        handler.flush()
    line = (settings.data_dir / "logs" / "coachbox.log").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert "ValueError: boom" in json.loads(line)["exc"]
