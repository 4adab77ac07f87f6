//! Module lifecycle through txs: upload, instantiate, execute, call, migrate, permissions, queries.

use borsh::BorshDeserialize;
use cairn_abci::QueryRequest;
use cairn_execution::{InstanceInfo, codes};
use cairn_primitives::{Address, Hash, Height, Message};
use serde_json::json;

use crate::common::*;

#[test]
fn upload_instantiate_execute_then_migrate_by_admin() {
    let mut chain = Chain::new(json!({}));
    let admin = key(1);
    let v1 = chain.upload(&admin, &counter());
    let addr = chain.instantiate(&admin, v1, "counter", Some(admin.public().into()));
    let r = chain.exec(&key(2), addr, vec![0]);
    assert_eq!(u64::from_le_bytes(output(&r).try_into().expect("8")), 1);
    assert_eq!(r.events[0].kind, "incr");
    assert_eq!(r.events[0].attributes[0].value, addr.to_hex(), "events name their module");
    assert!(r.gas_used > 0 && r.gas_used < FUEL);

    let v2 = chain.upload(&admin, &counter_v2());
    assert_ne!(v1, v2);
    let r = chain.send(&admin, vec![Message::Migrate { contract: addr, code_id: v2, msg: vec![] }]);
    assert!(r.is_ok(), "{}", r.log);
    let info = chain.query(&format!("instance/{}", addr.to_hex()), vec![]);
    let info: InstanceInfo = serde_json::from_slice(&info.value).expect("json");
    assert_eq!(info.code_id, v2);
    assert_eq!(counter_value(&chain, addr), 1, "state survives migration");
    // The new code's migrate wrote "migrated" = "yes" in the module's storage.
    let mut key = vec![b'm'];
    key.extend_from_slice(&addr.0);
    key.extend_from_slice(b"migrated");
    let r = chain.query(&format!("store/{}", hex::encode(&key)), vec![]);
    assert_eq!(r.value, b"yes");
}

#[test]
fn migrate_by_non_admin_is_rejected() {
    let mut chain = Chain::new(json!({}));
    let admin = key(1);
    let v1 = chain.upload(&admin, &counter());
    let addr = chain.instantiate(&admin, v1, "counter", Some(admin.public().into()));
    let v2 = chain.upload(&admin, &counter_v2());
    let r = chain.send(&key(2), vec![Message::Migrate { contract: addr, code_id: v2, msg: vec![] }]);
    assert_eq!(r.code, codes::UNAUTHORIZED, "{}", r.log);
    assert!(r.log.contains("only the admin"), "{}", r.log);
    // And an instance without admin cannot migrate at all.
    let fixed = chain.instantiate(&admin, v1, "fixed", None);
    let r = chain.send(&admin, vec![Message::Migrate { contract: fixed, code_id: v2, msg: vec![] }]);
    assert_eq!(r.code, codes::UNAUTHORIZED);
    assert!(r.log.contains("no admin"), "{}", r.log);
}

#[test]
fn upload_without_permission_is_rejected() {
    let allowed = key(1);
    let mut chain = Chain::new(json!({
        "upload_permission": { "allow_list": [hex::encode(allowed.public().0)] }
    }));
    let r = chain.send(&key(2), vec![Message::Upload { code: counter() }]);
    assert_eq!(r.code, codes::UNAUTHORIZED, "{}", r.log);
    assert!(r.log.contains("allow-list"), "{}", r.log);
    chain.upload(&allowed, &counter());

    let mut governed = Chain::new(json!({ "upload_permission": "governance" }));
    let r = governed.send(&allowed, vec![Message::Upload { code: counter() }]);
    assert_eq!(r.code, codes::UNAUTHORIZED);
    assert!(r.log.contains("governed"), "{}", r.log);
}

#[test]
fn labels_are_unique_and_resolve() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let addr = chain.instantiate(&k, id, "one", None);
    let r = chain
        .send(&k, vec![Message::Instantiate { code_id: id, label: "one".into(), admin: None, msg: vec![] }]);
    assert!(r.log.contains("taken"), "{}", r.log);
    let r = chain.query("label/one", vec![]);
    assert_eq!(r.value, addr.0.to_vec());
    let future = chain
        .app
        .query_sync(QueryRequest { path: "label/one".into(), data: vec![], height: Height(99), prove: false })
        .expect("query");
    assert_eq!(future.code, codes::INVALID);
    assert!(future.log.contains("not committed yet"), "{}", future.log);
    assert_eq!(chain.query("label/two", vec![]).code, codes::NOT_FOUND);
    // The second instance by the same creator gets the next counter.
    let second = chain.instantiate(&k, id, "two", None);
    assert_eq!(second, Address::for_instance(&id, &k.public().into(), 1));
}

