"""The GPU stage (``scripts/gpu_stage.sh``): its wheel list agrees with the project's requirements, and its closure
check (``scripts/gpu_stage_verify.py``) judges real wheel files (zip archives with ``*.dist-info/METADATA``, built
here; downloading the real ones needs a network, which tests never use)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
VERIFY = ROOT / "scripts" / "gpu_stage_verify.py"


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            out[canonicalize_name(name)] = version
    return out


def test_staged_versions_meet_the_projects_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    staged = pins(ROOT / "scripts" / "gpu_wheels.txt")
    image = {canonicalize_name(line.split("==")[0].strip()) for line in
             (ROOT / "scripts" / "gpu_image_packages.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    needed = [Requirement(r) for r in project["dependencies"]]
    needed += [Requirement(r) for r in project["optional-dependencies"]["bench"]]
    needed += [Requirement(r) for r in project["optional-dependencies"]["workflow"] if r.startswith("snakemake>")]
    assert {"torch", "lightly", "byol-pytorch", "snakemake"} <= {canonicalize_name(r.name) for r in needed}  # 3 lists
    for req in needed:
        name = canonicalize_name(req.name)
        assert name in staged or name in image, f"{req.name}: neither staged nor in the GPU image"
        if name in staged:
            assert req.specifier.contains(staged[name]), f"staged {req.name}=={staged[name]} fails {req}"
    # the peers at the versions benchmarks/README.md measured
    assert staged["lightly"] == "1.6.0" and staged["byol-pytorch"] == "0.9.1"


def make_wheel(folder: Path, name: str, version: str, requires: list[str], tag: str = "py3-none-any") -> Path:
    path = folder / f"{name}-{version}-{tag}.whl"
    meta = "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                      *[f"Requires-Dist: {r}" for r in requires]]) + "\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{name}-{version}.dist-info/METADATA", meta)
        z.writestr(f"{name}-{version}.dist-info/WHEEL", f"Wheel-Version: 1.0\nTag: {tag}\n")
    return path


def verify(wheels: Path, listing: Path, image: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(VERIFY), str(wheels), str(listing), str(image), *flags],
                          capture_output=True, text=True, timeout=60)


def test_closure_check_on_real_wheel_files(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    listing, image = tmp_path / "list.txt", tmp_path / "image.txt"
    listing.write_text("alpha==1.0\nbeta==2.1  # a comment\n")
    image.write_text("# the image\nnumpy\n")
    make_wheel(wheels, "alpha", "1.0", ["beta>=2", "numpy", "gamma; extra == 'docs'", "winreg2; sys_platform == 'win32'"])
    beta = make_wheel(wheels, "beta", "2.1", [])
    res = verify(wheels, listing, image)
    assert res.returncode == 0, res.stderr  # extras nobody asks for and Windows-only needs are not needed

    beta.unlink()
    assert verify(wheels, listing, image, "--missing").stdout.split() == ["beta==2.1"]
    res = verify(wheels, listing, image)
    assert res.returncode == 1 and "beta" in res.stderr

    make_wheel(wheels, "beta", "1.0", [])  # a stale version: not the listed one
    res = verify(wheels, listing, image, "--prune")
    assert not (wheels / "beta-1.0-py3-none-any.whl").exists() and res.returncode == 1

    make_wheel(wheels, "beta", "2.1", ["delta"])  # a requirement neither staged nor in the image
    res = verify(wheels, listing, image)
    assert res.returncode == 1 and "delta" in res.stderr

    make_wheel(wheels, "beta", "2.1", [])
    (wheels / "beta-2.1-py3-none-any.whl").unlink()
    make_wheel(wheels, "beta", "2.1", [], tag="cp311-cp311-win_amd64")  # cannot install on the GPU machine
    res = verify(wheels, listing, image)
    assert res.returncode == 1 and "beta" in res.stderr
