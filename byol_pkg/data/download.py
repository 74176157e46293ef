"""``byol download``: fetch a dataset's public files into the layout its loader reads, safely.

The source of every dataset is its record's :class:`~byol_pkg.data.sources.DownloadSource` (``info.download``),
plus :data:`EXTRA_SOURCES` for files that are no dataset of their own (SimCLR's ImageNet subset lists).

Guarantees (each one tested in ``tests/test_download.py`` against a local HTTP server):

- a dataset the loader already reads completely is left alone: nothing is fetched or written;
- a partial download (``<root>/.byol-download-<name>.files/<file>.part``) is resumed with an HTTP ``Range``
  request, or restarted when the server ignores the range; it is never unpacked before it is complete;
- every file is verified against its published checksum before anything is unpacked; a mismatch deletes the
  file and raises a one-line :class:`ChecksumError` naming the URL and both digests;
- archives are unpacked into ``<root>/.byol-download-<name>.unpack/`` (beside the target, same file system) and
  moved into place (renames) only when every file of the dataset has been unpacked; an existing file is never
  replaced, so a finished dataset is never destroyed, and a failure leaves the data root as it was (a kept
  ``.part`` file, which the next run resumes, aside);
- a dataset with no public source (ImageNet, Birdsnap's Flickr URL lists, Stanford Cars) raises
  :class:`ManualDownloadError` with the manual steps and the exact layout expected.

torchvision's ``download_url`` / ``extract_archive`` are not used: the first writes straight to the final file
name and cannot resume, the second extracts tar files without the standard library's ``data`` filter (members
may write outside the target). The URLs and md5 sums are torchvision's where it records them.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import lzma
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import (ChecksumError, DatasetFormatError, DatasetNotFoundError, DownloadError, ManualDownloadError,
                      UnknownDatasetError)
from .registry import DATASETS, canonical_name
from .sources import DownloadSource, RemoteFile, mirror_from_env
from .subsets import SIMCLR_SUBSETS, SIMCLR_SUBSETS_NAME

log = logging.getLogger(__name__)

#: Downloadable file sets that are no registered dataset, by name (``byol download imagenet-subsets``).
EXTRA_SOURCES: dict[str, DownloadSource] = {SIMCLR_SUBSETS_NAME: SIMCLR_SUBSETS}
#: Attempts per file (each resumes the previous one's partial file).
ATTEMPTS = 3
CHUNK = 1 << 20
TIMEOUT_S = 60.0
#: Seconds before retry n (times n) of a failed transfer.
RETRY_WAIT_S = 2.0
USER_AGENT = f"byol-bench/{__version__}"


@dataclass
class DownloadResult:
    """What ``byol download`` did for one dataset: ``status`` is ``present`` (already complete: nothing done),
    ``downloaded`` or ``bundled`` (a library ships it)."""

    name: str
    root: str
    status: str
    files: list[dict[str, object]] = field(default_factory=list)
    kept: int = 0  # entries already in the data root that the download did not replace

    def line(self) -> str:
        if self.status == "present":
            return f"{self.name}: already complete in {self.root}; nothing downloaded"
        if self.status == "bundled":
            return f"{self.name}: nothing to download ({source_of(self.name).bundled})"
        size = sum(int(f["bytes"]) for f in self.files) / 1e6
        kept = f", {self.kept} existing entries kept as they were" if self.kept else ""
        return f"{self.name}: downloaded {len(self.files)} file(s) ({size:.1f} MB) into {self.root}{kept}"

    def as_json(self) -> dict[str, object]:
        return {"dataset": self.name, "root": self.root, "status": self.status, "files": self.files,
                "kept": self.kept, "byol_bench_version": __version__}


# ------------------------------------------------------------------------------------------------ the sources


def source_name(name: str) -> str:
    """The key of a downloadable name (a registered dataset or one of :data:`EXTRA_SOURCES`), or
    :class:`UnknownDatasetError` listing them."""
    key = canonical_name(name)
    if key in DATASETS or key in EXTRA_SOURCES:
        return key
    allowed = ", ".join(sorted([*DATASETS, *(k.replace("_", "-") for k in EXTRA_SOURCES)]))
    raise UnknownDatasetError(f"unknown dataset '{name}'; allowed: {allowed}")


def source_of(name: str) -> DownloadSource:
    """The :class:`DownloadSource` of ``name`` (every registered dataset has one)."""
    key = source_name(name)
    if key in EXTRA_SOURCES:
        return EXTRA_SOURCES[key]
    source = DATASETS[key].info.download
    if source is None:
        raise UnknownDatasetError(f"dataset '{key}' has no download record (DatasetInfo.download)")
    return source


def downloadable() -> list[str]:
    """Every name with public files, registered datasets first."""
    return [*(n for n, b in DATASETS.items() if b.info.download is not None and b.info.download.files),
            *(n for n, s in EXTRA_SOURCES.items() if s.files)]


def manual_names() -> list[str]:
    """Every registered dataset that has only manual steps."""
    return [n for n, b in DATASETS.items() if b.info.download is not None and b.info.download.kind == "manual"]


def listing() -> list[str]:
    """One line per downloadable name: ``<name>: <kind>: <files | manual steps | the library>``."""
    lines = []
    for name in [*DATASETS, *EXTRA_SOURCES]:
        source = source_of(name)
        what = {"download": ", ".join(f.filename for f in source.files), "manual": "manual steps",
                "bundled": source.bundled}[source.kind]
        lines.append(f"{name if name in DATASETS else name.replace('_', '-')}: {source.kind}: {what}")
    return lines


def manual_message(name: str, source: DownloadSource) -> str:
    """The one-line manual-steps message of a dataset without a public source."""
    return (f"dataset '{name}' cannot be downloaded automatically (no public source); expected layout: "
            f"{source.layout}; manual steps: {source.manual}; then check it with: byol prepare --dataset {name}")


def workflow_markers(config: Mapping[str, Any], name: str, root: str | None = None) -> list[str]:
    """The ``byol download`` records (``results/data/download/<name>.json``) that the workflow's prepare job of
    dataset ``name`` waits for: none unless ``config["download"]`` is true, or when the dataset is read from
    ``root`` other than ``config["data_root"]`` (a pretraining run's own data.root); ImageNet's include SimCLR's
    subset lists (``imagenet-subsets``)."""
    if not config.get("download") or (root is not None and
                                       Path(root) != Path(config.get("data_root", "data"))):
        return []
    markers = [f"results/data/download/{name}.json"]
    if canonical_name(name) == "imagenet":
        markers.append("results/data/download/imagenet-subsets.json")
    return markers


# ------------------------------------------------------------------------------------------------ completeness


def missing(name: str, root: Path) -> str | None:
    """None when ``name`` is complete under ``root`` (every split its loader has builds and every image its
    lists name exists; for :data:`EXTRA_SOURCES`: every file is in place), else why not (one line)."""
    key = source_name(name)
    if key in EXTRA_SOURCES:
        absent = [str(root / f.dest / f.filename) for f in EXTRA_SOURCES[key].files
                  if not (root / f.dest / f.filename).is_file()]
        return f"missing: {', '.join(absent)}" if absent else None
    from .prepare import check_listed_images, evaluation_splits
    from .registry import build_dataset

    info = DATASETS[key].info
    splits = info.splits if info.splits is not None else tuple(dict.fromkeys(evaluation_splits(key).values()))
    for split in splits:
        try:
            check_listed_images(build_dataset(key, root, split))
        except (DatasetNotFoundError, DatasetFormatError) as err:
            return str(err)
    return None


# ------------------------------------------------------------------------------------------------ fetching


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of ``path`` (``md5`` or ``sha256``)."""
    h = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verified(path: Path, remote: RemoteFile) -> bool:
    """Whether ``path`` matches the file's published checksum (True when none is published)."""
    return remote.checksum is None or file_digest(path, remote.algorithm) == remote.digest


class TransferCut(ConnectionError):
    """A response that ended before its ``Content-Length``."""


#: What a broken connection raises while a response is read (the partial file is kept and resumed).
_TRANSFER_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


def _progress(name: str, total: int | None, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                leave=False, dynamic_ncols=True, disable=not sys.stderr.isatty())


def transfer(url: str, part: Path) -> bool:
    """One attempt at fetching ``url`` into ``part``, resuming it when it holds a prefix (HTTP ``Range``; a
    server that answers with the whole file restarts it). True when the whole file arrived; a broken transfer
    raises one of the network errors and keeps what arrived."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the partial file is not a prefix the server can continue: restart
            log.info("%s: the server cannot resume %s (HTTP 416); restarting", url, part.name)
            part.unlink()
            return False
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (expected the file {part.name[:-5]})") from None
    with response:
        resumed = offset and response.status == 206 and \
            response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
        if offset and not resumed:
            log.info("%s: the server ignored the range request; restarting %s", url, part.name)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else None
        done = offset
        with open(part, "ab" if resumed else "wb") as out, _progress(part.name[:-5], total, offset) as bar:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
            except http.client.IncompleteRead:
                pass  # reported below with the byte counts
    if total is not None and done != total:
        raise TransferCut(f"the connection closed after {done} of {total} bytes")
    return True


def fetch(remote: RemoteFile, folder: Path, mirror: str | None) -> Path:
    """``folder/<filename>``, fetched (resuming a partial file) and verified; a file verified by an earlier run
    is reused. Raises :class:`ChecksumError` (the file is deleted) or :class:`DownloadError`."""
    url = remote.url_from(mirror)
    final, part = folder / remote.filename, folder / f"{remote.filename}.part"
    if final.is_file():
        if verified(final, remote):
            return final
        final.unlink()
    if part.is_file() and remote.checksum is not None and verified(part, remote):  # complete, not yet renamed
        os.replace(part, final)
        return final
    folder.mkdir(parents=True, exist_ok=True)
    restarts, last = 0, None
    for attempt in range(1, ATTEMPTS + 1):
        resumed = part.is_file() and part.stat().st_size > 0
        try:
            if not transfer(url, part):
                continue
        except _TRANSFER_ERRORS as err:
            last = err
            log.warning("%s: transfer failed (%s), attempt %d of %d; %s", url, err, attempt, ATTEMPTS,
                        "retrying" if attempt < ATTEMPTS else "giving up")
            time.sleep(RETRY_WAIT_S * attempt if attempt < ATTEMPTS else 0)
            continue
        if verified(part, remote):
            os.replace(part, final)
            log.info("%s: %s verified", remote.filename, remote.checksum or "no published checksum: unverified")
            return final
        actual = file_digest(part, remote.algorithm)
        part.unlink()
        if resumed and restarts == 0:  # the kept prefix may be from another file: one fresh download
            log.warning("%s: resumed file fails its %s check; restarting from scratch", url, remote.algorithm)
            restarts += 1
            continue
        raise ChecksumError(url, f"{remote.algorithm} {actual}, expected {remote.digest} ({remote.checksum_by}); "
                                 "the download was deleted and nothing was unpacked (a corrupt mirror or transfer: "
                                 "run byol download again)")
    kept = (f"; the {part.stat().st_size} bytes that arrived are kept in {part} and the next byol download "
            "resumes them") if part.is_file() else ""
    raise DownloadError(f"{url}: cannot be fetched ({last}; {ATTEMPTS} attempt(s)){kept}")


# ------------------------------------------------------------------------------------------------ unpacking

#: What reading a corrupt or truncated archive raises.
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def unpack_archive(path: Path, dest: Path, label: str) -> None:
    """Unpack the tar (any compression) or zip archive ``path`` into ``dest``: tar members through the standard
    library's ``data`` filter (nothing outside ``dest``, no devices or absolute links), zip members as
    :mod:`zipfile` sanitises them. A corrupt archive is a :class:`ChecksumError` naming ``label``."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if tarfile.is_tarfile(path):
            with tarfile.open(path, "r:*") as tar:
                tar.extractall(dest, filter="data")
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(dest)
        else:
            raise ChecksumError(label, "not a tar or zip archive (expected the published archive)")
    except _ARCHIVE_ERRORS as err:
        raise ChecksumError(label, f"corrupt archive ({type(err).__name__}: {err}); nothing was moved into the "
                                   "data root") from None


def stage(remote: RemoteFile, path: Path, staging: Path) -> None:
    """Put one verified file's content into ``staging/<dest>``: unpacked (then its ``inner`` archives too), or
    the file itself."""
    dest = staging / remote.dest
    if not remote.unpack:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / remote.filename)
        return
    unpack_archive(path, dest, remote.url)
    for inner in remote.inner:
        archive = dest / inner
        if not archive.is_file():
            raise ChecksumError(remote.url, f"has no {inner} (expected the published archive's content)")
        unpack_archive(archive, dest, f"{remote.url} ({inner})")
        archive.unlink()