#[test]
fn a_tx_is_atomic_across_messages() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let addr = chain.instantiate(&k, id, "c", None);
    let r = chain.send(
        &k,
        vec![
            Message::Execute { contract: addr, msg: vec![0] },
            Message::Execute { contract: addr, msg: vec![7] },
        ],
    );
    assert!(r.log.starts_with("message 1 failed"), "{}", r.log);
    assert_eq!(counter_value(&chain, addr), 0, "the first message's write is rolled back too");
    // The nonce was spent anyway.
    let n = chain.query(&format!("nonce/{}", k.public().to_hex()), vec![]);
    assert_eq!(u64::try_from_slice(&n.value).expect("u64"), 3);
}

#[test]
fn calls_between_modules_and_reentrancy() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let a = chain.instantiate(&k, id, "a", None);
    let b = chain.instantiate(&k, id, "b", None);
    // a calls b's increment.
    let mut msg = vec![6];
    msg.extend_from_slice(&b.0);
    let out = output(&chain.exec(&k, a, msg));
    assert_eq!(i64::from_le_bytes(out[..8].try_into().expect("8")), 8);
    assert_eq!(counter_value(&chain, b), 1);
    assert_eq!(counter_value(&chain, a), 0);
    // a -> b -> a is refused as reentrant; b sees the failure.
    let mut msg = vec![6];
    msg.extend_from_slice(&b.0);
    msg.push(6);
    msg.extend_from_slice(&a.0);
    let out = output(&chain.exec(&k, a, msg));
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(&format!("reentrant call to {}", a.to_hex())), "{text}");
    // A failing callee's writes are dropped but the caller goes on: b runs op 7 (write + abort).
    let mut msg = vec![6];
    msg.extend_from_slice(&b.0);
    msg.push(7);
    let out = output(&chain.exec(&k, a, msg));
    assert!(i64::from_le_bytes(out[..8].try_into().expect("8")) < 0);
    assert!(String::from_utf8_lossy(&out[8..]).contains("VERSION"));
    assert_eq!(counter_value(&chain, b), 1);
}

#[test]
fn storage_is_private_and_iterable() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let a = chain.instantiate(&k, id, "a", None);
    let b = chain.instantiate(&k, id, "b", None);
    for name in [&b"k1"[..], b"k2", b"k3"] {
        let mut msg = vec![10];
        msg.extend_from_slice(name);
        assert!(chain.exec(&k, a, msg).is_ok());
    }
    let count = |chain: &mut Chain, who| {
        u32::from_le_bytes(output(&chain.exec(&k, who, vec![8])).try_into().expect("4"))
    };
    assert_eq!(count(&mut chain, a), 4, "count + k1..k3");
    assert_eq!(count(&mut chain, b), 1, "b sees only its own count");
}

#[test]
fn env_reports_the_block_and_the_caller() {
    #[derive(BorshDeserialize)]
    struct Env {
        chain_id: String,
        height: u64,
        time_ms: u64,
        contract: [u8; 32],
        caller: [u8; 32],
        origin: [u8; 32],
    }
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let a = chain.instantiate(&k, id, "a", None);
    let r = chain.exec(&k, a, vec![9]);
    let env = Env::try_from_slice(&output(&r)).expect("env");
    assert_eq!(env.chain_id, CHAIN);
    assert_eq!(env.height, chain.height);
    assert_eq!(env.time_ms, 1_000 + chain.height * 1_000);
    assert_eq!(env.contract, a.0);
    assert_eq!(env.caller, k.public().0);
    assert_eq!(env.origin, k.public().0);
}

