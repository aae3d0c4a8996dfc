"""What a plugin may import: another plugin's declared public API (its ``__all__``) and only plugins it depends on;
``arctl.cli`` only in the modules that build its commands; and the core imports no plugin.

Read from the source (ast), so nothing is imported and a broken plugin still gets checked.
"""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {init.parent.name: init.parent for init in sorted(ROOT.glob("plugins/*/arctl_*/__init__.py"))}
# what a command module may use of the core's CLI: the plugin manager the app was built with (arctl.cli), printing
# (output) and the shared declarations of common command-line options (options); the library is outside arctl.cli
CLI_ALLOWED = {"arctl.cli", "arctl.cli.options", "arctl.cli.output", "arctl.cli.tables"}


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def declared_public(package: str) -> list:
    """The package's ``__all__``, read from its __init__.py (a literal list or tuple)."""
    for node in parse(PACKAGES[package] / "__init__.py").body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return ast.literal_eval(node.value)
    return []


PUBLIC = {package: set(declared_public(package)) for package in PACKAGES}


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def owner_of(path: Path) -> str | None:
    """The plugin package a file belongs to (its own, or the one its plugin's tests test); None outside plugins."""
    return next((package for package, folder in PACKAGES.items() if folder.parent in path.parents), None)


def plugin_imports(tree: ast.Module):
    """(line, package, module or None, names) of every import of a plugin package, and every attribute read from a
    name bound to one (``import arctl_x`` then ``arctl_x.NAME``: module None, names [NAME])."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in PACKAGES:
                    yield node.lineno, parts[0], parts[1] if len(parts) > 1 else None, []
                    if len(parts) == 1 or alias.asname is None:
                        bound[alias.asname or parts[0]] = parts[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] in PACKAGES:
                yield node.lineno, parts[0], parts[1] if len(parts) > 1 else None, [a.name for a in node.names]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            yield node.lineno, bound[node.value.id], None, [node.attr]


def checked_files():
    for pattern in ("plugins/*/arctl_*/**/*.py", "plugins/*/tests/**/*.py", "benchmarks/**/*.py"):
        yield from sorted(ROOT.glob(pattern))


def dependencies(package: str, *, tests: bool) -> set[str]:
    """The packages the plugin's pyproject.toml depends on (with its ``test`` extra for its tests)."""
    project = tomllib.loads((PACKAGES[package].parent / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    if tests:
        requirements += project.get("optional-dependencies", {}).get("test", [])
    return {re.match(r"[A-Za-z0-9._-]+", r).group().replace("-", "_").lower() for r in requirements}


def top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {n.id for n in node.targets if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def test_every_plugin_declares_what_is_public():
    assert len(PACKAGES) >= 7, sorted(PACKAGES)
    for package, folder in PACKAGES.items():
        names = declared_public(package)
        assert names and all(isinstance(n, str) for n in names), f"{package}/__init__.py: declare __all__ (strings)"
        defined = top_level_names(parse(folder / "__init__.py"))
        missing = [n for n in names if n not in defined and not (folder / f"{n}.py").exists()
                   and not (folder / n / "__init__.py").exists()]
        assert not missing, f"{package}.__all__ names what is neither defined in __init__ nor a submodule: {missing}"


def test_plugin_inits_stay_torch_free():
    code = "import sys\n" + "".join(f"import {p}\n" for p in PACKAGES) + "assert 'torch' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def import_problems(tree: ast.Module, where: str, own: str | None, is_test: bool) -> list[str]:
    """What is wrong with the plugin imports in ``tree``, a file of ``own`` (None: a benchmark): "where:line: why"."""
    problems = []
    for line, package, module, names in plugin_imports(tree):
        if package == own:
            continue
        at = f"{where}:{line}"
        if module is not None and module not in PUBLIC[package]:
            problems.append(f"{at}: {package}.{module} is not in {package}.__all__")
        elif module is None:
            problems += [f"{at}: {package}.{n} is not in {package}.__all__" for n in names if n not in PUBLIC[package]]
        else:
            problems += [f"{at}: {package}.{module}.{n} is private" for n in names if n.startswith("_")]
        if own is not None and package not in dependencies(own, tests=is_test):
            kind = "dependencies (or its test extra)" if is_test else "dependencies"
            problems.append(f"{at}: imports {package}, which {own}'s pyproject.toml lacks in its {kind}")
    return problems


def test_the_import_check_catches_each_kind_of_reach():
    source = (
        "import arctl_var.edit\n"  # a command module, not public
        "from arctl_llamagen.checkpoints import gpt_config\n"  # public
        "from arctl_llamagen import CHECKPOINTS, LLAMAGEN_GENERATOR\n"  # imported into __init__, but not declared
        "from arctl_mar.vae import _private\n"
        "import arctl_nar\n"
        "spec = arctl_nar.NAR_GENERATOR, arctl_nar.CHECKPOINTS\n"
        "from arctl_lbw.api import LBW\n"  # public, but arctl-shapes does not depend on arctl-lbw
        "from arctl_shapes.training import optimise\n"  # its own modules are its own business
    )
    assert sorted(import_problems(ast.parse(source), "f.py", "arctl_shapes", is_test=False)) == [
        "f.py:1: arctl_var.edit is not in arctl_var.__all__",
        "f.py:3: arctl_llamagen.CHECKPOINTS is not in arctl_llamagen.__all__",
        "f.py:4: arctl_mar.vae._private is private",
        "f.py:6: arctl_nar.CHECKPOINTS is not in arctl_nar.__all__",
        "f.py:7: imports arctl_lbw, which arctl_shapes's pyproject.toml lacks in its dependencies",
    ]


def test_cross_plugin_imports_use_declared_public_names_of_declared_dependencies():
    problems = []
    for path in checked_files():
        own = owner_of(path)
        is_test = own is not None and "tests" in path.relative_to(PACKAGES[own].parent).parts
        problems += import_problems(parse(path), relative(path), own, is_test)
    assert not problems, "\n".join(sorted(set(problems)))


def command_factories(package: str) -> set[str]:
    """The modules named by the CommandSpec factories the package's __init__ registers."""
    found = set()
    for node in ast.walk(parse(PACKAGES[package] / "__init__.py")):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "CommandSpec":
            factory = node.args[2] if len(node.args) > 2 else next(k.value for k in node.keywords if k.arg == "factory")
            found.add(ast.literal_eval(factory).partition(":")[0])  # CommandSpec(name, description, factory)
    return found


def module_path(module: str) -> Path:
    package, *rest = module.split(".")
    return PACKAGES[package].joinpath(*rest).with_suffix(".py")


def imports_typer(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Import) and any(a.name == "typer" for a in node.names) for node in ast.walk(tree))


def command_modules() -> set[Path]:
    """CommandSpec factory modules, and the modules of their package they import that build typer commands."""
    found = set()
    for package in PACKAGES:
        for factory in command_factories(package):
            found.add(module_path(factory))
            for _, name, module, _ in plugin_imports(parse(module_path(factory))):
                if name == package and module is not None and imports_typer(parse(module_path(f"{name}.{module}"))):
                    found.add(module_path(f"{name}.{module}"))
    return found


def cli_imports(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.startswith("arctl.cli"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "arctl":
                yield from ((node.lineno, "arctl.cli") for a in node.names if a.name == "cli")
            elif node.module == "arctl.cli" or node.module.startswith("arctl.cli."):
                yield node.lineno, node.module


def test_the_command_modules_are_found():
    found = {relative(p) for p in command_modules()}
    assert {"plugins/arctl-lbw/arctl_lbw/cli.py", "plugins/arctl-shapes/arctl_shapes/cli.py",
            "plugins/arctl-shapes/arctl_shapes/judge_cmd.py", "plugins/arctl-var/arctl_var/edit.py"} <= found, found


def cli_problems(tree: ast.Module, where: str, is_command: bool) -> list[str]:
    problems = []
    for line, module in cli_imports(tree):
        if not is_command:
            problems.append(f"{where}:{line}: imports {module}, but builds no command")
        elif module not in CLI_ALLOWED:
            allowed = ", ".join(sorted(CLI_ALLOWED))
            problems.append(f"{where}:{line}: imports {module} (commands may use only {allowed})")
    return problems


def test_the_cli_check_catches_library_code_in_the_cli():
    source = "from arctl.cli.output import err\nfrom arctl import cli\nimport arctl.cli.generate_cmd\n"
    assert cli_problems(ast.parse(source), "f.py", is_command=False) == [
        "f.py:1: imports arctl.cli.output, but builds no command", "f.py:2: imports arctl.cli, but builds no command",
        "f.py:3: imports arctl.cli.generate_cmd, but builds no command"]
    assert cli_problems(ast.parse(source), "f.py", is_command=True) == [
        "f.py:3: imports arctl.cli.generate_cmd (commands may use only arctl.cli, arctl.cli.options, arctl.cli.output, "
        "arctl.cli.tables)"]


def test_only_command_modules_use_the_cli_and_only_its_plugin_manager_and_printing():
    commands = command_modules()
    problems = [problem for path in sorted(ROOT.glob("plugins/*/arctl_*/**/*.py"))
                for problem in cli_problems(parse(path), relative(path), path in commands)]
    assert not problems, "\n".join(problems)


def test_the_core_imports_no_plugin():
    problems = [f"{relative(path)}:{line}: imports {package}"
                for path in sorted((ROOT / "arctl").glob("**/*.py"))
                for line, package, _, _ in plugin_imports(parse(path))]
    assert not problems, "\n".join(problems)
