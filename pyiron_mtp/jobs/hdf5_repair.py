"""Clear the "open for write" flag that a killed process leaves in an HDF5 file.

HDF5 files with a version 2/3 superblock record in a status byte that a writer has
them open; when that writer is killed the byte stays set and every later open fails
("file is already open for write").  The data itself is intact.  This is what the
``h5clear -s`` tool does: zero the status byte and rewrite the superblock checksum
(Jenkins' lookup3 hash, as used by HDF5).
"""
from __future__ import annotations

import struct

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M = 0xFFFFFFFF


def _rot(x, k):
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data`` (HDF5's metadata checksum)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M
    i = 0
    while n - i > 12:
        x, y, z = struct.unpack_from("<3I", data, i)
        a, b, c = (a + x) & _M, (b + y) & _M, (c + z) & _M
        a = (a - c) & _M; a ^= _rot(c, 4); c = (c + b) & _M
        b = (b - a) & _M; b ^= _rot(a, 6); a = (a + c) & _M
        c = (c - b) & _M; c ^= _rot(b, 8); b = (b + a) & _M
        a = (a - c) & _M; a ^= _rot(c, 16); c = (c + b) & _M
        b = (b - a) & _M; b ^= _rot(a, 19); a = (a + c) & _M
        c = (c - b) & _M; c ^= _rot(b, 4); b = (b + a) & _M
        i += 12
    if n - i == 0:
        return c
    x, y, z = struct.unpack("<3I", data[i:].ljust(12, b"\0"))
    a, b, c = (a + x) & _M, (b + y) & _M, (c + z) & _M
    c ^= b; c = (c - _rot(b, 14)) & _M
    a ^= c; a = (a - _rot(c, 11)) & _M
    b ^= a; b = (b - _rot(a, 25)) & _M
    c ^= b; c = (c - _rot(b, 16)) & _M
    a ^= c; a = (a - _rot(c, 4)) & _M
    b ^= a; b = (b - _rot(a, 14)) & _M
    c ^= b; c = (c - _rot(b, 24)) & _M
    return c


def clear_write_flag(path) -> bool:
    """Zero the superblock status flags of ``path``; True if they were set.

    Raises ValueError for a file whose superblock is not a checksummed version 2/3 one
    at offset 0 (or whose checksum does not verify: nothing is written then).
    """
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:8] != _SIGNATURE:
            raise ValueError(f"{path}: no HDF5 superblock at offset 0")
        version, size_offsets = head[8], head[9]
        if version not in (2, 3):
            raise ValueError(f"{path}: superblock version {version} has no status flags to clear")
        n = 12 + 4 * size_offsets
        fh.seek(0)
        block = fh.read(n + 4)
        stored = struct.unpack("<I", block[n:n + 4])[0]
        if lookup3(block[:n]) != stored:
            raise ValueError(f"{path}: superblock checksum does not verify; left unchanged")
        if block[11] == 0:
            return False
        fixed = block[:11] + b"\0" + block[12:n]
        fh.seek(0)
        fh.write(fixed + struct.pack("<I", lookup3(fixed)))
    return True
