"""The import contract between layers: read every module's imports (ast, nothing is imported) and check who may
import whom. model/ is pure analysis; views (survey/web) reach data only through services and the report."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> module prefixes it must never import
FORBIDDEN = {
    "model": ("survey", "flask", "flask_babel", "flask_login", "flask_wtf", "flask_sqlalchemy", "sqlalchemy",
              "werkzeug", "jinja2"),
    "survey/web": ("survey.storage", "sqlalchemy", "flask_sqlalchemy", "model.fit", "model.fiml"),
    "survey/services": ("survey.web", "survey.report"),
    "survey/report": ("survey.web",),
    "survey/storage": ("survey.web", "survey.services", "survey.report", "model"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, with relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def layer_files(package: str):
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(package):
    files = layer_files(package)
    assert files, package
    broken = [f"{path.relative_to(ROOT)} imports {name}"
              for path in files for name in sorted(imported_modules(path))
              if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])]
    assert not broken, "\n".join(broken)


def test_blueprints_do_not_import_each_other():
    """A blueprint module imports no other blueprint module (the manage parent registers its children)."""
    views = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in layer_files("survey/web")
             if "Blueprint(" in p.read_text() and p.name != "__init__.py"}
    assert len(views) >= 9
    broken = []
    for path in layer_files("survey/web"):
        me = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if me.endswith("__init__"):
            continue
        broken += [f"{me} imports {name}" for name in imported_modules(path) if name in views and name != me]
    assert not broken, "\n".join(broken)


def test_the_contract_sees_a_violation(tmp_path):
    """The reader resolves relative and absolute imports, so a forbidden one cannot hide."""
    module = ROOT / "survey" / "web" / "_probe_for_test.py"
    try:
        module.write_text("from ..storage.db import db\nimport sqlalchemy as sa\n")
        names = imported_modules(module)
    finally:
        module.unlink()
    assert {"survey.storage.db", "survey.storage.db.db", "sqlalchemy"} <= names
