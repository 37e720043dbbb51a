"""The HTTP layer: thin blueprints that parse a request, call a service and render its result.

Views import services (survey.services), the report presenter (survey.report) and the shared error and
i18n helpers, never storage; tests/test_layers.py checks it.
"""


def register_blueprints(app) -> None:
    """Register every blueprint of the app (imported here, inside the factory, as flaskr does)."""
    from survey.web import api, auth, errors, health, manage, respond, unsubscribe

    for module in (errors, auth, respond, unsubscribe, manage, api, health):
        app.register_blueprint(module.bp)
