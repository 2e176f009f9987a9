"""The federation library's own shape: no imports of the app or its frameworks, small modules,
a docstring on every public function and class."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "federation"
MODULES = sorted(PACKAGE.glob("*.py"))
FORBIDDEN = ("hub", "flask", "flask_sqlalchemy", "sqlalchemy", "werkzeug", "jinja2")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_app_or_framework_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            bad = name.split(".")[0] in FORBIDDEN or name.startswith("flask_")
            assert not bad, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_small_modules_with_documented_public_api(path):
    text = path.read_text()
    assert text.count("\n") < 400
    tree = ast.parse(text)
    assert ast.get_docstring(tree)
    for node in tree.body:
        public = not getattr(node, "name", "_").startswith("_")
        if public and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            assert ast.get_docstring(node), f"{path.name}: {node.name} has no docstring"
