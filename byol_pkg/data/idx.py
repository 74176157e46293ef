"""Reader for the IDX format used by (Fashion-)MNIST, raw or gzipped.

Layout: two zero bytes, a dtype code, the number of dimensions ``d``, then ``d``
big-endian uint32 sizes, then the data in big-endian C order.
"""

from __future__ import annotations

import gzip
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


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != _GZIP_MAGIC:
            return f.read()
        try:
            with gzip.GzipFile(fileobj=f) as gz:
                return gz.read()
        except (EOFError, OSError, zlib.error) as exc:
            raise DatasetFormatError(path, f"corrupt or truncated gzip stream ({exc})") from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip detected from its content) into a native-endian array."""
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DatasetFormatError(path, f"truncated IDX file: {len(data)} bytes, header needs 4")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DatasetFormatError(
            path,
            f"bad IDX magic number 0x{int.from_bytes(data[:4], 'big'):08x} "
            f"(expected 0x0000TTDD with type TT in {sorted(hex(k) for k in IDX_DTYPES)})",
        )
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(path, f"truncated IDX header: {len(data)} bytes, need {header}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DatasetFormatError(path, f"IDX file {what}: {len(data)} bytes, dims {shape} need {expected}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)
