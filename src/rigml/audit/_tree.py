"""RFC 6962 / RFC 9162 Merkle tree hashes over SHA-256, built bottom-up without recursion."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the leaf prefix keeps a leaf from passing as a node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """The tree head of ``leaves`` (leaf hashes, in order).

    Pairing neighbours level by level and carrying a lone last node up unchanged gives the
    same tree as RFC 6962's split at the largest power of two below n.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def consistency_proof(leaves: Sequence[bytes], m: int) -> list[bytes]:
    """RFC 6962 PROOF(m, D[n]): the nodes that show the first ``m`` leaves are a prefix."""
    if not 0 < m <= len(leaves):
        raise ValueError(f"no consistency proof from {m} to {len(leaves)} leaves")
    return _subproof(m, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root_hash(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_hash(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_hash(leaves[:k])]


def verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the tree of size m is a prefix of the one of size n?"""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and old_root == new_root
    path = [old_root, *proof] if m & (m - 1) == 0 else list(proof)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not (fn & 1 or fn == 0):
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def root_of_blocks(blocks: Sequence[bytes], tail: Sequence[bytes] = ()) -> bytes:
    """The tree head of leaves given as the roots of equal full blocks, then ``tail``.

    Every block holds the same power-of-two number of leaves and ``tail`` fewer than one
    block, so each block is a complete subtree at its place. Merging equal neighbours on
    a stack leaves the complete subtrees of the binary decomposition, largest first;
    folding them from the right with the tail's head is RFC 6962's split at the largest
    power of two below n, applied all the way down.
    """
    stack: list[tuple[int, bytes]] = []  # (blocks under the node, its hash)
    for node in blocks:
        size = 1
        while stack and stack[-1][0] == size:
            node = node_hash(stack.pop()[1], node)
            size *= 2
        stack.append((size, node))
    head = root_hash(tail) if tail else None
    for _, node in reversed(stack):
        head = node if head is None else node_hash(node, head)
    return EMPTY_ROOT if head is None else head
