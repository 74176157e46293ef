"""``byol download`` against a local HTTP server on 127.0.0.1 (nothing reaches the internet): every downloadable
dataset is published as small archives in its real format (built from the fixtures in its real layout), fetched
with the record's own destinations and unpack rules (only the checksums are the test's: computed here from the
served bytes), and then passes ``byol prepare``. Corrupt files, broken transfers, stale partial files, finished
datasets and the datasets without a public source are each checked."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from byol_pkg.cli import main
from byol_pkg.data import build_dataset, download as dl
from byol_pkg.data.registry import DATASETS
from byol_pkg.data.sources import MIRROR_ENV, DownloadSource, RemoteFile
from byol_pkg.data.subsets import SIMCLR_SUBSETS_NAME, read_subset
from data_fixtures import make_cifar10, make_cifar100, make_fashion_mnist, make_image_folder, make_stl10
from transfer_fixtures import (make_caltech101, make_dtd, make_fgvc_aircraft, make_flowers102, make_food101,
                               make_oxford_pets, make_sun397, make_voc2007)

# ------------------------------------------------------------------------------------------ the local server


class _Handler(BaseHTTPRequestHandler):
    """GET of the served folder with ``Range: bytes=N-`` support; ``server.cut[path] = n`` sends only the first
    n body bytes of the next response to that path (then closes), ``server.ignore_range`` answers 200 always."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        path = srv.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        start = 0
        wanted = self.headers.get("Range")
        if wanted and self.path not in srv.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = srv.cut.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """``(base URL, served folder, server)`` of a ThreadingHTTPServer on 127.0.0.1, an ephemeral port."""
    folder = tmp_path / "served"
    folder.mkdir()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.folder, srv.requests, srv.cut, srv.ignore_range = folder, [], {}, set()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", folder, srv
    srv.shutdown()
    srv.server_close()


# ------------------------------------------------------------------------------------------ publishing archives


def _tar(out: Path, base: Path, members: list[str], mode: str = "w:gz") -> None:
    """``out``: a tar of ``base/<member>`` (files or folders) stored under ``<member>``."""
    with tarfile.open(out, mode) as tar:
        for member in members:
            tar.add(base / member, arcname=member)


def _tar_files(out: Path, base: Path, files: list[Path], mode: str = "w") -> None:
    with tarfile.open(out, mode) as tar:
        for f in sorted(files):
            tar.add(f, arcname=str(f.relative_to(base)))


def _publish_voc(src: Path, out: Path) -> None:
    """The two VOC2007 tars: trainval (its images and lists) and test (its images and lists), one tree."""
    make_voc2007(src)
    voc = src / "VOCdevkit" / "VOC2007"
    test_ids = set((voc / "ImageSets" / "Main" / "test.txt").read_text().split())
    is_test = [p for p in voc.rglob("*") if p.is_file() and (p.stem in test_ids or p.name.endswith("test.txt"))]
    rest = [p for p in voc.rglob("*") if p.is_file() and p not in set(is_test)]
    _tar_files(out / "VOCtrainval_06-Nov-2007.tar", src, rest)
    _tar_files(out / "VOCtest_06-Nov-2007.tar", src, is_test)


def _publish_caltech(src: Path, out: Path) -> None:
    """caltech-101.zip holding caltech-101/101_ObjectCategories.tar.gz (the real release's nesting)."""
    make_caltech101(src)
    inner = src / "101_ObjectCategories.tar.gz"
    _tar(inner, src / "caltech101", ["101_ObjectCategories"])
    with zipfile.ZipFile(out / "caltech-101.zip", "w") as z:
        z.write(inner, "caltech-101/101_ObjectCategories.tar.gz")
        z.writestr("caltech-101/show_annotation.m", "% unused\n")


def _publish_sun(src: Path, out: Path) -> None:
    """SUN397.tar.gz (SUN397/...) and Partitions.zip (its .txt files at the top level)."""
    make_sun397(src, partitions="Partitions")
    _tar(out / "SUN397.tar.gz", src, ["SUN397"])
    with zipfile.ZipFile(out / "Partitions.zip", "w") as z:
        for f in sorted((src / "Partitions").iterdir()):
            z.write(f, f.name)


