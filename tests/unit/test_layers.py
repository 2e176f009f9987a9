"""The import direction of DESIGN.md §1, checked on the source with ast."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLUEPRINTS = ("hub.web", "hub.activitypub", "hub.api")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at_top_level) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno, id(node) in top))
    return found


def _violations(package: str, forbidden) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in _modules(package)
            for module, line, _ in _imports(path) if forbidden(module)]


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_federation_imports_nothing_of_ours_nor_flask_or_sqlalchemy():
    assert _violations("federation", lambda m: _under(m, "hub", "flask", "sqlalchemy", "flask_sqlalchemy")
                       or m.startswith("flask_")) == []


def test_models_import_only_extensions():
    assert _violations("hub.models", lambda m: _under(m, "hub")
                       and not _under(m, "hub.extensions", "hub.models")) == []


def test_services_never_import_blueprints_or_worker():
    assert _violations("hub.services", lambda m: _under(m, *BLUEPRINTS, "hub.worker", "hub.cli")) == []


@pytest.mark.parametrize("module", ["convert.py", "convert_remote.py"])
def test_convert_imports_no_services_or_blueprints(module):
    path = ROOT / "hub" / module
    bad = [m for m, _, _ in _imports(path) if _under(m, *BLUEPRINTS, "hub.services", "hub.worker")]
    assert bad == []


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_blueprints_never_import_each_other(blueprint):
    others = [b for b in BLUEPRINTS if b != blueprint]
    assert _violations(blueprint, lambda m: _under(m, *others)) == []


# Imports deferred on purpose, for memory (issue 4): big libraries only some processes use.
LAZY_FOR_MEMORY = {("hub/services/search.py", "icu"), ("hub/extensions.py", "flask_migrate"),
                   ("hub/console.py", "flask_migrate.cli")}
# gunicorn's settings file is read before any app is loaded, and for the bench's bare Flask too: its
# hooks import what the loaded app already imported.
GUNICORN_HOOKS = {("hub/gunicorn.conf.py", module) for module in ("sqlalchemy.orm", "flask_babel", "hub")}


def test_no_function_local_imports():
    late = [f"{path.relative_to(ROOT)}:{line} imports {module} inside a function"
            for package in ("hub", "federation")
            for path in _modules(package)
            for module, line, top in _imports(path)
            if not top and module != "typing"
            and (str(path.relative_to(ROOT)), module) not in LAZY_FOR_MEMORY | GUNICORN_HOOKS]
    assert late == []


def test_no_imports_by_name_to_get_around_the_rule_above():
    sneaky = [f"{path.relative_to(ROOT)}" for package in ("hub", "federation") for path in _modules(package)
              if "import_module(" in path.read_text() or "__import__(" in path.read_text()]
    assert sneaky == []
