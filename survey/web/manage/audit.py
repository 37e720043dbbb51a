"""The audit log of manager actions: a paginated page and a CSV export, for admins only."""
from flask import Blueprint, Response, render_template, request, stream_with_context

from survey import services
from survey.services import permissions
from survey.web.manage.guard import requires

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@requires(permissions.READ_AUDIT)
def index():
    """One page of events, newest first (?page=N)."""
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 1_000_000))
    events, more = services.audit.list_events(services.db_session, page)
    return render_template("manage/audit/index.html", events=events, page=page, more=more)


@bp.get("/audit.csv")
@requires(permissions.READ_AUDIT)
def export():
    """Every event as CSV (UTF-8 with BOM), oldest first."""
    return Response(stream_with_context(services.audit.csv_export(services.db_session)), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="csi-audit-log.csv"',
                             "Cache-Control": "no-store"})
