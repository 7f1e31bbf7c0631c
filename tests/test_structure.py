"""The package's shape, read from the code: no import cycles (module or subpackage level), at most 12 modules
directly in ``kdemo/``, gradio imported only under ``kdemo/ui/``, the UI a client of the library's front, the task
axis in one home (``kdemo/tasks/`` and each task's own modules), and every public name ``import kdemo`` promises.

Imports are read with :mod:`ast` (module-level and function-level ones alike); nothing is imported to check.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kdemo"
MAX_TOP_MODULES = 12


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The kdemo module an imported dotted name lives in (``kdemo.run.train.train`` → ``kdemo.run.train``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[str]:
    """Every kdemo module (and raw imported name) that ``module`` imports, relative imports resolved."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for name in _imports(module):
            dep = _resolve(name) if name.startswith("kdemo") else None
            if dep is None or dep == module:
                continue
            if module.count(".") >= 2 and dep == module.rpartition(".")[0]:
                continue  # a subpackage's __init__ re-exporting its children is not a cycle of concepts
            graph[module].add(dep)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _subpackage(module: str) -> str:
    """``kdemo.run.train`` → ``kdemo.run``; a top-level module is its own unit."""
    return ".".join(module.split(".")[:2])


def test_every_kdemo_import_names_an_existing_module():
    """A stale module importing names that moved would hide from the cycle checks: every ``from kdemo.x import``
    and ``import kdemo.x`` must name a module or package that exists."""
    missing = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            missing += [f"{module}: {n}" for n in names if n.startswith("kdemo.") and n not in MODULES]
    assert missing == []


def test_no_module_import_cycle():
    assert _cycles(_graph()) == []


def test_no_subpackage_import_cycle():
    packages: dict[str, set[str]] = {}
    for module, deps in _graph().items():
        for dep in deps:
            if _subpackage(module) != _subpackage(dep):
                packages.setdefault(_subpackage(module), set()).add(_subpackage(dep))
    assert _cycles(packages) == []


def test_at_most_twelve_modules_directly_in_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_gradio_is_imported_only_under_ui():
    outside = sorted(m for m in MODULES if not m.startswith("kdemo.ui")
                     and any(n == "gradio" or n.startswith("gradio.") for n in _imports(m)))
    assert outside == []


def test_the_library_below_the_ui_never_imports_the_ui_or_the_cli():
    low = [m for m in MODULES if not m.startswith(("kdemo.ui", "kdemo.cli", "kdemo.__main__"))]
    offenders = {m: sorted(d for d in _graph()[m] if d.startswith(("kdemo.ui", "kdemo.cli"))) for m in low}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_hub_works_on_folders_and_never_on_predictors():
    hub = [m for m in MODULES if m.startswith("kdemo.hub")]
    assert {m: sorted(d for d in _graph()[m] if d.startswith(("kdemo.inference", "kdemo.run", "kdemo.training")))
            for m in hub} == {m: [] for m in hub}


def test_modules_stay_small():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert big == {}


@pytest.mark.parametrize("name", [
    "texts_from_csv", "texts_from_df", "texts_from_folder", "read_table", "Transformer", "get_learner", "Learner",
    "get_predictor", "load_predictor", "load_from_hub", "Predictor", "diagnose", "detect_task", "parse_labels",
    "DEFAULT_MODEL_ID", "KdemoError", "DataError", "ModelError", "TrainingError", "HubError", "TrainConfig",
    "TrainResult", "train",
])
def test_public_names_stay_importable(name):
    import kdemo

    assert hasattr(kdemo, name) and name in kdemo.__all__


#: The entry points, which may import the root package ``kdemo`` (its public API); nothing below the root may.
ENTRY_POINTS = ("kdemo.cli", "kdemo.__main__")


def test_no_module_below_the_root_imports_the_root_package():
    """``from kdemo import x`` inside the package runs ``kdemo/__init__.py`` (which imports everything) and hides a
    dependency on every layer; a module imports the module it needs (``import kdemo.atomic as atomic``)."""
    offenders = sorted(m for m in MODULES if m not in ("kdemo", *ENTRY_POINTS) and "kdemo" in _graph()[m])
    assert offenders == []


#: What ``kdemo/ui`` may import: the library's front (runs, predictors, explanations, the Hub, data readers and
#: doctors, the task specs, reports) and the shared utilities; never training, modeling, text or distributed internals.
UI_MAY_IMPORT = {"run", "inference", "explain", "hub", "data", "tasks", "evaluation", "ui", "errors", "jobs", "plots",
                 "atomic", "device", "memory", "record", "fonts"}


def test_the_ui_is_a_client_of_the_library_front():
    offenders = sorted(f"{m} -> {d}" for m in MODULES if m.startswith("kdemo.ui") for d in _graph()[m]
                       if d != "kdemo" and d.split(".")[1] not in UI_MAY_IMPORT)
    assert offenders == []


#: A line that branches on one particular task (the names of the task, its predicates and its types).
TASK_BRANCH = re.compile(r"TOKEN_CLASSIFICATION|QUESTION_ANSWERING|is_token_\w+|"
                         r"isinstance\([^)]*(NERPredictor|TokenRunData|QAPredictor)|looks_like_token_file\(")
#: A task's own modules (its reader, pipeline, evaluator, predictor, view), where naming it is the point.
TASK_OWN = re.compile(r"(^|/)(tasks|ner|token|tokens|tagger|qa|question)[^/]*(/|\.py$)|_token|_ner|_qa|token_|ner_|qa_")
#: Files outside the task home that still name a particular task; this list may only shrink (at most 5).
TASK_NAMING_FILES = {"data/sniff.py"}  # the one sniff: "is this file a table or a token file?"


def test_the_task_axis_has_one_home():
    """Outside ``kdemo/tasks/`` and each task's own modules, code asks the task's spec instead of branching on it
    (the same measure as ``shared/hooks/task_home.py``; import lines and comments are not counted)."""
    naming = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                 if not line.lstrip().startswith(("#", "import ", "from "))]
        if not TASK_OWN.search(rel) and any(TASK_BRANCH.search(line) for line in lines):
            naming.add(rel)
    assert len(TASK_NAMING_FILES) <= 5
    assert naming <= TASK_NAMING_FILES, sorted(naming - TASK_NAMING_FILES)
