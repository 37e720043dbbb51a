"""The download header the blueprints that send files share (no blueprint imports another)."""
import unicodedata
from urllib.parse import quote


def attachment(filename: str) -> dict[str, str]:
    """Return the Content-Disposition header of a download named `filename`, per RFC 6266.

    A non-ASCII name (a Chinese segment value, say) travels as filename*=UTF-8''<percent-encoded>, beside an ASCII
    filename="..." for clients without RFC 5987, so the header stays latin-1: gunicorn and Werkzeug encode headers
    so, and a raw Chinese name made the download fail.
    """
    name = "".join(c if c.isprintable() else "_" for c in filename)
    simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    value = 'attachment; filename="{}"'.format(simple.replace("\\", "\\\\").replace('"', '\\"'))
    if simple != name:
        value += "; filename*=UTF-8''" + quote(name, safe="!#$&+^`|~")
    return {"Content-Disposition": value}