#[test]
fn store_queries_carry_proofs_that_verify() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut chain = Chain::open(dir.path(), json!({}));
    let k = key(1);
    chain.upload(&k, &counter());
    let info = chain.app.info_sync();
    let nonce_key = {
        let mut v = vec![b'n'];
        v.extend_from_slice(&k.public().0);
        v
    };
    let r = chain
        .app
        .query_sync(QueryRequest {
            path: format!("store/{}", hex::encode(&nonce_key)),
            data: vec![],
            height: Height(0),
            prove: true,
        })
        .expect("query");
    assert_eq!(r.value, borsh::to_vec(&1u64).expect("u64"));
    let proof = cairn_state::Proof::from_bytes(&r.proof).expect("proof");
    cairn_state::verify_proof(&info.last_app_hash, &nonce_key, Some(&r.value), &proof).expect("verifies");
    assert!(cairn_state::verify_proof(&Hash::digest(b"other"), &nonce_key, Some(&r.value), &proof).is_err());
}

#[test]
fn a_tx_of_many_messages_reuses_no_stale_instances() {
    // 64 messages (the maximum), each instantiating the module: the host frees each message's instances.
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let a = chain.instantiate(&k, id, "a", None);
    let msgs = (0..64).map(|_| Message::Execute { contract: a, msg: vec![0] }).collect();
    let r = chain.send(&k, msgs);
    assert!(r.is_ok(), "{}", r.log);
    assert_eq!(counter_value(&chain, a), 64);
}

#[test]
fn end_block_hooks_run_every_block_and_any_sybil_module_drives_validators() {
    let code = wat("sybil.wat");
    let pk = key(7).public();
    let other = key(8).public();
    let init = borsh::to_vec(&vec![(pk.0, 5u64), (other.0, 5u64)]).expect("init");
    let mut chain = Chain {
        app: cairn_execution::ExecApp::in_memory(cairn_execution::ExecConfig::default()).expect("app"),
        chain_id: cairn_primitives::ChainId::new(CHAIN).expect("id"),
        height: 0,
        nonces: Default::default(),
        price: 0,
        proposer: Default::default(),
    };
    let init = chain
        .init(&json!({
            "modules": [{ "label": "sybil", "wasm_hex": hex::encode(&code), "init_msg_hex": hex::encode(init) }],
            "sybil_module": "sybil",
        }))
        .expect("init");
    let mut genesis_set = vec![
        cairn_primitives::Validator { public_key: pk, power: 5 },
        cairn_primitives::Validator { public_key: other, power: 5 },
    ];
    genesis_set.sort_by_key(|v| v.public_key);
    let mut got = init.validators.clone();
    got.sort_by_key(|v| v.public_key);
    assert_eq!(got, genesis_set);
    let addr = genesis_instance(&code, 0);
    for _ in 0..3 {
        assert!(chain.block(vec![]).validator_updates.is_empty());
    }
    let blocks = chain.query(&format!("module/{}", addr.to_hex()), vec![]);
    assert_eq!(u64::try_from_slice(&blocks.value).expect("u64"), 3, "end_block ran once per block");
    let update = borsh::to_vec(&vec![(pk.0, 0u64)]).expect("update");
    let tx = chain.tx(&key(1), vec![Message::Execute { contract: addr, msg: update }]);
    let resp = chain.block(vec![tx]);
    assert!(resp.tx_results[0].is_ok());
    assert_eq!(resp.validator_updates, vec![cairn_primitives::Validator { public_key: pk, power: 0 }]);
}

#[test]
fn call_depth_is_limited_to_eight() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let id = chain.upload(&k, &counter());
    let addrs: Vec<Address> = (0..9).map(|i| chain.instantiate(&k, id, &format!("m{i}"), None)).collect();
    // m0 calls m1 calls m2 ... : the message for m0 is 6‖m1‖6‖m2‖…‖6‖m_last.
    let chain_msg = |n: usize| {
        let mut msg = Vec::new();
        for a in &addrs[1..n] {
            msg.push(6);
            msg.extend_from_slice(&a.0);
        }
        msg
    };
    // Depth 8 (m0..m7) works: the innermost callee runs the default message (increment).
    let out = output(&chain.exec(&k, addrs[0], chain_msg(8)));
    assert!(!String::from_utf8_lossy(&out).contains("depth"));
    assert_eq!(counter_value(&chain, addrs[7]), 1);
    // Depth 9 is refused at the 9th module; the error travels back up as data.
    let out = output(&chain.exec(&k, addrs[0], chain_msg(9)));
    assert!(String::from_utf8_lossy(&out).contains("call depth limit of 8 reached"));
    assert_eq!(counter_value(&chain, addrs[8]), 0);
}
