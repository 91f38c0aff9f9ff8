"""The IDX file format of MNIST: encode and decode."""

from __future__ import annotations

import struct

import numpy as np


def encode_idx(array: np.ndarray) -> bytes:
    """Serialize a uint8 array as an IDX file (magic 0x08 = unsigned byte)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def decode_idx(data: bytes, name: str = "file") -> np.ndarray:
    """Parse an IDX file of unsigned bytes; a bad header or length raises DataError naming the file."""
    if len(data) < 4:
        raise DataError(f"{name} is truncated ({len(data)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or ndim not in (1, 3):
        raise DataError(f"{name} is not an MNIST IDX file (bad magic number)")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{name} is truncated (header incomplete)")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    expected = header_len + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{name} is truncated or padded: {len(data):,} bytes, expected {expected:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


class DataError(Exception):
    """A problem with the data that the user can fix; the message says how."""
