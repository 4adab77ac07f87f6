//! The test vectors of `docs/TX_FORMAT.md`, rebuilt with this crate and compared with the document.
//!
//! The test reads every ```` ```vector ```` block of the document, takes its inputs (seed, chain id, nonce, …),
//! builds the key / address / tx with `cairn_primitives`, and asserts that every output line of the block
//! (public key, body bytes, signing bytes, signature, tx bytes, tx hash, …) is exactly what this crate produces.
//! So the document and the code cannot drift apart: change the encoding and this test names the line that moved
//! and prints the block as the code now computes it.

use std::collections::BTreeMap;

use cairn_primitives::{Address, ChainId, Hash, Keypair, Message, Tx, TxBody};

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/TX_FORMAT.md"));

/// One ```` ```vector ```` block: its `key = value` lines, in order.
struct Vector {
    line: usize,
    fields: Vec<(String, String)>,
}

impl Vector {
    fn map(&self) -> BTreeMap<&str, &str> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    fn get(&self, key: &str) -> &str {
        self.map().get(key).copied().unwrap_or_else(|| {
            panic!("vector at docs/TX_FORMAT.md line {} has no `{key} = …` line", self.line)
        })
    }

    fn name(&self) -> String {
        format!("vector {:?} (docs/TX_FORMAT.md line {})", self.get("name"), self.line)
    }
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut current: Option<Vector> = None;
    for (i, line) in DOC.lines().enumerate() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```vector" => current = Some(Vector { line: i + 1, fields: Vec::new() }),
            None => {}
            Some(_) if trimmed == "```" => out.extend(current.take()),
            Some(v) => {
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let (k, val) = trimmed
                    .split_once('=')
                    .unwrap_or_else(|| panic!("docs/TX_FORMAT.md line {}: expected `key = value`", i + 1));
                v.fields.push((k.trim().to_string(), val.trim().to_string()));
            }
        }
    }
    assert!(current.is_none(), "docs/TX_FORMAT.md: a ```vector block is not closed");
    out
}

fn hex32(v: &Vector, key: &str) -> [u8; 32] {
    let bytes = hex::decode(v.get(key)).unwrap_or_else(|e| panic!("{}: `{key}` is not hex: {e}", v.name()));
    bytes.try_into().unwrap_or_else(|_| panic!("{}: `{key}` must be 32 bytes", v.name()))
}

fn num<T: std::str::FromStr>(v: &Vector, key: &str) -> T {
    v.get(key).parse().unwrap_or_else(|_| panic!("{}: `{key}` is not a number", v.name()))
}

/// Borsh of the bank's `ExecuteMsg::Transfer { to, amount }` (variant 0), written out by hand as the document
/// specifies it (cairn-primitives cannot depend on the bank module; `framework/cli/tests/python_client.rs`
/// checks this against the bank's own type).
fn bank_transfer_msg(to: &[u8; 32], amount: u128) -> Vec<u8> {
    let mut m = vec![0u8];
    m.extend_from_slice(to);
    m.extend_from_slice(&amount.to_le_bytes());
    m
}

