"""The audit log: logins, failed logins, survey edits, exports and key changes, with who, when and from where;
append-only; a paginated page and a CSV export for any logged-in manager."""
import csv
import io

import pytest
import sqlalchemy as sa

from survey import services
from survey.storage.tables import AuditEvent


def events(db_session):
    db_session.expire_all()
    return list(db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def test_manager_actions_are_recorded(client, auth, db_session, demo_survey):
    auth.create()
    auth.login(password="wrong password!")
    client.post("/auth/login", data={"email": "manager@example.com", "password": "correct horse battery"},
                environ_base={"REMOTE_ADDR": "198.51.100.7"})
    client.post("/manage/surveys/csi/status", data={"status": "closed"})
    client.post("/manage/surveys/csi/access", data={"access": "invitation"})
    assert client.post("/manage/surveys/csi/api-keys", data={"kind": "submit", "label": "kiosk"}).status_code == 201
    key_id = db_session.scalar(sa.text("select max(id) from api_key"))
    client.post(f"/manage/surveys/csi/api-keys/{key_id}/revoke")
    export = client.get("/manage/surveys/csi/export.csv")
    export.get_data()
    client.post("/auth/logout")
    got = [(e.action, e.email, e.target) for e in events(db_session)]
    assert got == [
        ("login_failed", "manager@example.com", ""),
        ("login", "manager@example.com", ""),
        ("survey_status", "manager@example.com", "csi"),
        ("survey_access", "manager@example.com", "csi"),
        ("key_create", "manager@example.com", "csi"),
        ("key_revoke", "manager@example.com", "csi"),
        ("export:exports.export_csv", "manager@example.com", "csi"),
        ("logout", "manager@example.com", ""),
    ]
    logged = events(db_session)
    assert logged[1].address == "198.51.100.7" and logged[1].manager_id is not None
    assert logged[0].manager_id is None
    assert logged[2].detail == "status=closed" and "kind=submit" in logged[4].detail
    assert f"key_id={key_id}" in logged[5].detail
    assert all(e.at is not None for e in logged)


def test_refused_changes_are_not_recorded(client, manager, db_session, demo_survey):
    client.post("/manage/surveys/csi/api-keys", data={"kind": "nonsense"})
    assert [e.action for e in events(db_session)] == ["login"]


def test_events_are_append_only(db_session, auth):
    auth.create()
    services.audit.record(db_session, "login", email="x@example.com")
    event = events(db_session)[0]
    event.action = "nothing happened"
    with pytest.raises(ValueError, match="append-only"):
        db_session.commit()
    db_session.rollback()
    db_session.delete(events(db_session)[0])
    with pytest.raises(ValueError, match="append-only"):
        db_session.commit()
    db_session.rollback()


def test_set_password_is_recorded(runner, auth, db_session):
    auth.create()
    assert runner.invoke(args=["set-password", "manager@example.com", "--password", "x" * 12]).exit_code == 0
    assert [(e.action, e.address) for e in events(db_session)] == [("set_password", "cli")]


def test_audit_page_is_paginated_and_exported(client, manager, db_session):
    for n in range(60):
        services.audit.record(db_session, "survey_status", email="other@example.com", target=f"s{n}",
                              detail="=HYPERLINK(1)" if n == 0 else "")
    first = client.get("/manage/audit/").get_data(as_text=True)
    assert "s59" in first and "s5<" not in first and "page=2" in first
    second = client.get("/manage/audit/?page=2").get_data(as_text=True)
    assert "s5<" in second and "s59" not in second and "page=1" in second
    res = client.get("/manage/audit/audit.csv")
    assert res.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["id", "at", "email", "action", "target", "detail", "address"]
    assert len(rows) == 1 + 1 + 60 + 1  # header, the login, the 60 events, this export (logged as it starts)
    assert rows[2][5].startswith("'=")  # formulas defused
    assert [e.action for e in events(db_session)][-1] == "export:audit.export"


def test_audit_log_needs_login(client):
    assert client.get("/manage/audit/").status_code == 302
    assert client.get("/manage/audit/audit.csv").status_code == 302
