"""Print pip requirements pinning the given runtime dependencies to their declared floors.

    python tools/min_deps.py numpy scipy      ->  numpy==1.26 scipy==1.11

Reads ``[project].dependencies`` of pyproject.toml, so the CI job that tests the minimum
versions follows the floors declared there. A dependency without a ``>=`` floor is an error.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def floor_pins(names: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    """``name==floor`` for each of ``names``; ValueError naming the dependency when it has none."""
    declared = {}
    for line in tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]:
        requirement = Requirement(line)
        declared[requirement.name.lower()] = requirement
    pins = []
    for name in names:
        requirement = declared.get(name.lower())
        if requirement is None:
            raise ValueError(f"{name}: not a runtime dependency in {pyproject}")
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise ValueError(f"{name}: expected one '>=' floor in {pyproject}, got {str(requirement)!r}")
        pins.append(f"{requirement.name}=={floors[0]}")
    return pins


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="runtime dependencies to pin")
    args = parser.parse_args(argv)
    try:
        print(" ".join(floor_pins(args.names)))
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
