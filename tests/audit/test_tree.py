"""RFC 6962 tree hashes, checked against values computed by hand from the definition."""

from __future__ import annotations

import hashlib

from rigml.audit import leaf_hash, node_hash, root_hash


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_empty_tree_is_the_hash_of_nothing() -> None:
    assert root_hash([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_one_leaf_is_its_leaf_hash() -> None:
    leaf = leaf_hash(b"")
    # RFC 6962's test vector: the leaf hash of the empty entry
    assert leaf.hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert root_hash([leaf]) == leaf == h(b"\x00")


def test_three_and_seven_leaves_split_at_the_largest_power_of_two_below_n() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(7)]
    a, b, c, d, e, f, g = leaves

    def n(x: bytes, y: bytes) -> bytes:
        return h(b"\x01" + x + y)

    assert node_hash(a, b) == n(a, b)
    assert root_hash(leaves[:3]) == n(n(a, b), c)
    assert root_hash(leaves) == n(n(n(a, b), n(c, d)), n(n(e, f), g))
    assert root_hash(leaves[:5]) == n(n(n(a, b), n(c, d)), e)


def test_rfc6962_reference_roots() -> None:
    # the inputs and roots of the RFC 6962 reference tests (certificate-transparency)
    hexes = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    hexes.append("606162636465666768696a6b6c6d6e6f")
    leaves = [leaf_hash(bytes.fromhex(x)) for x in hexes]
    roots = {
        2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    }
    for size, root in roots.items():
        assert root_hash(leaves[:size]).hex() == root, size


def test_consistency_proofs_verify_for_every_prefix_and_fail_when_forged() -> None:
    from rigml.audit._tree import consistency_proof, verify_consistency

    leaves = [leaf_hash(bytes([i])) for i in range(20)]
    for n in range(1, 21):
        new = root_hash(leaves[:n])
        for m in range(1, n + 1):
            old = root_hash(leaves[:m])
            proof = consistency_proof(leaves[:n], m)
            assert verify_consistency(m, n, old, new, proof), (m, n)
            forged = root_hash([leaf_hash(b"x"), *leaves[1:m]])
            assert not verify_consistency(m, n, forged, new, proof), (m, n)
            if proof:
                bent = [proof[0][::-1], *proof[1:]]
                assert not verify_consistency(m, n, old, new, bent), (m, n)
