#!/usr/bin/env python3
"""Check a GPU stage's wheels (see scripts/gpu_stage.sh): every wheel of scripts/gpu_wheels.txt is there, no other
wheel is, and every runtime requirement of every staged wheel (non-extra, or of an extra some staged wheel asks for;
environment marker evaluated for CPython 3.12 on Linux x86-64) is met by a staged wheel or by the GPU image
(scripts/gpu_image_packages.txt). Requirements on image packages whose version is known there are checked against it
and reported as warnings when not met (the image can't be changed from here; stage that package to override it).

usage: gpu_stage_verify.py WHEEL_DIR WHEEL_LIST IMAGE_LIST [--prune | --missing]
  --prune    delete wheels in WHEEL_DIR that the list does not name (stale versions) before checking
  --missing  only print the list's name==version lines that have no wheel in WHEEL_DIR yet, and exit 0
Exit status 0 when everything is met; 1 with one line per problem on stderr otherwise.
"""

from __future__ import annotations

import re
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename
    from packaging.version import Version
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.tags import compatible_tags, cpython_tags  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename  # type: ignore[no-redef]
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

# The GPU machine: python3 is CPython 3.12.3 on Linux x86-64.
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
}
# Wheel tags it installs: CPython 3.12, manylinux up to glibc 2.28 (see gpu_stage.sh), or pure Python.
_PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(28, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
SUPPORTED_TAGS = set(cpython_tags((3, 12), abis=["cp312", "abi3", "none"], platforms=_PLATFORMS)) | set(
    compatible_tags((3, 12), "cp312", _PLATFORMS)
)


def read_pins(path: Path) -> dict[str, str | None]:
    """name -> version (None if unpinned) from a 'name[==version]' per line file with # comments."""
    pins: dict[str, str | None] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        pins[canonicalize_name(name.strip())] = version.strip() or None
    return pins


def marker_holds(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    for extra in extras or {""}:
        if req.marker.evaluate({**TARGET_ENV, "extra": extra}):
            return True
    return False


def wheel_requirements(whl: Path) -> list[Requirement]:
    with zipfile.ZipFile(whl) as zf:
        meta = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        msg = Parser().parsestr(zf.read(meta).decode("utf-8", "replace"), headersonly=True)
    return [Requirement(r) for r in msg.get_all("Requires-Dist") or []]


def main(argv: list[str]) -> int:
    prune, missing_only = "--prune" in argv, "--missing" in argv
    args = [a for a in argv if a not in ("--prune", "--missing")]
    if len(args) != 3:
        print("usage: gpu_stage_verify.py WHEEL_DIR WHEEL_LIST IMAGE_LIST [--prune | --missing]", file=sys.stderr)
        return 2
    wheel_dir, wheel_list, image_list = map(Path, args)
    wanted = read_pins(wheel_list)
    image = read_pins(image_list)
    unpinned = [name for name, pin in wanted.items() if pin is None]
    if unpinned:
        print(f"gpu_stage_verify: {wheel_list} must pin name==version: {', '.join(unpinned)}", file=sys.stderr)
        return 1
    problems: list[str] = []
    warnings: list[str] = []

    staged: dict[str, tuple[Version, Path]] = {}
    for whl in sorted(wheel_dir.glob("*.whl")):
        name, version, _build, _tags = parse_wheel_filename(whl.name)
        pin = wanted.get(name)
        if pin is None or Version(pin) != version:
            if prune:
                whl.unlink()
                continue
            problems.append(f"stale or unlisted wheel {whl.name} (not in {wheel_list.name})")
            continue
        if not set(_tags) & SUPPORTED_TAGS:
            problems.append(f"{whl.name} does not install on CPython 3.12 / manylinux_2_28 x86-64")
        if name in staged:
            problems.append(f"two wheels for {name}: {staged[name][1].name} and {whl.name}")
        staged[name] = (version, whl)

    if missing_only:
        for name, pin in wanted.items():
            if name not in staged:
                print(f"{name}=={pin}" if pin else name)
        return 0
    for name, pin in wanted.items():
        if name not in staged:
            problems.append(f"missing wheel {name}=={pin} in {wheel_dir}")
        if name in image:
            warnings.append(f"{name} is staged but also in the image ({image[name] or 'version unknown'}); staged wins")

    # Walk requirements from every staged wheel, following extras that staged wheels ask of each other.
    reqs = {name: wheel_requirements(whl) for name, (_v, whl) in staged.items()}
    todo: list[tuple[str, frozenset[str], str]] = [(n, frozenset(), n) for n in staged]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras, via = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for req in reqs.get(name, []):
            if not marker_holds(req, set(extras)):
                continue
            dep = canonicalize_name(req.name)
            what = f"{req} (needed by {via})"
            if dep in staged:
                if not req.specifier.contains(staged[dep][0], prereleases=True):
                    problems.append(f"staged {dep}=={staged[dep][0]} does not meet {what}")
                if req.extras:
                    todo.append((dep, frozenset(req.extras), f"{via} -> {dep}[{','.join(sorted(req.extras))}]"))
            elif dep in image:
                known = image[dep]
                if known and not req.specifier.contains(Version(known), prereleases=True):
                    warnings.append(f"image {dep}=={known} does not meet {what}")
                if req.extras:
                    warnings.append(f"{what} asks extras of an image package; not checked")
            else:
                problems.append(f"unmet requirement {what}: neither staged nor in the image")

    for w in sorted(set(warnings)):
        print(f"gpu_stage_verify: warning: {w}", file=sys.stderr)
    for p in sorted(set(problems)):
        print(f"gpu_stage_verify: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