def merge_tree(src: Path, dst: Path) -> int:
    """Move every entry of ``src`` into ``dst`` by renames (folders merged), never replacing an existing file;
    returns how many entries were kept because ``dst`` had them."""
    kept = 0
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        target = dst / entry.name
        if not os.path.lexists(target):
            os.replace(entry.path, target)
        elif entry.is_dir(follow_symlinks=False) and target.is_dir():
            kept += merge_tree(Path(entry.path), target)
        else:
            kept += 1
    return kept


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


# ------------------------------------------------------------------------------------------------ the command


def download(name: str, root: str | os.PathLike[str], mirror: str | None = None,
             source: DownloadSource | None = None) -> DownloadResult:
    """Make ``name`` complete under ``root`` (see the module docstring). ``mirror`` (else
    ``$BYOL_DOWNLOAD_MIRROR``) serves the files under their base names; ``source`` replaces the record's."""
    key = source_name(name)
    source = source or source_of(key)
    root_path = Path(root).expanduser()
    if source.kind == "bundled":
        return DownloadResult(key, str(root_path), "bundled")
    reason = missing(key, root_path)
    if reason is None:
        return DownloadResult(key, str(root_path), "present")
    if source.kind == "manual":
        raise ManualDownloadError(manual_message(key, source))
    log.info("%s: not complete in %s (%s); downloading %d file(s)", key, root_path, reason, len(source.files))
    mirror = mirror_from_env(mirror)
    files_dir = root_path / f".byol-download-{key}.files"
    staging = root_path / f".byol-download-{key}.unpack"
    root_path.mkdir(parents=True, exist_ok=True)
    try:
        fetched = [fetch(remote, files_dir, mirror) for remote in source.files]
    finally:
        _remove_if_empty(files_dir)
    shutil.rmtree(staging, ignore_errors=True)  # a stale one of a killed run (ours alone)
    try:
        for remote, path in zip(source.files, fetched):
            try:
                stage(remote, path, staging)
            except ChecksumError:
                path.unlink()  # an unreadable archive is no use to the next run
                raise
        kept = merge_tree(staging, root_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(files_dir)
    records = [{"file": r.filename, "url": r.url_from(mirror), "checksum": r.checksum, "bytes": p.stat().st_size}
               for r, p in zip(source.files, fetched)]
    for path in fetched:
        path.unlink()
    _remove_if_empty(files_dir)
    reason = missing(key, root_path)
    if reason is not None:
        raise DatasetFormatError(root_path, f"downloaded and unpacked {', '.join(r.filename for r in source.files)} "
                                            f"but '{key}' is still incomplete: {reason}")
    return DownloadResult(key, str(root_path), "downloaded", records, kept)
