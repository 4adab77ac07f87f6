//! Property tests: canonical encodings round-trip, signatures break on any change, quorum math is exact.

use cairn_primitives::*;
use proptest::prelude::*;

fn chain() -> ChainId {
    "prop-chain".parse().unwrap()
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|code| Message::Upload { code }),
        (any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 0..32))
            .prop_map(|(a, msg)| Message::Execute { contract: Address(a), msg }),
        (any::<[u8; 32]>(), "[a-z]{0,8}", proptest::option::of(any::<[u8; 32]>())).prop_map(
            |(c, label, admin)| Message::Instantiate {
                code_id: Hash(c),
                label,
                admin: admin.map(Address),
                msg: vec![1, 2]
            }
        ),
    ]
}

fn arb_body() -> impl Strategy<Value = TxBody> {
    (any::<u64>(), any::<u64>(), any::<u128>(), proptest::collection::vec(arb_message(), 0..4)).prop_map(
        |(nonce, fuel_limit, price, messages)| TxBody {
            chain_id: chain(),
            sender: Keypair::derived("prop", 1).public(),
            nonce,
            fuel_limit,
            price,
            messages,
        },
    )
}

proptest! {
    #[test]
    fn tx_round_trips(body in arb_body()) {
        let tx = Tx::sign(body, &Keypair::derived("prop", 1));
        let bytes = tx.to_bytes();
        let back = Tx::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &tx);
        prop_assert!(back.verify().is_ok());
    }

    #[test]
    fn block_round_trips(txs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..10),
                         height in any::<u64>(), time_ms in any::<u64>()) {
        let header = Header {
            chain_id: chain(),
            height: Height(height),
            parent: Hash::digest(b"p"),
            time_ms,
            proposer: Keypair::derived("prop", 2).public(),
            txs_root: Block::txs_root(&txs),
            app_hash: Hash::digest(b"a"),
            validators_hash: Hash::ZERO,
            last_commit_hash: Hash::ZERO,
            evidence_root: Hash::ZERO,
        };
        let block = Block { header, txs, last_commit: Vec::new(), evidence: Vec::new() };
        let back: Block = decode(&encode(&block), 1 << 20).unwrap();
        prop_assert_eq!(back.id(), block.id());
        prop_assert!(back.txs_match_header());
        prop_assert_eq!(back, block);
    }

    #[test]
    fn any_changed_byte_breaks_the_signature(msg in proptest::collection::vec(any::<u8>(), 1..100),
                                             idx in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let k = Keypair::derived("prop", 3);
        let sig = k.sign(&chain(), Purpose::Vote, &msg);
        prop_assert!(k.public().verify(&chain(), Purpose::Vote, &msg, &sig).is_ok());
        let mut bad = msg.clone();
        let i = idx.index(bad.len());
        bad[i] ^= flip;
        prop_assert!(k.public().verify(&chain(), Purpose::Vote, &bad, &sig).is_err());
        let mut bad_sig = sig;
        bad_sig.0[i % 64] ^= flip;
        prop_assert!(k.public().verify(&chain(), Purpose::Vote, &msg, &bad_sig).is_err());
        // Same bytes, another purpose or chain: never valid.
        prop_assert!(k.public().verify(&chain(), Purpose::Tx, &msg, &sig).is_err());
        prop_assert!(k.public().verify(&"other".parse().unwrap(), Purpose::Vote, &msg, &sig).is_err());
    }

    #[test]
    fn quorum_math_is_exact(weights in proptest::collection::vec(1u64..=u64::MAX / 200_000, 1..50)) {
        let set = ValidatorSet::new(
            weights.iter().enumerate()
                .map(|(i, &power)| Validator { public_key: Keypair::derived("q", i as u64).public(), power })
                .collect(),
        ).unwrap();
        let t = set.total_power() as u128;
        let q = set.quorum_threshold() as u128;
        let f = set.max_faulty() as u128;
        // q is the least weight with 3q > 2T.
        prop_assert!(3 * q > 2 * t);
        prop_assert!(3 * (q - 1) <= 2 * t);
        prop_assert!(set.is_quorum(q as u64) && !set.is_quorum((q - 1) as u64));
        // f is the most weight with 3f < T.
        prop_assert!(3 * f < t);
        prop_assert!(3 * (f + 1) >= t);
        // Two quorums intersect in more than f.
        prop_assert!(2 * q - t > f);
    }

    #[test]
    fn truncated_or_padded_bytes_are_rejected(body in arb_body(), cut in 1usize..10) {
        let bytes = Tx::sign(body, &Keypair::derived("prop", 1)).to_bytes();
        prop_assert!(Tx::from_bytes(&bytes[..bytes.len().saturating_sub(cut)]).is_err());
        let mut padded = bytes.clone();
        padded.push(0);
        prop_assert!(Tx::from_bytes(&padded).is_err());
    }
}

#[test]
fn validator_set_rejects_bad_input() {
    let k = Keypair::derived("v", 0).public();
    assert!(ValidatorSet::new(vec![]).is_err());
    assert!(ValidatorSet::new(vec![Validator { public_key: k, power: 0 }]).is_err());
    let dup = vec![Validator { public_key: k, power: 1 }, Validator { public_key: k, power: 2 }];
    assert!(ValidatorSet::new(dup).is_err());
    let over = vec![
        Validator { public_key: k, power: u64::MAX },
        Validator { public_key: Keypair::derived("v", 1).public(), power: 1 },
    ];
    assert!(ValidatorSet::new(over).is_err());
}

#[test]
fn updates_add_replace_and_remove() {
    let keys: Vec<_> = (0..3).map(|i| Keypair::derived("v", i).public()).collect();
    let set =
        ValidatorSet::new(keys.iter().map(|&k| Validator { public_key: k, power: 10 }).collect()).unwrap();
    let next = set
        .apply_updates(&[
            Validator { public_key: keys[0], power: 0 },
            Validator { public_key: keys[1], power: 25 },
            Validator { public_key: Keypair::derived("v", 9).public(), power: 5 },
        ])
        .unwrap();
    assert_eq!(next.len(), 3);
    assert_eq!(next.total_power(), 40);
    assert!(!next.contains(&keys[0]));
    assert_eq!(next.power_of(&keys[1]), 25);
    assert_ne!(next.hash(), set.hash());
}

#[test]
fn bad_chain_ids_say_why() {
    assert!(ChainId::new("").is_err());
    let err = ChainId::new("has space").unwrap_err().to_string();
    assert!(err.contains("only letters"), "{err}");
    assert!(ChainId::new("a".repeat(65)).is_err());
    assert!(ChainId::new("cairn-devnet_1.0").is_ok());
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let err = decode::<Block>(&[0u8; 100], 10).unwrap_err();
    assert_eq!(err, Error::TooLarge { len: 100, max: 10 });
}
