"""The app layout keeps its direction: an app imports only the apps below it, and never another
app's private names (DESIGN.md §2). Read from the source with ``ast``, so no import is executed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# config <- jobs <- annotate <- datasets <- {augment, synth, export} <- training
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "jobs": {"config"},
    "annotate": {"config", "jobs"},
    "datasets": {"config", "jobs", "annotate"},
    "augment": {"config", "jobs", "annotate", "datasets"},
    "synth": {"config", "jobs", "annotate", "datasets"},
    "export": {"config", "jobs", "annotate", "datasets"},
    "training": {"config", "jobs", "annotate", "datasets", "augment", "synth", "export"},
}
# config names the apps only by dotted string (the URL table, INSTALLED_APPS), never by import.
APPS = [app for app in ALLOWED if (ROOT / app).is_dir()]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every absolute import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _sources(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


def test_every_app_is_in_the_table():
    apps_on_disk = {p.parent.name for p in ROOT.glob("*/apps.py")}
    assert apps_on_disk <= set(ALLOWED), f"add {apps_on_disk - set(ALLOWED)} to ALLOWED with its place in the order"


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_below_it(app):
    wrong = []
    for path in _sources(app):
        for line, module, _names in _imports(path):
            top = module.split(".")[0]
            if top in ALLOWED and top != app and top not in ALLOWED[app]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, f"{app} may import only {sorted(ALLOWED[app])}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_another_apps_private_names(app):
    wrong = []
    for path in _sources(app):
        for line, module, names in _imports(path):
            top = module.split(".")[0]
            if top in ALLOWED and top != app:
                private = [n for n in names if n.startswith("_")]
                private += [part for part in module.split(".")[1:] if part.startswith("_") and part != "__init__"]
                if private:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {private} from {module}")
    assert not wrong, "\n".join(wrong)


def test_the_direction_check_catches_a_wrong_import(tmp_path):
    """The checker itself: an annotate module importing datasets is found."""
    source = tmp_path / "bad.py"
    source.write_text("from datasets.models import DatasetVersion\nimport jobs.runner\n")
    tops = [module.split(".")[0] for _, module, _ in _imports(source)]
    assert [t for t in tops if t not in ALLOWED["annotate"] and t in ALLOWED] == ["datasets"]
