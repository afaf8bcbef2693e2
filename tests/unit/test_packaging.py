"""Packaging: every non-Python file the app needs ships in the wheel the Dockerfile installs."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]


def test_it_lists_every_data_file_of_the_package_in_package_data():
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["coachbox"]
    package = REPO / "coachbox"
    missing = []
    for path in package.rglob("*"):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        relative = PurePosixPath(path.relative_to(package).as_posix())
        # setuptools globs: "**" spans folders; PurePosixPath.match is right-anchored, so compare whole paths
        if not any(
            relative.full_match(p) if hasattr(relative, "full_match") else _glob_match(relative, p) for p in patterns
        ):
            missing.append(str(relative))
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"


def _glob_match(relative: PurePosixPath, pattern: str) -> bool:
    import fnmatch

    # "**/*" may match zero or more folders: "admin/templates/**/*" covers admin/templates/x.html too
    candidates = {pattern, pattern.replace("/**/", "/")}
    return any(fnmatch.fnmatch(str(relative), candidate) for candidate in candidates)
