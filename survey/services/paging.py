"""Pages of long lists (invitations, responses, comments): Flask-SQLAlchemy's pagination, LIMIT/OFFSET in SQL,
with one rule for page numbers that are out of range."""
from flask_sqlalchemy.pagination import Pagination, SelectPagination
from sqlalchemy.orm import Session

__all__ = ["Pagination", "page_number", "paginate"]


def page_number(raw) -> int:
    """Read a ?page= value: a positive whole number, anything else is page 1."""
    try:
        return max(1, int(str(raw)))
    except (TypeError, ValueError):
        return 1


def paginate(session: Session, statement, page: int, per_page: int) -> Pagination:
    """Return one page of the rows the ORM statement selects; a page past the end is the last page."""
    page = page_number(page)
    result = SelectPagination(select=statement, session=session, page=page, per_page=per_page,
                              max_per_page=per_page, error_out=False)
    if page > 1 and page > result.pages:
        result = SelectPagination(select=statement, session=session, page=max(1, result.pages),
                                  per_page=per_page, max_per_page=per_page, error_out=False)
    return result
