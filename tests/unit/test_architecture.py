"""Rules of the code's shape that import-linter (`make lint`, [tool.importlinter] in
pyproject.toml) cannot state, checked by reading the source with ``ast`` (nothing is imported):

- tools/ and bench/ reach a service only through its entry point, ``services.<name>.main``;
- no source module in shared/, services/, tools/, bench/ is over 500 lines;
- the pure-core contract names every module at the top of shared/ but runtime/ and excel/;
- no test module imports another test module or a conftest: helpers come from tests.support;
- one fixture starts the system: only tests/support/system.py calls ``start_system``;
- tests/unit is pure: no database, broker, subprocess or network.

Each test lists every violation (file:line and what it imports), not only the first.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("shared", "services", "tools", "bench")
SERVICES = ("intake", "validator", "aggregator", "publisher", "verifier")
MAX_LINES = 500
#: the pure core is shared/ without these
IO_PACKAGES_OF_SHARED = ("runtime", "excel")
#: the one module that starts the system for the tests
SYSTEM_SUPPORT = ROOT / "tests" / "support" / "system.py"
#: what a unit test may not import: a database, a broker, a subprocess, the network, the system
UNIT_FORBIDDEN_IMPORTS = (
    "subprocess",
    "multiprocessing",
    "socket",
    "sqlite3",
    "sqlalchemy",
    "sqlmodel",
    "aiosqlite",
    "asyncpg",
    "nats",
    "faststream",
    "shared.runtime.db",
    "tools.launcher",
    "tools.natsserver",
    "tests.support.system",
    "tests.support.databases",
    "tests.support.nats",
    "tests.support.compose",
)
#: fixtures (tests/conftest.py and the system conftests) that start a server or open a database
UNIT_FORBIDDEN_FIXTURES = frozenset(
    {"nats_server", "database_url", "postgres_database", "secured_nats", "admin", "system"}
)


def python_files(*tops: str) -> list[Path]:
    return sorted(
        path
        for top in tops
        for path in (ROOT / top).rglob("*.py")
        if not any(part.startswith(".") or part == "__pycache__" for part in path.parts)
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of this repository (not an attribute)."""
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or base.is_dir()


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (functions included), relative
    imports resolved; ``from package import name`` also yields ``package.name`` when that is a
    module; ``pytest_plugins`` entries count as imports."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:
                if is_module(f"{base}.{alias.name}"):
                    yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
        ):
            for constant in ast.walk(node.value):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    yield node.lineno, constant.value


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def takes_fixtures(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A test function or a fixture: its arguments are fixtures."""

    def is_fixture(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return isinstance(target, ast.Attribute | ast.Name) and (
            getattr(target, "attr", None) == "fixture" or getattr(target, "id", None) == "fixture"
        )

    return function.name.startswith("test") or any(map(is_fixture, function.decorator_list))


def test_tools_and_bench_use_a_service_only_through_its_main_module() -> None:
    allowed = {"services"} | {f"services.{s}" for s in SERVICES}
    allowed |= {f"services.{s}.main" for s in SERVICES}
    violations = [
        f"{where(path, line)} imports {name}"
        for path in python_files("tools", "bench")
        for line, name in imports(path)
        if within(name, "services") and name not in allowed
    ]
    assert not violations, "tools/ and bench/ may import only services.<name>.main:\n" + "\n".join(
        violations
    )


def test_no_source_module_is_over_500_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in python_files(*SOURCE_PACKAGES)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not too_long, f"modules over {MAX_LINES} lines:\n" + "\n".join(too_long)


def test_the_pure_core_contract_covers_all_of_shared_but_runtime_and_excel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (pure,) = [c for c in contracts if "shared.runtime" in c.get("forbidden_modules", [])]
    children = {
        f"shared.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "shared").iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").is_file())
    }
    expected = children - {f"shared.{name}" for name in IO_PACKAGES_OF_SHARED}
    assert set(pure["source_modules"]) == expected
    libraries = {"nats", "faststream", "sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg", "httpx"}
    libraries |= {"fastapi", "starlette", "uvicorn", "openpyxl", "prometheus_client", "typer"}
    libraries |= {"rich", "shared.runtime", "shared.excel", "services", "tools", "bench"}
    assert libraries <= set(pure["forbidden_modules"])


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    violations = [
        f"{where(path, line)} imports {name}"
        for path in python_files("tests")
        for line, name in imports(path)
        if within(name, "tests") and name != "tests" and not within(name, "tests.support")
    ]
    assert not violations, "helpers come from tests.support only:\n" + "\n".join(violations)


def test_only_the_support_package_starts_the_system() -> None:
    violations = []
    for path in python_files("tests"):
        if path == SYSTEM_SUPPORT:
            continue
        for node in ast.walk(parsed(path)):
            named = (
                isinstance(node, ast.ImportFrom)
                and any(alias.name == "start_system" for alias in node.names)
            ) or (isinstance(node, ast.Attribute) and node.attr == "start_system")
            if named:
                violations.append(where(path, node.lineno))
    assert not violations, (
        "start the system with tests.support.system (system_fixture, running_system):\n"
        + "\n".join(violations)
    )


def test_unit_tests_use_no_database_broker_subprocess_or_network() -> None:
    violations = []
    for path in python_files("tests/unit"):
        for line, name in imports(path):
            if any(within(name, forbidden) for forbidden in UNIT_FORBIDDEN_IMPORTS):
                violations.append(f"{where(path, line)} imports {name}")
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and takes_fixtures(node):
                for arg in node.args.args:
                    if arg.arg in UNIT_FORBIDDEN_FIXTURES:
                        violations.append(f"{where(path, node.lineno)} uses fixture {arg.arg}")
    assert not violations, "tests/unit is pure; these belong in tests/integration/:\n" + "\n".join(
        violations
    )
