"""The layout promises: model/ stays free of the web stack; the app factory serves."""
import subprocess
import sys
from pathlib import Path

from survey import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_model_package_never_imports_flask_or_sqlalchemy():
    code = (
        "import sys, model\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy', 'survey'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_app_factory_serves_index():
    client = create_app({"TESTING": True}).test_client()
    assert client.get("/").status_code == 200
