"""Security headers on every page, no inline script or style attribute for the CSP to block, and no query
argument can reach url_for as an option."""
import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"


def test_manager_pages_cannot_be_framed(client, manager, demo_survey):
    for url in ("/manage/", "/manage/surveys/csi", "/auth/login", "/"):
        res = client.get(url)
        csp = res.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, url
        assert "'unsafe-inline'" not in csp
        assert res.headers["X-Frame-Options"] == "DENY"
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in res.headers  # plain HTTP


def test_respondent_pages_send_no_referrer(client, demo_survey):
    for url in ("/s/csi", "/s/csi?t=sometoken", "/s/csi/thanks"):
        res = client.get(url)
        assert res.headers["Referrer-Policy"] == "no-referrer", url
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in res.headers


def test_hsts_over_https(client, demo_survey):
    res = client.get("/s/csi", base_url="https://localhost")
    assert res.headers["Strict-Transport-Security"].startswith("max-age=")


def test_api_and_errors_have_headers(client):
    for url in ("/api/v1/openapi.json", "/no-such-page", "/static/csi.css"):
        res = client.get(url)
        assert res.headers["X-Content-Type-Options"] == "nosniff", url
        res.close()


def test_templates_have_no_inline_script_or_style():
    bad = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)", text) or re.search(r"\son[a-z]+\s*=", text) \
                or re.search(r"\sstyle\s*=", text) or "<style" in text or "javascript:" in text:
            bad.append(str(path.relative_to(TEMPLATES)))
    assert not bad


@pytest.mark.parametrize("url", ["/", "/s/csi", "/auth/login", "/s/csi?_method=PUT&_external=1&endpoint=x",
                                 "/s/csi?slug=other", "/manage/?_anchor=x&_scheme=ftp"])
def test_underscore_query_arguments_never_reach_url_for(client, demo_survey, url):
    res = client.get(url + ("&" if "?" in url else "?") + "_method=PUT")
    assert res.status_code in (200, 302), res.status_code
    if res.status_code == 200:
        links = re.findall(r'href="([^"]*lang=[^"]*)"', res.get_data(as_text=True))
        assert links and not any("_method" in link or "ftp:" in link or "other" in link for link in links)
