"""Where each dataset's files come from: its public source (URLs, checksums, where each file lands under the data
root) or the manual steps when none exists. One :class:`DownloadSource` per dataset, held by its
:class:`~byol_pkg.data.registry.DatasetInfo` (``info.download``) next to its loader; ``byol download``
(:mod:`byol_pkg.data.download`) reads nothing else.

Checksums are ``"md5:<hex>"`` or ``"sha256:<hex>"``, as the creators publish them or as torchvision's dataset
classes record them (``checksum_by`` says which); ``None`` where neither publishes one (the file is then checked
only by unpacking it and reading it with the loader, and ``byol download`` says so).

A mirror (``byol download --mirror URL`` or ``$BYOL_DOWNLOAD_MIRROR``) serves every file under its base name:
``<mirror>/<filename>`` instead of the file's ``url``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The environment variable naming a mirror (``--mirror`` overrides it).
MIRROR_ENV = "BYOL_DOWNLOAD_MIRROR"
#: Digest names a checksum may use (``hashlib`` names) and their hex lengths.
ALGORITHMS = {"md5": 32, "sha256": 64}


@dataclass(frozen=True)
class RemoteFile:
    """One published file: fetched from ``url``, verified against ``checksum``, then unpacked (an archive) or
    placed as it is into ``dest`` (a folder relative to the data root)."""

    url: str
    checksum: str | None  # "md5:<hex>" / "sha256:<hex>"; None: no checksum is published
    dest: str = "."  # folder under the data root its content goes to
    unpack: bool = True  # a tar / tar.gz / zip archive to unpack (False: the file is placed as it is)
    inner: tuple[str, ...] = ()  # archives inside it (relative to dest) to unpack into dest too, then removed
    checksum_by: str = "torchvision"  # who records the checksum

    def __post_init__(self) -> None:
        if self.checksum is not None:
            algo, _, hexdigest = self.checksum.partition(":")
            if algo not in ALGORITHMS or len(hexdigest) != ALGORITHMS[algo] or set(hexdigest) - set("0123456789abcdef"):
                raise ValueError(f"{self.url}: checksum must be 'md5:<hex>' or 'sha256:<hex>', got {self.checksum!r}")

    @property
    def filename(self) -> str:
        """The file's base name (the last part of its URL's path)."""
        return os.path.basename(urlsplit(self.url).path)

    @property
    def algorithm(self) -> str | None:
        return None if self.checksum is None else self.checksum.partition(":")[0]

    @property
    def digest(self) -> str | None:
        return None if self.checksum is None else self.checksum.partition(":")[2]

    def url_from(self, mirror: str | None) -> str:
        """The URL to fetch: ``<mirror>/<filename>`` when a mirror is given, else :attr:`url`."""
        return f"{mirror.rstrip('/')}/{self.filename}" if mirror else self.url


@dataclass(frozen=True)
class DownloadSource:
    """How to get a dataset: public ``files`` (downloadable), or ``manual`` steps (no public source), or
    ``bundled`` (a library ships it: nothing to download). ``layout`` is what the loader reads."""

    files: tuple[RemoteFile, ...] = ()
    manual: str = ""
    bundled: str = ""
    layout: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        kinds = [bool(self.files), bool(self.manual), bool(self.bundled)]
        if sum(kinds) != 1:
            raise ValueError("a DownloadSource has exactly one of files, manual steps or a bundled note")

    @property
    def kind(self) -> str:
        """``download``, ``manual`` or ``bundled``."""
        return "download" if self.files else "manual" if self.manual else "bundled"


def mirror_from_env(mirror: str | None = None) -> str | None:
    """``mirror`` when given, else ``$BYOL_DOWNLOAD_MIRROR`` (unset or empty: no mirror)."""
    return mirror or os.environ.get(MIRROR_ENV) or None
