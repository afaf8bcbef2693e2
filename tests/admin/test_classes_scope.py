"""Classes and their teachers (issue #17): which learners each persona sees, messages and exports, on every route.

Healthchecks style: a table of personas (an owner, a teacher of Form 2, a teacher of Form 3, a viewer given no
class) and of learners (in Form 2, in Form 3, in both, in none), and every admin page and API endpoint read from
app.router.routes, so a route added later is held to the same rule without a change here: a learner outside the
persona's classes is a 404 on every route that names them, and their name and number appear on no page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlite_utils
from markupsafe import Markup
from sanic_testing.testing import SanicASGITestClient

from coachbox import store
from coachbox.admin import learning
from coachbox.admin.scope import EVERYONE, NOBODY, LearnerScope, scope_for
from coachbox.admin.security import role_at_least
from coachbox.store import admins, broadcasts, classes, progress
from coachbox.store.checkins import Gain
from tests.admin.conftest import add_learner, csrf_from, signed_in

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 2, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Persona:
    email: str
    role: str
    classes: tuple[str, ...]
    sees: frozenset[str]  # the learners (by key below) this persona may see


# Learners: key -> (name, phone, main class, other classes). Names and numbers are unique strings on purpose: the
# walk looks for them in every page.
LEARNERS = {
    "two": ("Wanjiku Twoclass", "+254711000002", "Form 2", ()),
    "three": ("Otieno Threeclass", "+254711000003", "Form 3", ()),
    "both": ("Chausiku Bothclasses", "+254711000023", "Form 2", ("Form 3",)),
    "none": ("Dalia Noclass", "+254711000009", None, ()),
}
ALL = frozenset(LEARNERS)
PERSONAS = {
    "owner": Persona("head@school.test", "owner", ("Form 2",), ALL),  # owners see everyone whatever they are given
    "form2": Persona("form2@school.test", "editor", ("Form 2",), frozenset({"two", "both"})),
    "form3": Persona("form3@school.test", "editor", ("Form 3",), frozenset({"three", "both"})),
    "viewer": Persona("look@school.test", "viewer", (), ALL),  # given no class: everyone, read only
}


@dataclass
class School:
    learners: dict[str, int]
    clients: dict[str, SanicASGITestClient]
    csrf: dict[str, str]
    tokens: dict[str, str]
    handovers: dict[str, int]
    admin_ids: dict[str, int]


@pytest.fixture
async def school(app, conn, password_hash) -> School:
    ids = {}
    for key, (name, phone, main, others) in LEARNERS.items():
        ids[key] = add_learner(conn, name=name, phone=phone, cohort=main, last_inbound_at="2026-03-01T10:00:00+00:00")
        for other in others:
            classes.add_learner(conn, ids[key], other, NOW)
    conn.execute(
        "INSERT INTO courses (id, slug, language, title, created_at, updated_at) VALUES (1, 'maths', 'en', 'Maths', ?, ?)",
        (NOW.isoformat(), NOW.isoformat()),
    )
    handovers = {}
    for key, learner_id in ids.items():
        progress.enroll(conn, learner_id, 1, NOW)
        conn.execute(
            """INSERT INTO certificates (code, learner_id, course_id, learner_name, score, issued_at)
               VALUES (?, ?, 1, ?, 90, ?)""",
            (f"CODE-{key.upper()}", learner_id, LEARNERS[key][0], NOW.isoformat()),
        )
        conn.execute(
            """INSERT INTO payments (learner_id, plan, provider, amount_minor, currency, status, period_days,
                                     created_at, updated_at) VALUES (?, 'monthly', 'manual', 500, 'KES', 'paid', 30, ?, ?)""",
            (learner_id, NOW.isoformat(), NOW.isoformat()),
        )
        conn.execute(
            "INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, created_at, updated_at)"
            " VALUES (?, 'in', 'whatsapp', ?, ?, 'text', 'received', ?, ?)",
            (
                learner_id,
                f"whatsapp:{LEARNERS[key][1]}",
                f"hello from {LEARNERS[key][0]}",
                NOW.isoformat(),
                NOW.isoformat(),
            ),
        )
        handovers[key] = conn.execute(
            "INSERT INTO handovers (learner_id, reason, detail, opened_at, waiting_since, updated_at)"
            " VALUES (?, 'asked', ?, ?, ?, ?)",
            (learner_id, f"help for {LEARNERS[key][0]}", NOW.isoformat(), NOW.isoformat(), NOW.isoformat()),
        ).lastrowid
    clients, csrf, tokens, admin_ids = {}, {}, {}, {}
    for key, persona in PERSONAS.items():
        admin_ids[key] = conn.execute(
            "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (persona.email, password_hash, persona.role, NOW.isoformat()),
        ).lastrowid
        classes.set_for_admin(conn, admin_ids[key], persona.classes)
        token_id, tokens[key] = admins.create_api_token(conn, key, persona.role, NOW)
        classes.set_for_token(conn, token_id, persona.classes)
        clients[key] = SanicASGITestClient(app)
        csrf[key] = await signed_in(clients[key], persona.email)
    return School(ids, clients, csrf, tokens, handovers, admin_ids)


def _path(route_path: str, learner_id: int | None = None, other: int = 1) -> str:
    path = "/" + route_path
    if learner_id is not None:
        path = path.replace("<learner_id:int>", str(learner_id))
    path = re.sub(r"<[a-z_]+:int>", str(other), path)
    path = re.sub(r"<action:([a-z]+)[^>]*>", r"\1", path)
    return re.sub(r"<[a-z_]+(:str)?>", "x", path)


def _learner_routes(app, prefix: str) -> list:
    return sorted(
        (r for r in app.router.routes if r.path.startswith(prefix) and "<learner_id:int>" in r.path),
        key=lambda r: r.path,
    )


def _role(route) -> str:
    return getattr(route.handler, "admin_role", "viewer")


# -- the seam ----------------------------------------------------------------------------------------


def test_scope_for_each_kind_of_admin():
    assert scope_for({"role": "owner", "classes": ("Form 2",)}) == EVERYONE
    assert scope_for({"role": "editor", "classes": ()}) == EVERYONE
    assert scope_for({"role": "viewer", "classes": ("Form 3", "Form 2")}) == LearnerScope(False, ("Form 3", "Form 2"))
    assert scope_for(None) == NOBODY and NOBODY.sql() == ("0", [])
    where, args = LearnerScope(False, ("Form 2",)).sql("l.id")
    assert "learner_classes" in where and args == ["Form 2"]
    where, args = LearnerScope(False, ("Form 2",)).sql_one("l.id")
    assert where.startswith("EXISTS") and "learner_id = l.id" in where and args == ["Form 2"]
    assert EVERYONE.sql_one() == ("1", []) and NOBODY.sql_one() == ("0", [])


# -- every route that names a learner ----------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
async def test_every_admin_route_about_a_learner_is_404_outside_the_persona_classes(app, conn, school, persona):
    me = PERSONAS[persona]
    client, csrf = school.clients[persona], school.csrf[persona]
    routes = _learner_routes(app, "admin")
    assert len(routes) >= 12, [r.path for r in routes]  # pages, actions, exports, live events, new ones too
    before = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0], _states(conn)
    for route in routes:
        for key, learner_id in school.learners.items():
            path = _path(route.path, learner_id)
            if not role_at_least(me.role, _role(route)):
                expected = {403}  # the role refuses before anything is looked up: says nothing of the learner
            elif key not in me.sees:
                # Exactly what a learner who does not exist gets: a 404 (or the same 400 for a form that names no
                # nudge, say, when the route checks its form first). Never a page, a stream or a redirect.
                expected = {(await _request(client, route, _path(route.path, 999_999), csrf)).status_code}
                assert expected <= {400, 404}, (route.path, expected)
            elif "GET" in route.methods and route.path.count("<") == 1:
                expected = {200}
            else:
                continue  # an action on a learner they may see: the other tests here and the area's own tests
            response = await _request(client, route, path, csrf)
            assert response.status_code in expected, (persona, key, path, response.status_code)
            if response.status_code == 404:
                assert LEARNERS[key][0] not in response.text and LEARNERS[key][1] not in response.text
    # Refused actions changed nothing: no message queued, no status, class or erasure.
    assert (conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0], _states(conn)) == before


async def _request(client, route, path: str, csrf: str):
    if "GET" in route.methods:
        _, response = await client.get(path, params={"once": "1"})
    else:
        _, response = await client.post(path, data={"csrf_token": csrf})
    return response


def _states(conn) -> list:
    return [tuple(r) for r in conn.execute("SELECT id, status, cohort, current_course_id FROM learners ORDER BY id")]


@pytest.mark.parametrize("persona", PERSONAS)
async def test_every_api_endpoint_about_a_learner_is_404_outside_the_token_classes(app, conn, school, persona):
    me = PERSONAS[persona]
    client = school.clients[persona]
    headers = {"Authorization": f"Bearer {school.tokens[persona]}"}
    routes = _learner_routes(app, "api/v1")
    assert len(routes) >= 4, [r.path for r in routes]
    for route in routes:
        for key, learner_id in school.learners.items():
            path = _path(route.path, learner_id)
            if key in me.sees and "GET" not in route.methods:
                continue  # sending to a learner they may see: tests/admin/test_api.py
            if "GET" in route.methods:
                _, response = await client.get(path, headers=headers)
            else:
                _, response = await client.post(path, json={"body": "Exam on Friday"}, headers=headers)
            if key in me.sees:
                assert response.status_code == 200, (persona, key, path)
            else:
                assert response.status_code == 404 and response.json["error"]["code"] == "not_found", (persona, path)
                assert LEARNERS[key][0] not in response.text


@pytest.mark.parametrize("persona", PERSONAS)
async def test_every_admin_page_shows_only_the_persona_learners(app, conn, school, persona):
    """Every page without a learner in its address (lists, exports, dashboard, inbox, live counters), and each
    page of a numbered record (a conversation, a broadcast, a course): no name or number of another class."""
    me = PERSONAS[persona]
    client = school.clients[persona]
    hidden = [LEARNERS[k] for k in ALL - me.sees]
    pages = 0
    for route in sorted(app.router.routes, key=lambda r: r.path):
        if not route.path.startswith("admin") or "GET" not in route.methods or "<learner_id:int>" in route.path:
            continue
        if "static" in route.path or ":str>" in route.path or "<name" in route.path:
            continue
        ids = range(1, 7) if "<" in route.path else (1,)
        for other in ids:
            path = _path(route.path, other=other)
            _, response = await client.get(path, params={"once": "1"})
            if response.status_code != 200:
                continue
            pages += 1
            for name, phone, _, _ in hidden:
                assert name not in response.text and phone not in response.text, (persona, path, name)
    assert pages >= 10
    _, listing = await client.get("/admin/learners")
    for key in me.sees:
        assert LEARNERS[key][0] in listing.text, (persona, key)
    if role_at_least(me.role, "editor"):
        _, csv = await client.get("/admin/learners.csv")
        assert sorted(line.split(",")[0] for line in csv.text.splitlines()[1:]) == sorted(
            str(school.learners[k]) for k in me.sees
        )


@pytest.mark.parametrize("persona", PERSONAS)
async def test_the_api_lists_only_the_token_learners_and_enrolments(app, school, persona):
    me = PERSONAS[persona]
    headers = {"Authorization": f"Bearer {school.tokens[persona]}"}
    client = school.clients[persona]
    _, learners = await client.get("/api/v1/learners", headers=headers)
    assert {r["id"] for r in learners.json["data"]} == {school.learners[k] for k in me.sees}
    assert learners.json["total"] == len(me.sees)
    _, enrolments = await client.get("/api/v1/enrollments", headers=headers)
    assert {r["learner_id"] for r in enrolments.json["data"]} == {school.learners[k] for k in me.sees}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_the_inbox_holds_only_the_persona_classes_conversations(app, school, persona):
    me = PERSONAS[persona]
    client = school.clients[persona]
    for key, handover_id in school.handovers.items():
        _, response = await client.get(f"/admin/inbox/{handover_id}")
        assert response.status_code == (200 if key in me.sees else 404), (persona, key)


# -- what a teacher limited to classes may do -------------------------------------------------------


async def test_a_teacher_messages_and_moves_only_their_learners(app, conn, school):
    client, csrf = school.clients["form2"], school.csrf["form2"]
    both = school.learners["both"]
    _, response = await client.post(f"/admin/learners/{both}/send", data={"body": "See you", "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith(f"/admin/learners/{both}?")
    assert (
        conn.execute("SELECT COUNT(*) FROM messages WHERE learner_id = ? AND direction = 'out'", (both,)).fetchone()[0]
        == 1
    )
    # Their main class only among their classes: Form 3 is not theirs to give.
    _, refused = await client.post(f"/admin/learners/{both}/cohort", data={"cohort": "Form 3", "csrf_token": csrf})
    assert refused.status_code == 400 and "Form 2" in refused.text
    _, refused = await client.post(f"/admin/learners/{both}/classes", data={"class_name": "Form 4", "csrf_token": csrf})
    assert refused.status_code == 400
    assert classes.of_learner(conn, both) == ["Form 2", "Form 3"]
    # Taking them out of the teacher's last class of theirs: done, and they are out of sight.
    _, response = await client.post(
        f"/admin/learners/{both}/classes/remove",
        data={"class_name": "Form 2", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/learners?")
    assert classes.of_learner(conn, both) == ["Form 3"]
    assert conn.execute("SELECT cohort FROM learners WHERE id = ?", (both,)).fetchone()[0] == "Form 3"
    _, gone = await client.get(f"/admin/learners/{both}")
    assert gone.status_code == 404


async def test_the_learner_page_lists_classes_and_adds_one(app, conn, school):
    owner, csrf = school.clients["owner"], school.csrf["owner"]
    none = school.learners["none"]
    _, page = await owner.get(f"/admin/learners/{none}")
    assert "In no class yet" in page.text and 'list="class-names"' in page.text
    _, response = await owner.post(
        f"/admin/learners/{none}/classes", data={"class_name": " Form  4 ", "csrf_token": csrf}
    )
    assert response.status_code == 303
    _, page = await owner.get(response.headers["location"])
    assert "Learner added to the class." in page.text
    assert classes.of_learner(conn, none) == ["Form 4"]
    assert conn.execute("SELECT cohort FROM learners WHERE id = ?", (none,)).fetchone()[0] == "Form 4"  # the first
    _, page = await owner.get(f"/admin/learners/{none}")
    assert 'Form 4 <span class="hint">(main class' in page.text
    # A teacher's page offers their classes only, as a list to choose from.
    _, page = await school.clients["form2"].get(f"/admin/learners/{school.learners['two']}")
    assert '<select id="class-name" name="class_name">' not in page.text  # already in their only class
    assert "Make main" not in page.text


async def test_a_teacher_enrols_only_into_their_classes(app, conn, school):
    client, csrf = school.clients["form2"], school.csrf["form2"]
    rows = (
        "phone,name,cohort\n"
        "+254722000101,Neema New,\n"  # no class said: their only class
        "+254722000102,Juma Wrong,Form 3\n"  # not theirs
        f"{LEARNERS['three'][1]},Otieno Renamed,Form 2\n"  # a Form 3 learner's number: not theirs to change
        "+254722000103,Zuri Two,Form 2\n"
    )
    _, preview = await client.post("/admin/learners/enrol", data={"csv": rows, "csrf_token": csrf})
    assert preview.status_code == 200
    assert "“Form 3” is not one of your classes (Form 2)" in preview.text
    assert "already enrolled outside your classes" in preview.text and "Otieno Threeclass" not in preview.text
    token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
    await client.post("/admin/learners/enrol/confirm", data={"token": token, "csrf_token": csrf})
    made = dict(conn.execute("SELECT name, cohort FROM learners WHERE phone LIKE '+25472200010%'").fetchall())
    assert made == {"Neema New": "Form 2", "Zuri Two": "Form 2"}
    assert conn.execute("SELECT name FROM learners WHERE id = ?", (school.learners["three"],)).fetchone()[0] == (
        "Otieno Threeclass"
    )


async def test_a_teacher_broadcasts_only_to_their_classes(app, conn, school):
    form2, csrf2 = school.clients["form2"], school.csrf["form2"]
    form3 = school.clients["form3"]
    for audience, cohort in (("all", ""), ("cohort", "Form 3")):
        _, refused = await form2.post(
            "/admin/broadcasts",
            data={
                "body": "Hello",
                "audience": audience,
                "cohort": cohort,
                "when": "",
                "quiet_ok": "yes",
                "csrf_token": csrf2,
            },
        )
        assert refused.status_code == 400 and "only to your classes" in refused.text
    _, page = await form2.get("/admin/broadcasts")
    assert 'value="all"' not in page.text and "<option>Form 3</option>" not in page.text
    _, sent = await form2.post(
        "/admin/broadcasts",
        data={"body": "Hello Form 2", "audience": "cohort", "cohort": "Form 2", "quiet_ok": "yes", "csrf_token": csrf2},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    broadcast_id = conn.execute("SELECT id FROM broadcasts").fetchone()[0]
    # Every member of the class, its main class or not: the learners the teacher sees.
    assert broadcasts.audience_size(conn, "cohort:Form 2") == 2
    _, listing = await form3.get("/admin/broadcasts")
    assert f"/admin/broadcasts/{broadcast_id}" not in listing.text
    for path in (f"/admin/broadcasts/{broadcast_id}", f"/admin/events/broadcasts/{broadcast_id}?once=1"):
        _, response = await form3.get(path)
        assert response.status_code == 404, path
    _, response = await form3.post(
        f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": school.csrf["form3"]}
    )
    assert response.status_code == 404
    _, response = await form2.get(f"/admin/broadcasts/{broadcast_id}")
    assert response.status_code == 200


async def test_a_teacher_revokes_only_their_learners_certificates(app, conn, school):
    client, csrf = school.clients["form2"], school.csrf["form2"]
    _, refused = await client.post("/admin/certificates/CODE-THREE/revoke", data={"reason": "x", "csrf_token": csrf})
    assert refused.status_code == 400
    assert conn.execute("SELECT revoked_at FROM certificates WHERE code = 'CODE-THREE'").fetchone()[0] is None
    _, done = await client.post("/admin/certificates/CODE-TWO/revoke", data={"reason": "copied", "csrf_token": csrf})
    assert done.status_code == 303
    assert conn.execute("SELECT revoked_at FROM certificates WHERE code = 'CODE-TWO'").fetchone()[0] is not None


# -- owners: classes, teachers, tokens ---------------------------------------------------------------


async def test_owners_give_teachers_classes_and_rename_them(app, conn, school):
    owner, csrf = school.clients["owner"], school.csrf["owner"]
    _, page = await owner.get("/admin/classes")
    assert "form2@school.test" in page.text and "form3@school.test" in page.text
    assert re.search(r"Form 2</a></th>\s*<td>2", page.text)  # Wanjiku and Chausiku
    viewer_id = school.admin_ids["viewer"]
    _, form = await owner.get(f"/admin/users/{viewer_id}/classes")
    assert 'name="classes" value="Form 3"' in form.text
    await owner.post(f"/admin/users/{viewer_id}/classes", data={"classes": ["Form 3", "Nonsense"], "csrf_token": csrf})
    assert classes.for_admin(conn, viewer_id) == ("Form 3",)
    # The viewer's session reads its classes again on its next request: no sign-out needed.
    _, listing = await school.clients["viewer"].get("/admin/learners")
    assert "Wanjiku Twoclass" not in listing.text and "Otieno Threeclass" in listing.text
    _, users = await owner.get("/admin/users")
    assert "Form 3" in users.text and f"/admin/users/{viewer_id}/classes" in users.text

    _, response = await owner.post(
        "/admin/classes/rename", data={"name": "Form 2", "new_name": "Form 3", "csrf_token": csrf}
    )
    assert response.status_code == 409 and "exists already" in response.text
    await owner.post("/admin/classes/rename", data={"name": "Form 2", "new_name": "Form 2 North", "csrf_token": csrf})
    assert classes.for_admin(conn, school.admin_ids["form2"]) == ("Form 2 North",)
    assert conn.execute("SELECT cohort FROM learners WHERE id = ?", (school.learners["two"],)).fetchone()[0] == (
        "Form 2 North"
    )
    _, listing = await school.clients["form2"].get("/admin/learners")
    assert "Wanjiku Twoclass" in listing.text and "Chausiku Bothclasses" in listing.text

    token_id = conn.execute("SELECT id FROM api_tokens WHERE name = 'viewer'").fetchone()[0]
    await owner.post(f"/admin/tokens/{token_id}/classes", data={"classes": "Form 3", "csrf_token": csrf})
    headers = {"Authorization": f"Bearer {school.tokens['viewer']}"}
    _, learners = await owner.get("/api/v1/learners", headers=headers)
    assert {r["id"] for r in learners.json["data"]} == {school.learners["three"], school.learners["both"]}


async def test_owners_only_manage_classes(app, conn, school):
    form2, csrf = school.clients["form2"], school.csrf["form2"]
    for path, data in (
        ("/admin/classes", {"name": "Form 9"}),
        ("/admin/classes/rename", {"name": "Form 2", "new_name": "Mine"}),
        (f"/admin/users/{school.admin_ids['form2']}/classes", {"classes": "Form 3"}),
    ):
        _, response = await form2.post(path, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, path
    _, page = await form2.get("/admin/classes")
    assert "Form 2" in page.text and "Form 3" not in page.text and "Rename" not in page.text
    owner, owner_csrf = school.clients["owner"], school.csrf["owner"]
    await owner.post("/admin/classes", data={"name": "Form 9", "csrf_token": owner_csrf})
    _, refused = await owner.post("/admin/classes/delete", data={"name": "Form 2", "csrf_token": owner_csrf})
    assert refused.status_code == 409 and "still has learners" in refused.text
    await owner.post("/admin/classes/delete", data={"name": "Form 9", "csrf_token": owner_csrf})
    assert classes.names(conn) == ["Form 2", "Form 3"]


# -- the data: migration and triggers ---------------------------------------------------------------


def test_the_migration_makes_each_cohort_a_class(tmp_path):
    conn = store.connect(tmp_path / "old.db")
    names = [m.name for m in store.migrations().pending(sqlite_utils.Database(memory=True))]
    store.migrations().apply(sqlite_utils.Database(conn), stop_before="0021_classes")
    assert "0021_classes" in names
    for phone, cohort in (("+254700000001", "Form 2"), ("+254700000002", "Form 2"), ("+254700000003", None)):
        add_learner(conn, phone=phone, cohort=cohort)
    store.migrate(conn)
    assert classes.names(conn) == ["Form 2"]
    assert [tuple(r) for r in conn.execute("SELECT learner_id, class_name FROM learner_classes ORDER BY 1")] == [
        (1, "Form 2"),
        (2, "Form 2"),
    ]
    conn.close()


def test_the_main_class_and_the_classes_stay_in_step(conn):
    learner = add_learner(conn, cohort="Form 2")
    classes.add_learner(conn, learner, "Chess club", NOW)
    assert classes.of_learner(conn, learner) == ["Form 2", "Chess club"]
    conn.execute("UPDATE learners SET cohort = 'Form 3' WHERE id = ?", (learner,))  # moved: leaves Form 2
    assert classes.of_learner(conn, learner) == ["Form 3", "Chess club"]
    classes.remove_learner(conn, learner, "Form 3")  # leaving the main class: another becomes main
    assert conn.execute("SELECT cohort FROM learners WHERE id = ?", (learner,)).fetchone()[0] == "Chess club"
    classes.remove_learner(conn, learner, "Chess club")
    assert conn.execute("SELECT cohort FROM learners WHERE id = ?", (learner,)).fetchone()[0] is None


# -- totals and figures by class (docs/admin.md "Classes and their teachers": what a limited teacher sees) ----------
async def test_costs_by_class_show_only_the_teachers_classes_and_the_totals_stay_the_schools(school):
    """Page, CSV and API alike: the month's totals are the whole box's (one bill); rows by class are the teacher's."""
    totals = {}
    for key in ("owner", "form2", "form3"):
        client = school.clients[key]
        _, page = await client.get("/admin/costs?month=2026-03")
        _, csv_file = await client.get("/admin/costs.csv?month=2026-03")
        _, api = await client.get(
            "/api/v1/costs?month=2026-03", headers={"Authorization": f"Bearer {school.tokens[key]}"}
        )
        assert page.status_code == csv_file.status_code == api.status_code == 200, key
        data = api.json["data"]
        shown = {row["label"] for row in data["by_class"]}
        in_csv = {line.split(",")[1] for line in csv_file.text.splitlines() if line.startswith("class,")}
        totals[key] = data["total"]["messages"]
        if key == "owner":
            assert shown == {"Form 2", "Form 3", None} and in_csv == {"Form 2", "Form 3", ""}  # None: no class
            assert 'id="costs-scope"' not in page.text
        else:
            mine = "Form 2" if key == "form2" else "Form 3"
            assert shown == in_csv == {mine}, key
            assert "whole school's (one bill); by class shows only your classes (" + mine + ")" in page.text
            other = "Form 3" if key == "form2" else "Form 2"
            assert f"<td>{other}</td>" not in page.text and "<td>No class</td>" not in page.text
    assert totals["owner"] == totals["form2"] == totals["form3"] == 4  # the same total for everyone


