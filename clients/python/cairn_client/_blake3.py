"""BLAKE3 (32-byte output, unkeyed) in pure Python, so the client needs nothing beyond grpcio and PyNaCl.

A copy of `examples/python-kvstore/blake3_pure.py`. Uses the `blake3` package when it is installed (much faster);
otherwise this straightforward implementation of the BLAKE3 specification: 1024-byte chunks of 64-byte blocks, a
binary tree whose left subtree always holds the largest power-of-two number of chunks, ROOT flag on the final
compression. The test vectors of docs/TX_FORMAT.md (computed by Rust's `blake3` crate) check it.
"""

from __future__ import annotations

_M = 0xFFFFFFFF
_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_PERM = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_CHUNK_START, _CHUNK_END, _PARENT, _ROOT = 1, 2, 4, 8
_BLOCK_LEN, _CHUNK_LEN = 64, 1024


def _compress(cv, m, counter, block_len, flags):
    s = list(cv) + list(_IV[:4]) + [counter & _M, (counter >> 32) & _M, block_len, flags]
    m = list(m)
    for r in range(7):
        for a, b, c, d, x, y in (
            (0, 4, 8, 12, 0, 1), (1, 5, 9, 13, 2, 3), (2, 6, 10, 14, 4, 5), (3, 7, 11, 15, 6, 7),
            (0, 5, 10, 15, 8, 9), (1, 6, 11, 12, 10, 11), (2, 7, 8, 13, 12, 13), (3, 4, 9, 14, 14, 15),
        ):
            s[a] = (s[a] + s[b] + m[x]) & _M
            t = s[d] ^ s[a]
            s[d] = ((t >> 16) | (t << 16)) & _M
            s[c] = (s[c] + s[d]) & _M
            t = s[b] ^ s[c]
            s[b] = ((t >> 12) | (t << 20)) & _M
            s[a] = (s[a] + s[b] + m[y]) & _M
            t = s[d] ^ s[a]
            s[d] = ((t >> 8) | (t << 24)) & _M
            s[c] = (s[c] + s[d]) & _M
            t = s[b] ^ s[c]
            s[b] = ((t >> 7) | (t << 25)) & _M
        if r < 6:
            m = [m[i] for i in _PERM]
    for i in range(8):
        s[i] ^= s[i + 8]
        s[i + 8] ^= cv[i]
    return s


def _words(block: bytes):
    block = block.ljust(_BLOCK_LEN, b"\0")
    return [int.from_bytes(block[i : i + 4], "little") for i in range(0, _BLOCK_LEN, 4)]


def _chunk_output(chunk: bytes, counter: int):
    """The last compression of a chunk, not yet done: (cv, words, counter, block_len, flags)."""
    blocks = [chunk[i : i + _BLOCK_LEN] for i in range(0, len(chunk), _BLOCK_LEN)] or [b""]
    cv = list(_IV)
    for j, block in enumerate(blocks[:-1]):
        cv = _compress(cv, _words(block), counter, _BLOCK_LEN, _CHUNK_START if j == 0 else 0)[:8]
    flags = (_CHUNK_START if len(blocks) == 1 else 0) | _CHUNK_END
    return cv, _words(blocks[-1]), counter, len(blocks[-1]), flags


def _cv(output):
    return _compress(*output)[:8]


def _subtree_output(chunks, first_counter: int):
    if len(chunks) == 1:
        return _chunk_output(chunks[0], first_counter)
    left = 1
    while left * 2 < len(chunks):
        left *= 2
    lcv = _cv(_subtree_output(chunks[:left], first_counter))
    rcv = _cv(_subtree_output(chunks[left:], first_counter + left))
    return list(_IV), lcv + rcv, 0, _BLOCK_LEN, _PARENT


def blake3_pure(data: bytes) -> bytes:
    chunks = [data[i : i + _CHUNK_LEN] for i in range(0, len(data), _CHUNK_LEN)] or [b""]
    cv, words, _counter, block_len, flags = _subtree_output(chunks, 0)
    out = _compress(cv, words, 0, block_len, flags | _ROOT)
    return b"".join(w.to_bytes(4, "little") for w in out[:8])


try:  # pragma: no cover - depends on the environment
    import blake3 as _blake3_pkg

    def blake3(data: bytes) -> bytes:
        return _blake3_pkg.blake3(data).digest()

except ImportError:
    blake3 = blake3_pure