def _publish_pets(src: Path, out: Path) -> None:
    make_oxford_pets(src)
    _tar(out / "images.tar.gz", src / "oxford-iiit-pet", ["images"])
    _tar(out / "annotations.tar.gz", src / "oxford-iiit-pet", ["annotations"])


def _publish_flowers(src: Path, out: Path) -> None:
    make_flowers102(src)
    _tar(out / "102flowers.tgz", src / "flowers-102", ["jpg"])
    for name in ("imagelabels.mat", "setid.mat"):
        (out / name).write_bytes((src / "flowers-102" / name).read_bytes())


def _publish_fashion(src: Path, out: Path) -> None:
    make_fashion_mnist(src, subdir="", gz=True)
    for f in src.glob("*.gz"):
        (out / f.name).write_bytes(f.read_bytes())


#: dataset -> writes its published files into the served folder (from a scratch folder of fixture content)
PUBLISH = {
    "cifar10": lambda s, o: (make_cifar10(s), _tar(o / "cifar-10-python.tar.gz", s, ["cifar-10-batches-py"])),
    "cifar100": lambda s, o: (make_cifar100(s), _tar(o / "cifar-100-python.tar.gz", s, ["cifar-100-python"])),
    "stl10": lambda s, o: (make_stl10(s), _tar(o / "stl10_binary.tar.gz", s, ["stl10_binary"])),
    "fashion_mnist": _publish_fashion,
    "food101": lambda s, o: (make_food101(s), _tar(o / "food-101.tar.gz", s, ["food-101"])),
    "sun397": _publish_sun,
    "fgvc_aircraft": lambda s, o: (make_fgvc_aircraft(s),
                                   _tar(o / "fgvc-aircraft-2013b.tar.gz", s, ["fgvc-aircraft-2013b"])),
    "voc2007": _publish_voc,
    "dtd": lambda s, o: (make_dtd(s), _tar(o / "dtd-r1.0.1.tar.gz", s, ["dtd"])),
    "oxford_pets": _publish_pets,
    "caltech101": _publish_caltech,
    "flowers102": _publish_flowers,
}


def _checksum(path: Path, algorithm: str | None) -> str | None:
    if algorithm is None:
        return None
    return f"{algorithm}:{hashlib.new(algorithm, path.read_bytes()).hexdigest()}"


