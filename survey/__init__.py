"""The CSI survey service: respondents answer, quality managers read the index report."""
import os
from pathlib import Path

from flask import Flask, render_template

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config=None):
    """Build the Flask app: Config defaults, environment, instance config.py, then test_config (a mapping) wins."""
    from survey import commands as cli, config, i18n
    from survey.storage import db
    from survey.extensions import csrf, limiter, login_manager, mail

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
    )
    from survey.web.bodies import Request

    app.request_class = Request
    app.config.from_object(config.Config)
    config.from_environment(app)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    config.finalize(app)

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    mail.init_app(app)
    i18n.init_app(app)
    cli.init_app(app)

    from survey.web import headers, register_blueprints, sessions

    app.session_interface = sessions.SessionInterface()
    from survey.web.shield import LoginShield

    app.wsgi_app = LoginShield(app.wsgi_app, app)  # inside ProxyFix (below): it sees the client's address
    if app.config["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    register_blueprints(app)
    headers.init_app(app)

    @app.get("/")
    def index():
        """Show the landing page (respondents arrive with a /s/<slug> link; managers log in)."""
        return render_template("index.html")

    return app
