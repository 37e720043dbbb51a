"""The CSI survey service: respondents answer, quality managers read the index report."""
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config=None):
    """Build the Flask app; test_config (a mapping) wins over every other setting."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
    )
    if test_config is not None:
        app.config.from_mapping(test_config)

    @app.get("/")
    def index():
        return "CSI service"

    return app
