"""Layers point one way: a module imports only modules of its own tier or lower ones. Tiers, lowest first: (a) config,
catalog, structures, errors; (b) data, targets, model, losses, decode, viz, tracking and the helpers they share
(tensors, device), where decode and losses never import each other; (c) the tasks, which put those together per task,
and checkpoint reading and writing; (d) the predictor, its ONNX backend and the choice between them; (e) the engine
(train, evaluate) and export; (f) the command-line apps, cli and the Python API (api). Every import statement of the
package counts, also those inside functions.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "centernet"
TIERS = {
    "config": 0, "catalog": 0, "structures": 0, "errors": 0,
    "data": 1, "targets": 1, "model": 1, "losses": 1, "decode": 1, "viz": 1, "tensors": 1, "device": 1, "tracking": 1,
    "checkpoint": 2, "tasks": 2,
    "predictor": 3, "onnx_backend": 3, "backends": 3,
    "engine": 4, "export": 4,
    "apps": 5, "cli": 5, "api": 5,
}
NEVER = {("decode", "losses"), ("losses", "decode")}  # same tier, but kept apart


def component(module_path: Path) -> str:
    """The first component below `centernet` of a module file: centernet/model/build.py -> model."""
    return module_path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_components(module_path: Path) -> set[str]:
    """The first components of every `centernet.X...` the module imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(module_path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module_path}: relative import"
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "centernet" and len(parts) > 1 and parts[1] in TIERS:
                found.add(parts[1])
    return found


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path.name != "__init__.py" or path.parent != PACKAGE)


def test_every_module_has_a_tier():
    assert {component(path) for path in MODULES} <= set(TIERS)


@pytest.mark.parametrize("module_path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down_the_tiers(module_path):
    source = component(module_path)
    for target in imported_components(module_path):
        assert TIERS[target] <= TIERS[source], f"{source} (tier {TIERS[source]}) imports {target} ({TIERS[target]})"
        assert (source, target) not in NEVER, f"{source} imports {target}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from centernet.engine.train import train\n    import centernet.apps.demo\n")
    assert imported_components(module) == {"engine", "apps"}


# Where a task or a box head may be named: the tasks themselves, the catalog that lists them for the CLI, and the
# config's migrations (which fill in the values older configs implied).
TASK_NAMES = {"detect", "exdet"}
BOX_HEAD_NAMES = {"center", "ltrb"}
ALLOWED_TO_NAME_TASKS = ("tasks", "catalog.py")


def _names_a_task(module_path: Path) -> list[str]:
    """The lines of string literals equal to a task or box head name, outside config.py's MIGRATIONS."""
    tree = ast.parse(module_path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == "MIGRATIONS" for target in targets):
                skipped |= {id(child) for child in ast.walk(node)}
    return [f"line {node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in TASK_NAMES | BOX_HEAD_NAMES and id(node) not in skipped]


@pytest.mark.parametrize("module_path", [path for path in MODULES
                                         if path.relative_to(PACKAGE).parts[0] not in ALLOWED_TO_NAME_TASKS],
                         ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_outside_the_tasks_names_a_task_or_a_box_head(module_path):
    # no `if task == "exdet"`: what differs between tasks is asked of the task (centernet.tasks)
    assert _names_a_task(module_path) == []


def test_the_task_name_check_sees_a_comparison(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text('MIGRATIONS = {4: {"model.task": "detect"}}\n\n'
                      'def f(config):\n    return config.task == "exdet"\n')
    assert _names_a_task(module) == ["line 4: 'exdet'"]
