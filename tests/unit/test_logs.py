"""Structured logs: JSON lines with the request id in data/logs/coachbox.log, short human lines on the console."""

from __future__ import annotations

import dataclasses
import json
import logging

from coachbox.core.logs import JsonFormatter, SharedRotatingFileHandler, request_id, setup_logging


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
    console = capsys.readouterr().out.strip().splitlines()[-1]
    assert "WARNING test: learner said hi" in console and "learner_id=7" in console  # short and human, not JSON


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


def test_it_prints_json_on_the_console_when_asked(settings, capsys):
    setup_logging(dataclasses.replace(settings, log=dataclasses.replace(settings.log, json=True)))
    logging.getLogger("coachbox.test").warning("for the collector")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["msg"] == "for the collector"


def test_processes_sharing_the_file_rotate_it_once_and_lose_no_line(tmp_path):
    """Two handlers on one file stand for two processes: each rotation happens once, and every line lands in the
    current file or a backup (the old RotatingFileHandler rotated per process and overwrote backups)."""
    path = tmp_path / "coachbox.log"
    writers = [SharedRotatingFileHandler(path, max_bytes=2_000, backups=50) for _ in range(2)]
    for writer in writers:
        writer.setFormatter(JsonFormatter())
        writer.CHECK_SECONDS = 0  # check the size on every line
    for number in range(200):
        record = logging.LogRecord("coachbox.test", logging.INFO, __file__, 1, f"line {number}", None, None)
        writers[number % 2].emit(record)
    for writer in writers:
        writer.close()
    files = sorted(tmp_path.glob("coachbox.log*"))
    assert len(files) > 3  # it did rotate
    written = [json.loads(line)["msg"] for f in files for line in f.read_text().splitlines()]
    assert sorted(written, key=lambda m: int(m.split()[1])) == [f"line {n}" for n in range(200)]
