"""Configuration, found as Ruff and flake8 find theirs.

``[tool.flake8-tensorview]`` in the nearest ``pyproject.toml`` that has it, from the first path (or
the working folder) upwards; and, so that a project keeps one config, the ``[flake8]`` section's
``per-file-ignores``, ``extend-exclude`` and ``extend-ignore`` from the nearest ``setup.cfg``,
``tox.ini`` or ``.flake8`` that has one. Globs are relative to the folder of the file that names
them. ``--config FILE`` reads only that file; ``--isolated`` reads none.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTION = "flake8-tensorview"
INI_FILES = ("setup.cfg", "tox.ini", ".flake8")
INI_KEYS = ("per-file-ignores", "extend-exclude", "extend-ignore")
"""What is read from a ``[flake8]`` section: the rest of it (select, max-line-length) is about
flake8's own checks."""
CODE = re.compile(r"^[A-Z]{1,3}[0-9]{0,3}$")
"""flake8's pattern for a code or prefix."""
LISTS = ("select", "ignore", "extend-select", "extend-ignore", "exclude", "extend-exclude")


class ConfigError(Exception):
    """A config file that cannot be used: said with its path, and the command exits 2."""


@dataclass(frozen=True)
class Config:
    """Settings from files; the command line overrides ``select``/``ignore``/``exclude``/``jobs``
    and adds to the ``extend-`` ones."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    extend_ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(glob, codes); a glob with a ``/`` is absolute (made so from the config's folder)."""
    jobs: str | None = None
    respect_gitignore: bool | None = None
    sources: tuple[str, ...] = field(default=())
    """The files read, for ``--show-settings``-like messages and tests."""


def codes(value: Any, where: str) -> tuple[str, ...]:
    """A list of codes or prefixes (TOML list, or a comma/space separated string)."""
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{where}: expected a list of codes, got {value!r}")
    out = tuple(item.strip() for item in items if item.strip())
    for code in out:
        if not CODE.match(code):
            raise ConfigError(f"{where}: {code!r} is not a code or prefix (like TV1 or TV101)")
    return out


def globs(value: Any, where: str, base: Path) -> tuple[str, ...]:
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{where}: expected a list of globs, got {value!r}")
    return tuple(anchor(item.strip(), base) for item in items if item.strip())


def anchor(pattern: str, base: Path) -> str:
    """flake8's rule: a glob with a path separator is relative to ``base``; a bare name matches
    any file or folder of that name."""
    from flake8.utils import normalize_path

    return normalize_path(pattern, str(base))


def read_pyproject(path: Path, table: dict[str, Any] | None = None) -> Config:
    if table is None:
        table = _toml(path).get("tool", {}).get(SECTION, {})
    base = path.resolve().parent
    where = f"{path} [tool.{SECTION}]" if path.name == "pyproject.toml" else str(path)
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if key in ("select", "ignore", "extend-select", "extend-ignore"):
            values[name] = codes(value, f"{where} {key}")
        elif key in ("exclude", "extend-exclude"):
            values[name] = globs(value, f"{where} {key}", base)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{where} per-file-ignores: expected a table of glob = [codes]")
            values[name] = tuple((anchor(glob, base), codes(v, f"{where} per-file-ignores {glob!r}"))
                                 for glob, v in value.items())
        elif key == "jobs":
            values[name] = jobs(str(value), f"{where} jobs")
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(f"{where} respect-gitignore: expected true or false")
            values[name] = value
        else:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(KEYS)})")
    return Config(**values, sources=(str(path),))


KEYS = (*LISTS, "per-file-ignores", "jobs", "respect-gitignore")


def read_ini(path: Path) -> Config:
    """The ``[flake8]`` keys that concern this linter too."""
    from flake8.utils import parse_comma_separated_list, parse_files_to_codes_mapping

    section = _ini(path)
    if section is None:
        return Config()
    base = path.resolve().parent
    values: dict[str, Any] = {}
    if "extend-ignore" in section:
        values["extend_ignore"] = codes(parse_comma_separated_list(section["extend-ignore"]),
                                        f"{path} [flake8] extend-ignore")
    if "extend-exclude" in section:
        patterns = parse_comma_separated_list(section["extend-exclude"])
        values["extend_exclude"] = tuple(anchor(p, base) for p in patterns)
    if "per-file-ignores" in section:
        try:
            mapping = parse_files_to_codes_mapping(section["per-file-ignores"])
        except Exception as exc:  # flake8's ExecutionError, with flake8's explanation
            raise ConfigError(f"{path} [flake8] per-file-ignores: {exc}") from exc
        values["per_file_ignores"] = tuple((anchor(glob, base), tuple(c)) for glob, c in mapping)
    return Config(**values, sources=(str(path),))


def jobs(value: str, where: str = "--jobs") -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise ConfigError(f"{where}: expected a number >= 1 or 'auto', got {value!r}")
    return value


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: worker processes never read config
        import tomllib
    else:  # pragma: no cover - exercised on 3.9 and 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _ini(path: Path) -> configparser.SectionProxy | None:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parser["flake8"] if parser.has_section("flake8") else None


def _upwards(start: Path) -> Iterable[Path]:
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    yield folder
    yield from folder.parents


def find(start: Path) -> tuple[Path | None, Path | None]:
    """The nearest ``pyproject.toml`` with our table and the nearest flake8 ini file with a
    ``[flake8]`` section, each searched from ``start`` upwards."""
    pyproject = ini = None
    for folder in _upwards(start):
        candidate = folder / "pyproject.toml"
        if pyproject is None and candidate.is_file() and SECTION in _toml(candidate).get("tool", {}):
            pyproject = candidate
        if ini is None:
            ini = next((folder / name for name in INI_FILES
                        if (folder / name).is_file() and _ini(folder / name) is not None), None)
        if pyproject is not None and ini is not None:
            break
    return pyproject, ini


def load(start: Path, explicit: Path | None = None, isolated: bool = False) -> Config:
    if isolated:
        return Config()
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such config file")
        if explicit.suffix == ".toml":
            data = _toml(explicit)  # a pyproject.toml's table, or a file of our own with the keys at the top
            table = data.get("tool", {}).get(SECTION)
            if table is None:
                table = {} if explicit.name == "pyproject.toml" else data
            return read_pyproject(explicit, table)
        return read_ini(explicit)
    pyproject, ini = find(start)
    merged = read_ini(ini) if ini is not None else Config()
    if pyproject is not None:
        merged = merge(merged, read_pyproject(pyproject))
    return merged


def merge(low: Config, high: Config) -> Config:
    """``high`` over ``low``: set values replace, ``extend-`` lists and per-file ignores add up."""
    return Config(
        select=high.select if high.select is not None else low.select,
        ignore=high.ignore if high.ignore is not None else low.ignore,
        extend_select=low.extend_select + high.extend_select,
        extend_ignore=low.extend_ignore + high.extend_ignore,
        exclude=high.exclude if high.exclude is not None else low.exclude,
        extend_exclude=low.extend_exclude + high.extend_exclude,
        per_file_ignores=low.per_file_ignores + high.per_file_ignores,
        jobs=high.jobs or low.jobs,
        respect_gitignore=low.respect_gitignore if high.respect_gitignore is None else high.respect_gitignore,
        sources=low.sources + high.sources,
    )


def matches(path: str, patterns: Iterable[str]) -> bool:
    """flake8's matching: a pattern matches the file's name, or its absolute path."""
    from fnmatch import fnmatch

    name = os.path.basename(path.rstrip("/"))
    absolute = os.path.abspath(path)
    return any(fnmatch(name, p) or fnmatch(absolute, p) for p in patterns)
