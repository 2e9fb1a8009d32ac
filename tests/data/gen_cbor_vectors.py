#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/data/gen_cbor_vectors.py - expected sha256_cbor_64bit block hashes for test_sim_kvhash.c.
#
# Written independently of src/sim/kvhash.c: a hand CBOR encoder (RFC 8949 deterministic form,
# which is what cbor2.dumps(obj, canonical=True) writes for ints, tuples, str and None) plus
# hashlib, following vLLM v0.10.0: NONE_HASH = sha256_cbor_64bit(os.environ["PYTHONHASHSEED"]),
# block hash = sha256_cbor_64bit((parent or NONE_HASH, tuple(tokens), extra_keys)), where
# sha256_cbor_64bit(x) = int.from_bytes(sha256(cbor(x)).digest(), "big") & (2**64 - 1).
# Run once: python3 tests/data/gen_cbor_vectors.py ; paste the output into the C test.
import hashlib


def head(major, v):
    if v < 24:
        return bytes([major << 5 | v])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if v < 1 << (8 * size):
            return bytes([major << 5 | ai]) + v.to_bytes(size, "big")
    raise ValueError(v)


def cbor(x):
    if x is None:
        return b"\xf6"
    if isinstance(x, int):
        assert x >= 0
        if x < 1 << 64:
            return head(0, x)
        payload = x.to_bytes((x.bit_length() + 7) // 8, "big")
        return head(6, 2) + head(2, len(payload)) + payload
    if isinstance(x, str):
        b = x.encode()
        return head(3, len(b)) + b
    if isinstance(x, (tuple, list)):
        return head(4, len(x)) + b"".join(cbor(e) for e in x)
    raise TypeError(x)


def h64(x):
    return int.from_bytes(hashlib.sha256(cbor(x)).digest(), "big") & ((1 << 64) - 1)


def block(parent, tokens, extra, none_hash):
    return h64((parent if parent else none_hash, tuple(tokens), extra))


none0 = h64("0")
none42 = h64("42")
b1 = list(range(1, 17))
b2 = [100000 + i * 977 for i in range(16)]
b3 = [0, 23, 24, 255, 256, 65535, 65536, 4294967295, 7, 8, 9, 10, 11, 12, 13, 14]
h1 = block(None, b1, None, none0)
h2 = block(h1, b2, None, none0)
h3 = block(h2, b3, None, none0)
hs = block(None, b1, ("salt",), none0)
h42 = block(None, b1, None, none42)
big = int.from_bytes(bytes(range(1, 33)), "big")  # a random-like 256-bit NONE_HASH
hbig = block(None, b1, None, big)
print("NONE_HASH(PYTHONHASHSEED=0)  = 0x%016xull" % none0)
print("NONE_HASH(PYTHONHASHSEED=42) = 0x%016xull" % none42)
print("h1 = 0x%016xull  /* first block 1..16, seed 0 */" % h1)
print("h2 = 0x%016xull  /* chained second block */" % h2)
print("h3 = 0x%016xull  /* third block, head sizes */" % h3)
print("hs = 0x%016xull  /* first block, extra_keys ('salt',) */" % hs)
print("h42 = 0x%016xull /* first block, seed 42 */" % h42)
print("hbig = 0x%016xull /* first block, 256-bit NONE_HASH 0x0102..20 */" % hbig)
print("cbor(h1 tuple) = " + cbor((none0, tuple(b1), None)).hex())
print("cbor(big tuple) = " + cbor((big, tuple(b1[:2]), None)).hex())
print("cbor(h3 tokens) = " + cbor((h2, tuple(b3), ("salt",))).hex())
