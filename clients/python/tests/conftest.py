"""Fixtures of the client's tests. The localnet tests need a running node, named by environment variables:

    CAIRN_NODE_GRPC    host:port of the node's gRPC API (e.g. 127.0.0.1:26660)
    CAIRN_CHAIN_ID     the chain id (checked against the node's Status)
    CAIRN_USER_SECRET  hex secret key of a funded account (`cairn keys show --user 0 --secret`)

`cargo test -p cairn --test python_client` starts a 1-validator localnet and sets them; without them the localnet
tests are skipped (and that Rust test fails on any skip)."""

from __future__ import annotations

import os

import pytest

from cairn_client import Client, Keypair

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        pytest.skip(f"{name} is not set: these tests need a running localnet (see clients/python/README.md)")
    return v


@pytest.fixture(scope="session")
def node():
    c = Client(_env("CAIRN_NODE_GRPC"))
    yield c
    c.close()


@pytest.fixture(scope="session")
def chain_id(node) -> str:
    expected = _env("CAIRN_CHAIN_ID")
    actual = node.status().chain_id
    assert actual == expected, f"the node runs chain {actual!r}, CAIRN_CHAIN_ID says {expected!r}"
    return actual


@pytest.fixture(scope="session")
def funded(node) -> Keypair:
    key = Keypair.from_secret_hex(_env("CAIRN_USER_SECRET"))
    assert node.bank_balance(key.address) > 0, f"account {key.address.hex()} has no bank balance on the node"
    return key


@pytest.fixture(scope="session")
def bank(node) -> bytes:
    return node.module_address("bank")
