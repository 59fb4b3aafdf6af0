"""Every install hint names a package extra that exists (or the bare package), and every third-party module the
package imports is a declared dependency."""

from __future__ import annotations

import re
import sys

from helpers import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SOURCES = [p for d in ("rrm_eval", "training", "ppe_dataset") for p in (REPO / d).rglob("*.py")]
REQUIRE = re.compile(r"""require\(\s*["']([\w.]+)["']\s*,\s*["']([\w-]*)["']""")


def _declared() -> set[str]:
    names = set()
    for spec in [*PROJECT["dependencies"], *(d for ds in PROJECT["optional-dependencies"].values() for d in ds)]:
        names.add(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower().replace("-", "_"))
    return names


def test_install_hints_name_real_extras():
    extras = set(PROJECT["optional-dependencies"])
    calls = [(p, m.group(1), m.group(2)) for p in SOURCES for m in REQUIRE.finditer(p.read_text(encoding="utf-8"))]
    assert len(calls) > 10  # the pattern still finds the calls
    bad = [(str(p.relative_to(REPO)), mod, extra) for p, mod, extra in calls if extra and extra not in extras]
    assert not bad, f"install hints naming extras that do not exist: {bad}"


def test_lazily_required_modules_are_declared():
    # import name -> distribution name where they differ
    dist = {"llama_cpp": "llama_cpp_python", "yaml": "pyyaml"}
    declared = _declared() | {"tokenizers"}  # tokenizers ships with transformers
    modules = {m.group(1).split(".")[0] for p in SOURCES for m in REQUIRE.finditer(p.read_text(encoding="utf-8"))}
    missing = sorted(m for m in modules if dist.get(m, m) not in declared)
    assert not missing, f"required at run time but not declared in pyproject.toml: {missing}"
