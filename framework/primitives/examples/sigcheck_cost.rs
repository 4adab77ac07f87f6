//! What a tx signature check costs, alone and in batches (`cairn_primitives::sigcheck`), beside ed25519-dalek's
//! `verify_strict` (the rule txs used before). Prints one JSON object.
//!
//! `cargo run --release -p cairn-primitives --example sigcheck_cost -- [SIGNATURES] [SENDERS]`

use std::time::Instant;

use cairn_primitives::sigcheck::{Signed, verify_batch, verify_one};
use cairn_primitives::{ChainId, Keypair, PublicKey, Purpose, Signature};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let n = args.next().unwrap_or(4096);
    let senders = args.next().unwrap_or(64).max(1);
    let chain = ChainId::new("bench").expect("chain id");
    let keys: Vec<Keypair> = (0..senders as u64).map(|i| Keypair::derived("sigcheck-cost", i)).collect();
    let signed: Vec<(PublicKey, Vec<u8>, Signature)> = (0..n)
        .map(|i| {
            let key = &keys[i % senders];
            let message = format!("a tx body of about the size of a bank transfer: {i:>64}").into_bytes();
            let signature = key.sign(&chain, Purpose::Tx, &message);
            (key.public(), message, signature)
        })
        .collect();
    let items: Vec<Signed<'_>> = signed
        .iter()
        .map(|(key, message, signature)| Signed {
            key,
            chain_id: &chain,
            purpose: Purpose::Tx,
            message,
            signature,
        })
        .collect();
    let per_sig = |start: Instant| start.elapsed().as_secs_f64() * 1e6 / n as f64;

    let start = Instant::now();
    for (key, message, signature) in &signed {
        key.verify_strict(&chain, Purpose::Tx, message, signature).expect("valid");
    }
    let strict = per_sig(start);
    let start = Instant::now();
    for item in &items {
        verify_one(item).expect("valid");
    }
    let one = per_sig(start);
    let mut batches = Vec::new();
    for size in [4usize, 16, 64, 256, 1024] {
        let start = Instant::now();
        for chunk in items.chunks(size) {
            assert!(verify_batch(chunk).iter().all(Result::is_ok));
        }
        batches.push(format!("\"{size}\":{:.1}", per_sig(start)));
    }
    println!(
        "{{\"signatures\":{n},\"senders\":{senders},\"us_per_signature\":{{\"dalek_verify_strict\":{strict:.1},\
         \"verify_one\":{one:.1},\"batch\":{{{}}}}}}}",
        batches.join(",")
    );
}
