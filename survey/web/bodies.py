"""Request body limits per view: MAX_CONTENT_LENGTH for every request, a larger one where a view asks for it.

The 20 MB default keeps hostile bodies small everywhere; the upload form alone takes a whole survey export
(UPLOAD_MAX_BYTES). The limit has to be known before anything reads the body: CSRF protection and the NUL
check read the form in before-request hooks, ahead of the view, so the view is marked (``@body_limit``)
and the request class looks the mark up for the matched endpoint, whatever hook reads first.
"""
from __future__ import annotations

import flask
from flask import current_app

_MARK = "_body_limit_key"


def body_limit(config_key: str):
    """Let this view's POST bodies reach ``current_app.config[config_key]`` bytes (put it under the route)."""
    def mark(view):
        setattr(view, _MARK, config_key)
        return view
    return mark


class Request(flask.Request):
    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and current_app and self.endpoint and self.method == "POST":
            key = getattr(current_app.view_functions.get(self.endpoint), _MARK, None)
            if key:
                return current_app.config[key]
        return flask.Request.max_content_length.fget(self)

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value