def publish(name: str, tmp_path: Path, served: Path, monkeypatch) -> DownloadSource:
    """Serve ``name``'s files and point its record at their checksums (same algorithm as the record's; no
    checksum where the record has none); returns the record's source as the test uses it."""
    PUBLISH[name](tmp_path / f"src_{name}", served)
    builder = DATASETS[name]
    source = builder.info.download
    files = tuple(replace(f, checksum=_checksum(served / f.filename, f.algorithm)) for f in source.files)
    source = replace(source, files=files)
    monkeypatch.setattr(builder, "info", replace(builder.info, download=source))
    return source


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` -> its bytes (None for folders)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _errors(capsys) -> list[str]:
    """The error lines of a command (the log lines on stderr left out)."""
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("byol ")]


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(".byol-download")]


@pytest.fixture(autouse=True)
def _no_system_copies(monkeypatch):
    monkeypatch.setenv("BYOL_FASHION_MNIST_SYSTEM_DIRS", "")  # Debian's Fashion-MNIST copy would count as present
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setattr(dl, "RETRY_WAIT_S", 0.0)  # no pause between the attempts at a broken transfer


# ------------------------------------------------------------------------------------------ the formulas


def test_digests_and_mirror_urls_are_the_published_ones(tmp_path):
    f = tmp_path / "abc"
    f.write_bytes(b"abc")
    assert dl.file_digest(f, "md5") == "900150983cd24fb0d6963f7d28e17f72"  # RFC 1321's test suite
    # FIPS 180-2's example
    assert dl.file_digest(f, "sha256") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    remote = RemoteFile("https://host.example/a/b/cifar-10-python.tar.gz?x=1", "md5:900150983cd24fb0d6963f7d28e17f72")
    assert remote.filename == "cifar-10-python.tar.gz" and remote.algorithm == "md5"
    assert remote.url_from("http://127.0.0.1:8/m/") == "http://127.0.0.1:8/m/cifar-10-python.tar.gz"
    assert remote.url_from(None) == remote.url and dl.verified(f, remote)
    assert not dl.verified(f, replace(remote, checksum="md5:" + "0" * 32))
    with pytest.raises(ValueError, match="checksum must be"):
        RemoteFile("https://h/x.tar", "crc32:abcd")
    with pytest.raises(ValueError, match="checksum must be"):
        RemoteFile("https://h/x.tar", "md5:abc")  # an md5 has 32 hex digits
    with pytest.raises(ValueError, match="exactly one"):
        DownloadSource(files=(remote,), manual="steps")


def test_merge_moves_new_entries_and_never_replaces_a_file(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "new.txt").write_text("new")
    (src / "a" / "same.txt").write_text("from the archive")
    (src / "top.txt").write_text("top")
    (dst / "a").mkdir(parents=True)
    (dst / "a" / "same.txt").write_text("finished work")
    assert dl.merge_tree(src, dst) == 1
    assert (dst / "a" / "same.txt").read_text() == "finished work"
    assert (dst / "a" / "b" / "new.txt").read_text() == "new" and (dst / "top.txt").read_text() == "top"


def test_every_record_says_where_its_files_come_from():
    kinds = {n: b.info.download.kind for n, b in DATASETS.items()}
    assert {n for n, k in kinds.items() if k == "manual"} == {"imagenet", "imagefolder", "birdsnap", "stanford_cars"}
    assert kinds["digits"] == "bundled" and set(PUBLISH) == {n for n, k in kinds.items() if k == "download"}
    unverified = {(n, f.filename) for n, b in DATASETS.items() for f in b.info.download.files if f.checksum is None}
    assert unverified == {("fgvc_aircraft", "fgvc-aircraft-2013b.tar.gz"), ("sun397", "Partitions.zip")}
    assert all(f.url.startswith(("http://", "https://")) for n in PUBLISH for f in DATASETS[n].info.download.files)


# ------------------------------------------------------------------------------------------ downloads that work


@pytest.mark.parametrize("name", sorted(PUBLISH))
def test_download_lands_in_the_layout_prepare_reads(name, tmp_path, server, monkeypatch, capsys):
    url, served, srv = server
    source = publish(name, tmp_path, served, monkeypatch)
    root, marker = tmp_path / "data", tmp_path / "marker.json"
    assert main(["download", name, "--root", str(root), "--mirror", url, "--out", str(marker)]) == 0
    assert f"{name}: downloaded {len(source.files)} file(s)" in capsys.readouterr().out
    record = json.loads(marker.read_text())
    assert record["status"] == "downloaded" and [f["file"] for f in record["files"]] == \
        [f.filename for f in source.files]
    assert [f["checksum"] for f in record["files"]] == [f.checksum for f in source.files]
    assert _leftovers(root) == []  # archives, partial files and the unpack folder are gone
    assert main(["prepare", "--dataset", name, "--root", str(root), "--cache-root", str(tmp_path / "cache"),
                 "--out", str(tmp_path / f"{name}.json")]) == 0
    # a second run on the complete dataset fetches nothing and changes nothing
    before, n_requests = tree(root), len(srv.requests)
    assert main(["download", name, "--root", str(root), "--mirror", url]) == 0
    assert "already complete" in capsys.readouterr().out
    assert len(srv.requests) == n_requests and tree(root) == before


def test_the_loaders_download_flag_and_the_mirror_variable(tmp_path, server, monkeypatch):
    url, served, _ = server
    publish("dtd", tmp_path, served, monkeypatch)
    monkeypatch.setenv(MIRROR_ENV, url)
    ds = build_dataset("dtd", tmp_path / "data", "train", download=True)
    assert len(ds) == 9 and (tmp_path / "data" / "dtd" / "labels" / "train1.txt").is_file()


def test_an_existing_file_is_kept_when_a_download_completes_a_dataset(tmp_path, server, monkeypatch):
    url, served, _ = server
    publish("voc2007", tmp_path, served, monkeypatch)
    root = tmp_path / "data"
    with tarfile.open(served / "VOCtrainval_06-Nov-2007.tar") as tar:
        tar.extractall(root, filter="data")  # trainval is in place, test is not
    kept = root / "VOCdevkit" / "VOC2007" / "JPEGImages" / "000001.jpg"
    kept.write_bytes(b"\xff\xd8 the user's own copy")
    result = dl.download("voc2007", root, url)
    assert result.status == "downloaded" and kept.read_bytes() == b"\xff\xd8 the user's own copy"
    assert result.kept >= 1 and build_dataset("voc2007", root, "test")


def test_simclr_subset_lists_download_into_the_imagenet_folder(tmp_path, server, monkeypatch):
    url, served, srv = server
    entries = {"1percent.txt": "n01440764_10026.JPEG\nn01443537_2.JPEG\n", "10percent.txt": "n01440764_10026.JPEG\n"}
    for fname, text in entries.items():
        (served / fname).write_text(text)
    files = tuple(replace(f, checksum=_checksum(served / f.filename, "sha256")) for f in dl.EXTRA_SOURCES[
        SIMCLR_SUBSETS_NAME].files)
    monkeypatch.setitem(dl.EXTRA_SOURCES, SIMCLR_SUBSETS_NAME, replace(dl.EXTRA_SOURCES[SIMCLR_SUBSETS_NAME],
                                                                         files=files))
    root = tmp_path / "data"
    assert main(["download", "imagenet-subsets", "--root", str(root), "--mirror", url]) == 0
    assert {f: (root / "imagenet" / f).read_text() for f in entries} == entries
    make_image_folder(root / "imagenet", {"train": {"n01440764": 1, "n01443537": 1}, "val": {"n01440764": 1}})
    os.rename(root / "imagenet" / "train" / "n01440764" / "img_000.png",
              root / "imagenet" / "train" / "n01440764" / "n01440764_10026.JPEG")
    os.rename(root / "imagenet" / "train" / "n01443537" / "img_000.png",
              root / "imagenet" / "train" / "n01443537" / "n01443537_2.JPEG")
    trainval = build_dataset("imagenet", root, "trainval")
    assert len(read_subset(root / "imagenet" / "1percent.txt", trainval)) == 2
    n = len(srv.requests)
    assert dl.download("imagenet-subsets", root, url).status == "present" and len(srv.requests) == n


# ------------------------------------------------------------------------------------------ faults


def test_a_corrupt_archive_fails_its_checksum_and_leaves_the_root_as_it_was(tmp_path, server, monkeypatch, capsys):
    url, served, _ = server
    publish("cifar10", tmp_path, served, monkeypatch)
    archive = served / "cifar-10-python.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in transit
    archive.write_bytes(bytes(data))
    root = tmp_path / "data"
    (root / "other").mkdir(parents=True)
    (root / "other" / "finished.txt").write_text("someone's finished work")
    before = tree(root)
    assert main(["download", "cifar10", "--root", str(root), "--mirror", url]) == 3
    err = _errors(capsys)
    assert len(err) == 1 and f"{url}/cifar-10-python.tar.gz: md5 " in err[0] and "expected" in err[0]
    assert tree(root) == before  # nothing unpacked, no partial file, no temporary folder


def test_an_archive_without_a_checksum_that_cannot_be_unpacked_leaves_nothing(tmp_path, server, monkeypatch, capsys):
    url, served, _ = server
    publish("fgvc_aircraft", tmp_path, served, monkeypatch)  # no published checksum: unpacking is the check
    archive = served / "fgvc-aircraft-2013b.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # served cut short, as a whole file
    root = tmp_path / "data"
    root.mkdir()
    assert main(["download", "fgvc_aircraft", "--root", str(root), "--mirror", url]) == 3
    err = _errors(capsys)
    assert len(err) == 1 and "fgvc-aircraft-2013b.tar.gz" in err[0] and "corrupt archive" in err[0]
    assert tree(root) == {}


def test_a_transfer_that_breaks_off_is_resumed_with_a_range_request(tmp_path, server, monkeypatch):
    url, served, srv = server
    publish("cifar10", tmp_path, served, monkeypatch)
    srv.cut["/cifar-10-python.tar.gz"] = 1000
    result = dl.download("cifar10", tmp_path / "data", url)
    assert result.status == "downloaded"
    assert srv.requests == [("/cifar-10-python.tar.gz", None), ("/cifar-10-python.tar.gz", "bytes=1000-")]
    assert build_dataset("cifar10", tmp_path / "data", "test")


def test_a_partial_file_of_an_earlier_run_is_resumed_or_restarted(tmp_path, server, monkeypatch):
    url, served, srv = server
    publish("dtd", tmp_path, served, monkeypatch)
    data = (served / "dtd-r1.0.1.tar.gz").read_bytes()
    root = tmp_path / "data"
    part = root / ".byol-download-dtd.files" / "dtd-r1.0.1.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:700])  # a killed run's prefix: resumed
    assert dl.download("dtd", root, url).status == "downloaded"
    assert srv.requests == [("/dtd-r1.0.1.tar.gz", "bytes=700-")] and _leftovers(root) == []

    srv.requests.clear()
    root2 = tmp_path / "data2"
    part2 = root2 / ".byol-download-dtd.files" / "dtd-r1.0.1.tar.gz.part"
    part2.parent.mkdir(parents=True)
    part2.write_bytes(b"x" * 700)  # a prefix of something else: the resumed file fails its check, then restarts
    assert dl.download("dtd", root2, url).status == "downloaded"
    assert srv.requests == [("/dtd-r1.0.1.tar.gz", "bytes=700-"), ("/dtd-r1.0.1.tar.gz", None)]

    srv.requests.clear()
    srv.ignore_range.add("/dtd-r1.0.1.tar.gz")  # a server without ranges: the whole file again, from the start
    root3 = tmp_path / "data3"
    part3 = root3 / ".byol-download-dtd.files" / "dtd-r1.0.1.tar.gz.part"
    part3.parent.mkdir(parents=True)
    part3.write_bytes(data[:700])
    assert dl.download("dtd", root3, url).status == "downloaded" and len(srv.requests) == 1
    assert tree(root3) == tree(root)

    srv.requests.clear()
    root4 = tmp_path / "data4"
    part4 = root4 / ".byol-download-dtd.files" / "dtd-r1.0.1.tar.gz.part"
    part4.parent.mkdir(parents=True)
    part4.write_bytes(data)  # complete but not yet renamed when the earlier run stopped: used, nothing fetched
    assert dl.download("dtd", root4, url).status == "downloaded" and srv.requests == []
    assert tree(root4) == tree(root)


def test_a_missing_file_is_one_line_naming_the_url(tmp_path, server, monkeypatch, capsys):
    url, served, _ = server
    publish("dtd", tmp_path, served, monkeypatch)
    (served / "dtd-r1.0.1.tar.gz").unlink()
    root = tmp_path / "data"
    assert main(["download", "dtd", "--root", str(root), "--mirror", url]) == 7
    err = _errors(capsys)
    assert err == [f"byol download: error: {url}/dtd-r1.0.1.tar.gz: HTTP 404 Not Found (expected the file "
                   "dtd-r1.0.1.tar.gz)"]
    assert tree(root) == {}


def test_a_server_that_cuts_every_transfer_short_is_one_line_and_keeps_the_partial_file(tmp_path, server,
                                                                                      monkeypatch, capsys):
    url, served, srv = server
    publish("dtd", tmp_path, served, monkeypatch)
    srv.cut.update({"/dtd-r1.0.1.tar.gz": 100})
    monkeypatch.setattr(dl, "ATTEMPTS", 1)
    root = tmp_path / "data"
    assert main(["download", "dtd", "--root", str(root), "--mirror", url]) == 7
    part = root / ".byol-download-dtd.files" / "dtd-r1.0.1.tar.gz.part"
    size = (served / "dtd-r1.0.1.tar.gz").stat().st_size
    assert _errors(capsys) == [f"byol download: error: {url}/dtd-r1.0.1.tar.gz: cannot be fetched (the connection "
                               f"closed after 100 of {size} bytes; 1 attempt(s)); the 100 bytes that arrived are kept "
                               f"in {part} and the next byol download resumes them"]
    assert part.stat().st_size == 100 and not (root / "dtd").exists()
    assert dl.download("dtd", root, url).status == "downloaded" and srv.requests[-1][1] == "bytes=100-"


@pytest.mark.parametrize("name,layout", [("imagenet", "<root>/imagenet/{train,val}/<wnid>/*.JPEG"),
                                         ("stanford_cars", "<root>/stanford_cars/{cars_train/*.jpg"),
                                         ("birdsnap", "<root>/birdsnap/{species.txt, images.txt")])
def test_datasets_without_a_public_source_list_the_manual_steps(name, layout, tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["download", name, "--root", str(root), "--mirror", "http://127.0.0.1:9"]) == 3
    err = _errors(capsys)
    assert len(err) == 1 and "cannot be downloaded automatically" in err[0] and "manual steps:" in err[0]
    assert f"expected layout: {layout}" in err[0] and f"byol prepare --dataset {name}" in err[0]
    assert not root.exists()


def test_a_complete_manual_dataset_needs_no_download(tmp_path, capsys):
    root = tmp_path / "data"
    make_image_folder(root / "imagenet", {"train": {"n01440764": 2, "n01443537": 2}, "val": {"n01440764": 1}})
    assert main(["download", "imagenet", "--root", str(root)]) == 0
    assert "imagenet: already complete" in capsys.readouterr().out


def test_the_command_line_lists_every_source(capsys):
    assert main(["download", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "cifar10: download: cifar-10-python.tar.gz" in lines and "stanford_cars: manual: manual steps" in lines
    assert "imagenet-subsets: download: 1percent.txt, 10percent.txt" in lines and len(lines) == len(DATASETS) + 1
    assert main(["download"]) == 2 and main(["download", "dtd", "cifar10", "--out", "x.json"]) == 2
    assert "name exactly one" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ the workflow

ROOT = Path(__file__).resolve().parents[1]


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(exe), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_the_workflow_downloads_before_it_prepares_only_when_asked(tmp_path):
    overlay = tmp_path / "download.yaml"
    overlay.write_text("download: true\n")
    configs = ["--configfile", str(ROOT / "config" / "config.yaml")]
    # (without the overlay the DAG has no download job: tests/test_workflow.py's job counts)
    asked = _snakemake(tmp_path / "w", "-n", "--forceall", "-p", *configs, str(overlay))
    assert asked.returncode == 0, asked.stderr[-2000:]
    commands = sorted(set(re.findall(r"byol download .*$", asked.stdout + asked.stderr, re.M)))
    assert commands == [f"byol download {n} --root data --out results/data/download/{n}.json > "
                        f"results/logs/data/download_{n}.log 2>&1" for n in ("digits", "fashion_mnist")]
    # a real run of the rule for a dataset without a public source fails at once, its log holding the manual steps
    work = tmp_path / "run"
    failed = _snakemake(work, "results/data/download/stanford_cars.json", "--cores", "1", *configs,
                        str(overlay))
    assert failed.returncode != 0 and not (work / "results/data/download/stanford_cars.json").exists()
    log = (work / "results/logs/data/download_stanford_cars.log").read_text().strip().splitlines()
    assert log[-1].startswith("byol download: error: dataset 'stanford_cars' cannot be downloaded automatically")