async def test_the_dashboard_says_which_figures_are_the_schools_and_the_menu_counts_the_teachers(school):
    for key, count in (("owner", 4), ("form2", 2), ("form3", 2), ("viewer", 4)):
        _, page = await school.clients[key].get("/admin/")
        limited = key in ("form2", "form3")
        assert ('id="dashboard-scope"' in page.text) == limited, key
        _, menu = await school.clients[key].get("/admin/events/menu?once=1")
        assert f'event: inbox-count\ndata: {{"open": {count}}}' in menu.text, key


def test_a_course_s_check_in_figures_by_class_keep_only_the_teachers_classes():
    gains = [Gain(None, 9, 10, 20, 30, 1), Gain("Form 2", 4, 5, 9, 12, 0), Gain("Form 3", 5, 5, 11, 18, 1)]
    gains.append(Gain("", 0, 0, 0, 0, 2))
    found = learning.CourseLearning([], Markup(""), [], ["q"], gains, learning.gain_chart(gains))
    assert learning.for_scope(found, EVERYONE) is found
    form3 = learning.for_scope(found, LearnerScope(everyone=False, classes=("Form 3",)))
    assert [g.cohort for g in form3.gains] == [None, "Form 3"]  # all classes, and theirs
    assert "Form 3" in str(form3.gain_chart) and "Form 2" not in str(form3.gain_chart)
