"""The OpenAPI 3.1 document for /api/v1 (written by hand: small, and it is the contract integrators read)."""

from __future__ import annotations


def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = {"$ref": "#/components/schemas/Error"}
ERRORS = {
    "401": _ok(ERROR, "Missing, unknown or revoked token"),
    "403": _ok(ERROR, "Token scope too small"),
    "404": _ok(ERROR, "Not found"),
}
ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]


def document(server_url: str) -> dict:
    learner = {
        "type": "object",
        "properties": {
            k: {"type": t}
            for k, t in (
                ("id", "integer"),
                ("name", ["string", "null"]),
                ("profile_name", ["string", "null"]),
                ("phone", ["string", "null"]),
                ("channel", "string"),
                ("status", "string"),
                ("opted_out", "integer"),
                ("cohort", ["string", "null"]),
                ("current_course_id", ["integer", "null"]),
                ("streak", "integer"),
                ("last_inbound_at", ["string", "null"]),
            )
        },
    }
    data = lambda schema: {"type": "object", "properties": {"data": schema}}  # noqa: E731
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "coachbox API",
            "version": "1",
            "description": "Bearer tokens are created by an owner under Users → API tokens. Scopes: viewer "
            '(read), editor (read + send messages). Errors: {"error": {"code", "message"}}.',
        },
        "servers": [{"url": server_url.rstrip("/") + "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Learner": learner,
                "Costs": {
                    "type": "object",
                    "required": ["month", "currency", "unit", "total", "budget", "days"],
                    "properties": {
                        "month": {"type": "string"},
                        "timezone": {"type": "string"},
                        "currency": {"const": "USD"},
                        "unit": {"const": "micros"},
                        "current": {"type": "boolean"},
                        "total": {"type": "object"},
                        "active_learners": {"type": "integer"},
                        "per_active_learner_micros": {"type": ["integer", "null"]},
                        "forecast": {"type": ["object", "null"]},
                        "estimate_vs_actual": {"type": "object"},
                        "budget": {"type": "object"},
                        "days": {"type": "array", "items": {"type": "object"}},
                        **{
                            f"by_{d}": {"type": "array", "items": {"type": "object"}}
                            for d in ("kind", "category", "course", "class", "channel")
                        },
                    },
                },
            },
        },
        "paths": {
            "/learners": {
                "get": {
                    "summary": "Search learners (100 per page, newest first)",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": t}}
                        for n, t in (
                            ("q", "string"),
                            ("status", "string"),
                            ("cohort", "string"),
                            ("course", "integer"),
                            ("page", "integer"),
                        )
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Learner"}},
                                    "page": {"type": "integer"},
                                    "pages": {"type": "integer"},
                                    "total": {"type": "integer"},
                                },
                            }
                        ),
                        **ERRORS,
                    },
                }
            },
            "/learners/{id}": {
                "get": {
                    "summary": "One learner with enrolments and progress",
                    "parameters": ID,
                    "responses": {"200": _ok(data({"$ref": "#/components/schemas/Learner"})), **ERRORS},
                }
            },
            "/learners/{id}/messages": {
                "get": {
                    "summary": "The learner's messages, 100 at a time (before=<id> for older); each outbound one has a "
                    "state {name, text, until, note, error}: scheduled, held (quiet hours), due, sending, paused, "
                    "retrying, waiting (for the learner to write), sent, delivered, read, failed, undelivered, "
                    "cancelled; error {code, message, link} only for a provider's error",
                    "parameters": ID + [{"name": "before", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": _ok(data({"type": "array", "items": {"type": "object"}})), **ERRORS},
                },
                "post": {
                    "summary": "Send a message to the learner now, whatever the hour (editor scope; WhatsApp's 24-hour "
                    "rule applies: the admin template outside it). send_at=after_quiet_hours during the learner's "
                    "quiet hours: it goes when they end instead. The answer says the learner's local time.",
                    "parameters": ID,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["body"],
                                    "properties": {
                                        "body": {"type": "string", "maxLength": 1600},
                                        "send_at": {"type": "string", "enum": ["now", "after_quiet_hours"]},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": _ok(data({"type": "object"}), "Queued"),
                        "400": _ok(ERROR, "Invalid body"),
                        "409": _ok(ERROR, "Learner opted out"),
                        **ERRORS,
                    },
                },
            },
            "/learners/{id}/progress": {
                "get": {
                    "summary": "The learner's progress per lesson (delivered, completed, quiz score, passed)",
                    "parameters": ID,
                    "responses": {"200": _ok(data({"type": "array", "items": {"type": "object"}})), **ERRORS},
                }
            },
            "/enrollments": {
                "get": {
                    "summary": "Enrolments (100 per page, oldest first) with completed-lesson counts",
                    "parameters": [
                        {"name": n, "in": "query", "schema": s}
                        for n, s in (
                            ("course", {"type": "integer"}),
                            ("status", {"type": "string", "enum": ["active", "completed", "dropped"]}),
                            ("page", {"type": "integer"}),
                        )
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "array", "items": {"type": "object"}},
                                    "page": {"type": "integer"},
                                    "pages": {"type": "integer"},
                                    "total": {"type": "integer"},
                                },
                            }
                        ),
                        "400": _ok(ERROR, "Unknown status"),
                        **ERRORS,
                    },
                }
            },
            "/courses": {
                "get": {
                    "summary": "All courses",
                    "responses": {"200": _ok(data({"type": "array", "items": {"type": "object"}})), **ERRORS},
                }
            },
            "/courses/{id}": {
                "get": {
                    "summary": "One course with its lessons",
                    "parameters": ID,
                    "responses": {"200": _ok(data({"type": "object"})), **ERRORS},
                }
            },
            "/costs": {
                "get": {
                    "summary": "What messaging cost in a month (editor scope): total, forecast, per active learner, "
                    "per course, class, kind, category and day, estimate vs actual, the budget. Amounts are "
                    "integers in micros (millionths of a US dollar); see docs/costs.md",
                    "parameters": [
                        {
                            "name": "month",
                            "in": "query",
                            "description": "YYYY-MM in the organisation's time zone; absent = this month",
                            "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                        }
                    ],
                    "responses": {
                        "200": _ok(data({"$ref": "#/components/schemas/Costs"})),
                        "400": _ok(ERROR, "Not a month"),
                        **ERRORS,
                    },
                }
            },
        },
    }
