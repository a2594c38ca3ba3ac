"""The core never imports presentation code (docs/architecture.md): not lookups.web, not
lookups.admin, not DRF, not Django's request and response machinery."""

import ast
from pathlib import Path

import lookups.core

PRESENTATION = (
    "lookups.web",
    "lookups.admin",
    "rest_framework",
    "drf_spectacular",
    "django.http",
    "django.shortcuts",
)


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_the_core_imports_no_presentation_code():
    core = Path(lookups.core.__file__).parent
    offending = {
        f"{path.name}: {module}"
        for path in sorted(core.glob("*.py"))
        for module in imported_modules(path)
        if module.startswith(PRESENTATION)
    }
    assert offending == set()
