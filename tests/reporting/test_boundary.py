"""The dashboard reads the other apps; no other app imports it (issue #16)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's URL configurations wire every app's views; they are no app.
WIRING = {ROOT / "leadbridge" / "urls.py", ROOT / "leadbridge" / "api_urls.py"}
APPS = ("accounts", "campaigns", "followups", "integrations", "leadbridge", "leads", "privacy")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_no_other_app_imports_reporting():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if path not in WIRING
        for module in imported_modules(path)
        if module == "reporting" or module.startswith("reporting.")
    ]
    assert offenders == []


def test_the_check_sees_an_import_of_reporting(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reporting import rollup\n")
    assert imported_modules(module) == {"reporting"}