/// The signed bytes: each of `cairn/v1`, chain id, purpose and message prefixed by its length as u64 LE.
fn signing_bytes(chain_id: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [b"cairn/v1".as_slice(), chain_id.as_bytes(), b"tx", body] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Rebuilds a vector's outputs from its inputs: `(key, computed value)` for every line the kind defines.
fn compute(v: &Vector) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, val: String| out.push((k.to_string(), val));
    match v.get("kind") {
        "key" => {
            let seed = if v.map().contains_key("derive_label") {
                let s = Hash::digest_parts(&[
                    v.get("derive_label").as_bytes(),
                    &num::<u64>(v, "derive_index").to_le_bytes(),
                ])
                .0;
                put("seed", hex::encode(s));
                s
            } else {
                hex32(v, "seed")
            };
            let key = Keypair::from_seed(seed);
            put("public_key", key.public().to_hex());
            put("address", Address::from(key.public()).to_hex());
        }
        "instance_address" => {
            let code = hex::decode(v.get("code")).expect("code hex");
            let code_id = Hash::digest(&code);
            put("code_id", code_id.to_hex());
            let creator = Address(hex32(v, "creator"));
            put("address", Address::for_instance(&code_id, &creator, num(v, "counter")).to_hex());
        }
        kind @ ("transfer" | "execute") => {
            let key = Keypair::from_seed(hex32(v, "seed"));
            let chain_id: ChainId = v.get("chain_id").parse().expect("valid chain id");
            let contract = Address(hex32(v, "contract"));
            let msg = if kind == "transfer" {
                let m = bank_transfer_msg(&hex32(v, "to"), num(v, "amount"));
                put("msg", hex::encode(&m));
                m
            } else {
                hex::decode(v.get("msg")).expect("msg hex")
            };
            let body = TxBody {
                chain_id: chain_id.clone(),
                sender: key.public(),
                nonce: num(v, "nonce"),
                fuel_limit: num(v, "fuel_limit"),
                price: num(v, "price"),
                messages: vec![Message::Execute { contract, msg }],
            };
            put("public_key", key.public().to_hex());
            let body_bytes = cairn_primitives::encode(&body);
            put("body", hex::encode(&body_bytes));
            put("signing_bytes", hex::encode(signing_bytes(chain_id.as_str(), &body_bytes)));
            let tx = Tx::sign(body, &key);
            tx.verify().expect("the vector's tx verifies");
            put("signature", hex::encode(tx.signature.0));
            // The document's layout claims: the tx is the body followed by the 64 signature bytes.
            let bytes = tx.to_bytes();
            assert_eq!(bytes[..body_bytes.len()], body_bytes[..], "tx bytes start with the body bytes");
            assert_eq!(bytes.len(), body_bytes.len() + 64);
            put("tx", hex::encode(&bytes));
            put("tx_hash", tx.hash().to_hex());
            assert_eq!(tx.hash(), Hash::digest(&bytes), "tx hash = blake3(tx bytes)");
            // And the bytes decode back to the same tx.
            assert_eq!(Tx::from_bytes(&bytes).expect("vector tx decodes"), tx);
        }
        other => panic!("{}: unknown kind {other:?}", v.name()),
    }
    out
}

#[test]
fn document_vectors_match_the_code() {
    let vectors = vectors();
    let kinds: Vec<&str> = vectors.iter().map(|v| v.get("kind")).collect();
    for needed in ["key", "instance_address", "transfer", "execute"] {
        assert!(kinds.contains(&needed), "docs/TX_FORMAT.md has no vector of kind {needed}: {kinds:?}");
    }
    let mut failures = Vec::new();
    for v in &vectors {
        let computed = compute(v);
        let doc = v.map();
        let mut bad = Vec::new();
        for (k, val) in &computed {
            match doc.get(k.as_str()) {
                Some(d) if d == val => {}
                Some(d) => {
                    bad.push(format!("  {k}: the document says\n    {d}\n  the code computes\n    {val}"))
                }
                None => bad.push(format!("  {k}: missing from the document (the code computes {val})")),
            }
        }
        if !bad.is_empty() {
            let block: Vec<String> = v
                .fields
                .iter()
                .filter(|(k, _)| !computed.iter().any(|(c, _)| c == k))
                .map(|(k, val)| format!("{k:<13} = {val}"))
                .chain(computed.iter().map(|(k, val)| format!("{k:<13} = {val}")))
                .collect();
            failures.push(format!(
                "{}:\n{}\nthe block as the code computes it:\n```vector\n{}\n```",
                v.name(),
                bad.join("\n"),
                block.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "docs/TX_FORMAT.md disagrees with cairn-primitives:\n\n{}",
        failures.join("\n\n")
    );
}

/// The parser itself: a vector whose output was altered is caught (so the test above cannot pass vacuously).
#[test]
fn an_altered_vector_is_caught() {
    let vectors = vectors();
    let v = vectors.iter().find(|v| v.get("kind") == "transfer").expect("a transfer vector");
    let computed = compute(v);
    let tx_hex = &computed.iter().find(|(k, _)| k == "tx").expect("tx computed").1;
    assert_eq!(v.get("tx"), tx_hex);
    // Flip one nibble of the documented nonce: the recomputed bytes must differ.
    let mut altered = Vector { line: v.line, fields: v.fields.clone() };
    for (k, val) in &mut altered.fields {
        if k == "nonce" {
            *val = (val.parse::<u64>().unwrap() + 1).to_string();
        }
    }
    let recomputed = compute(&altered);
    assert_ne!(&recomputed.iter().find(|(k, _)| k == "tx").unwrap().1, tx_hex);
}
