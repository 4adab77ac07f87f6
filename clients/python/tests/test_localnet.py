"""The client against a running localnet (see conftest.py for the environment it needs)."""

from __future__ import annotations

import pytest

from cairn_client import (
    Keypair,
    ProofError,
    TxFailed,
    TxRejected,
    bank_burn_msg,
    bank_transfer_msg,
    verify_proof,
)
from cairn_client.proof import Proof
from cairn_client.tx import Execute, Tx, TxBody, TRANSFER_FUEL, bank_total_supply_query, decode_u128, signing_bytes

BAD_SIGNATURE = 3  # CheckTx code of a signature that does not verify


def test_the_funded_key_is_the_devnet_user_key(chain_id, funded):
    # The CLI's `keys show --user 0` secret is the documented derivation blake3_parts("<chain>/user", 0).
    assert Keypair.derived(f"{chain_id}/user", 0).seed == funded.seed


def test_transfer_is_finalized_moves_the_balance_and_is_seen_as_events(node, chain_id, funded, bank):
    to = Keypair.generate().address
    amount = 1234
    before = node.bank_balance(funded.address, bank)
    assert node.bank_balance(to, bank) == 0
    nonce = node.next_nonce(funded.public_key)
    with node.subscribe(["transfer"]) as events:
        done = node.transfer(funded, to, amount, bank)
        assert done.height >= 1
        assert done.result.code == 0, done.result.log
        # The event stream delivers the transfer's event, tagged with its tx hash and height.
        ev = events.wait_for(lambda e: e.tx_hash == done.tx_hash, timeout=30)
    assert ev.kind == "transfer"
    assert ev.height == done.height
    assert ev.attributes["from"] == funded.address.hex()
    assert ev.attributes["to"] == to.hex()
    assert ev.attributes["amount"] == str(amount)
    assert ev.attributes["_contract"] == bank.hex()
    # The commit-mode result carries the same event.
    assert [e.kind for e in done.result.events] == ["transfer"]
    assert node.bank_balance(funded.address, bank) == before - amount
    assert node.bank_balance(to, bank) == amount
    assert node.next_nonce(funded.public_key) == nonce + 1
    # The node indexed it under the hash we computed.
    rec = node.get_tx(done.tx_hash)
    assert rec.height == done.height and rec.result.code == 0


def test_bad_signature_is_rejected_with_the_nodes_message(node, chain_id, funded, bank):
    nonce = node.next_nonce(funded.public_key)
    tx = node.sign(funded, [Execute(bank, bank_transfer_msg(Keypair.generate().address, 5))])
    bad = bytearray(tx.signature)
    bad[10] ^= 1
    tx.signature = bytes(bad)
    resp = node.broadcast(tx.to_bytes(), commit=True)
    assert resp.check_code == BAD_SIGNATURE, resp
    assert resp.log == f"signature does not verify for tx on chain {chain_id}", resp.log
    with pytest.raises(TxRejected) as e:
        node.submit(tx)
    assert e.value.code == BAD_SIGNATURE and "signature does not verify" in e.value.log
    # A valid signature for another purpose (a consensus vote of the same bytes) is no tx signature either.
    body = TxBody(chain_id, funded.public_key, nonce, TRANSFER_FUEL, 0, [Execute(bank, bank_transfer_msg(bank, 5))])
    vote_sig = funded.sign(signing_bytes(chain_id, "vote", body.encode()))
    with pytest.raises(TxRejected, match="signature does not verify"):
        node.submit(Tx(body, vote_sig))
    # Nothing executed: the nonce is unchanged.
    assert node.next_nonce(funded.public_key) == nonce


def test_balance_proof_verifies_and_fails_when_a_byte_is_flipped(node, funded, bank):
    balance, p = node.proven_bank_balance(funded.address, bank)
    assert p.value is not None and balance > 0
    # The proven state value is what the bank's own query answers at the same time.
    assert balance == node.bank_balance(funded.address, bank)
    # The root the proof was checked against is the app hash the validators put in the next block's header.
    assert node.signed_app_hash(p.height) == p.root
    verify_proof(p.root, p.key, p.value, p.proof)
    for i in range(len(p.value)):
        flipped = bytearray(p.value)
        flipped[i] ^= 0x01
        with pytest.raises(ProofError, match="value mismatch"):
            verify_proof(p.root, p.key, bytes(flipped), p.proof)
    # A tampered proof or root fails too.
    if p.proof.siblings:
        sib = bytearray(p.proof.siblings[0])
        sib[0] ^= 0x80
        tampered = Proof([bytes(sib)] + p.proof.siblings[1:], p.proof.leaf)
        with pytest.raises(ProofError, match="root mismatch"):
            verify_proof(p.root, p.key, p.value, tampered)
    root = bytearray(p.root)
    root[31] ^= 1
    with pytest.raises(ProofError, match="root mismatch"):
        verify_proof(bytes(root), p.key, p.value, p.proof)
    # The same proof does not prove the key absent.
    with pytest.raises(ProofError, match="claimed absent"):
        verify_proof(p.root, p.key, None, p.proof)


def test_an_empty_account_is_proven_absent(node, bank):
    nobody = Keypair.generate().address
    balance, p = node.proven_bank_balance(nobody, bank)
    assert balance == 0 and p.value is None
    with pytest.raises(ProofError):
        verify_proof(p.root, p.key, (1).to_bytes(16, "little"), p.proof)


def test_module_execute_call(node, funded, bank):
    # Another message of the bank module: Burn destroys the caller's tokens and lowers the supply.
    supply = decode_u128(node.module_query(bank, bank_total_supply_query()))
    before = node.bank_balance(funded.address, bank)
    done = node.execute(funded, bank, bank_burn_msg(10))
    assert [e.kind for e in done.result.events] == ["burn"]
    attrs = {a.key: a.value for a in done.result.events[0].attributes}
    assert attrs["from"] == funded.address.hex() and attrs["amount"] == "10"
    assert node.bank_balance(funded.address, bank) == before - 10
    assert decode_u128(node.module_query(bank, bank_total_supply_query())) == supply - 10


def test_a_failing_module_call_reports_the_modules_error(node, funded, bank):
    # More than the devnet user holds: the tx is valid and finalized (on its quota), the bank refuses, and its
    # nonce is spent.
    nonce = node.next_nonce(funded.public_key)
    too_much = node.bank_balance(funded.address, bank) + 1
    with pytest.raises(TxFailed) as e:
        node.transfer(funded, Keypair.generate().address, too_much, bank)
    assert e.value.height >= 1
    assert "insufficient funds" in e.value.log, e.value.log
    assert node.next_nonce(funded.public_key) == nonce + 1


def test_a_fresh_key_without_tokens_or_quota_is_refused_before_the_mempool(node, bank):
    # The small template is fee-less with quotas for its members only: a key anyone can make gets nothing.
    poor = Keypair.generate()
    with pytest.raises(TxRejected) as e:
        node.transfer(poor, Keypair.generate().address, 1, bank)
    assert e.value.code == 18, e.value.log
    assert "needs a quota" in e.value.log, e.value.log
    with pytest.raises(TxRejected) as e:
        node.submit(node.sign(poor, [Execute(bank, bank_transfer_msg(poor.address, 1))], price=1))
    assert e.value.code == 15, e.value.log
    assert "has 0, needs 5000000" in e.value.log, e.value.log
    assert node.next_nonce(poor.public_key) == 0
