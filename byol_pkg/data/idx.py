"""Reader for the IDX format used by (Fashion-)MNIST, raw or gzipped.

Layout: two zero bytes, a dtype code, the number of dimensions ``d``, then ``d``
big-endian uint32 sizes, then the data in big-endian C order.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from ..errors import DatasetFormatError

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
#: Bytes read from a gzip stream at most (an IDX file of Fashion-MNIST is 47 MB; this bounds a gzip bomb).
MAX_IDX_BYTES = 1 << 32


def _read_bytes(path: str) -> tuple[bytes, bool]:
    """``(IDX bytes, was gzipped)`` of ``path``: gunzipped when it starts with the gzip magic, else as stored."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != _GZIP_MAGIC:
            return f.read(), False
        try:
            with gzip.GzipFile(fileobj=f) as gz:
                data = gz.read(MAX_IDX_BYTES + 1)
        except (EOFError, OSError, zlib.error) as exc:
            raise DatasetFormatError(path, f"corrupt or truncated gzip stream ({exc}); expected a complete "
                                           "gzip file of an IDX file (re-download it)") from exc
    if len(data) > MAX_IDX_BYTES:
        raise DatasetFormatError(path, f"gzip stream unpacks to more than {MAX_IDX_BYTES} bytes; not an IDX file")
    return data, True


def _bad_magic(path: str, data: bytes, gzipped: bool) -> DatasetFormatError:
    magic = int.from_bytes(data[:4].ljust(4, b"\0"), "big")
    expected = f"expected 0x0000TTDD with type TT in {sorted(hex(k) for k in IDX_DTYPES)}"
    if path.endswith(".gz") and not gzipped:
        return DatasetFormatError(path, f"neither a gzip file (expected the gzip magic 0x1f8b) nor a raw IDX file "
                                        f"(magic number 0x{magic:08x}, {expected})")
    inside = " inside the gzip stream" if gzipped else ""
    return DatasetFormatError(path, f"bad IDX magic number 0x{magic:08x}{inside} ({expected})")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip detected from its content) into a native-endian array."""
    path = os.fspath(path)
    data, gzipped = _read_bytes(path)
    if not data:
        what = "the gzip stream holds no data" if gzipped else "empty file"
        raise DatasetFormatError(path, f"{what}; expected an IDX file (4-byte magic number, sizes, data)")
    if len(data) < 4:
        if data[0] != 0 or (len(data) > 1 and data[1] != 0):
            raise _bad_magic(path, data, gzipped)
        raise DatasetFormatError(path, f"truncated IDX file: {len(data)} bytes, header needs 4")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise _bad_magic(path, data, gzipped)
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(path, f"truncated IDX header: {len(data)} bytes, need {header} for {ndim} dims")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DatasetFormatError(path, f"IDX file {what}: {len(data)} bytes, header promises dims {shape} "
                                       f"which need {expected}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)
