"""The Python kvstore against the specification in examples/kvstore/README.md (no server needed)."""

from blake3_pure import blake3, blake3_pure
from kvstore_server import MALFORMED, REJECTED, TOO_LARGE, State, TxError, parse


def code_of(tx: bytes) -> int:
    try:
        parse(tx)
        return 0
    except TxError as e:
        assert e.reason, "every rejection says why"
        return e.code


def test_blake3_published_vectors():
    assert blake3_pure(b"").hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert blake3_pure(b"abc").hex() == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    data = bytes(i % 251 for i in range(5000))
    assert blake3(data) == blake3_pure(data)


def test_app_hash_vectors_from_the_readme():
    assert State().app_hash().hex() == "59f37b82ac5cce79e7297fd92f635e03dc7d3c161f9b2bb6200c704fd178d0d7"
    s = State(7, {b"b": b"2", b"a": b"1", b"\xff\x00": b""}, {bytes(32): 5, bytes([1] * 32): 10})
    assert s.app_hash().hex() == "c73b056ea1dbee3a95d30ac8b5b2546a7cd844b9af84d84832770c9b7fef9f23"


def test_tx_codes():
    k = "ab" * 32
    assert code_of(b"a=b") == 0
    assert code_of(b"a=b=c") == 0
    assert code_of(f"val:{k}!10".encode()) == 0
    assert code_of(b"") == MALFORMED
    assert code_of(b"no equals") == MALFORMED
    assert code_of(b"=v") == MALFORMED
    assert code_of(f"val:{k}".encode()) == MALFORMED
    assert code_of(f"val:{k}!+1".encode()) == MALFORMED
    assert code_of(f"val:{k}! 1".encode()) == MALFORMED
    assert code_of(f"val:{k}!1_0".encode()) == MALFORMED
    assert code_of(f"val:{k}!1000000000001".encode()) == MALFORMED
    assert code_of(b"k" * 257 + b"=v") == TOO_LARGE
    assert code_of(b"k=" + b"v" * 65_537) == TOO_LARGE


def test_validator_rules():
    s = State(0, {}, {bytes(32): 5})
    try:
        s.apply(("val", bytes([1] * 32), 0))
        raise AssertionError("removing a non-validator must fail")
    except TxError as e:
        assert e.code == REJECTED
    try:
        s.apply(("val", bytes(32), 0))
        raise AssertionError("removing the last validator must fail")
    except TxError as e:
        assert e.code == REJECTED and "last validator" in e.reason
    before = s.copy()
    s.apply(("val", bytes([2] * 32), 3))
    s.apply(("val", bytes([3] * 32), 1))
    s.apply(("val", bytes([3] * 32), 0))
    assert s.validator_updates_since(before) == [(bytes([2] * 32), 3)]
