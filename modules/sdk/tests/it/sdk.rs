//! The SDK's behaviour through the mock host: storage, iteration, events, env, calls, crypto, and the rules the
//! real host enforces (rollback on failure, read-only queries, size limits).

use cairn_sdk::testing::{MockHost, addr};
use cairn_sdk::{Env, Error, Event, Item, Map, Raw, bail, blake3, call, ed25519_verify, env, hex};

const COUNTER: Item<u64> = Item::new(b"counter");
const NUMBERS: Map<u64, String> = Map::new(b"n");
const SHORT: Map<Vec<u8>, u8> = Map::new(b"a");
const LONG: Map<Vec<u8>, u8> = Map::new(b"ab");
const PAIRS: Map<([u8; 2], String), u32> = Map::new(b"pairs");

/// Run `f` as an `execute` entry point whose message is ignored.
fn exec<T: borsh::BorshSerialize>(
    host: &MockHost,
    f: impl FnOnce(&Env) -> Result<T, Error>,
) -> Result<Vec<u8>, String> {
    host.execute(|env: &Env, (): ()| f(env), &())
}

#[test]
fn item_round_trip_and_absence() {
    let host = MockHost::new();
    exec(&host, |_| {
        assert_eq!(COUNTER.may_load()?, None);
        assert!(!COUNTER.exists());
        assert_eq!(COUNTER.load().unwrap_err().message(), "nothing stored at key \"counter\"");
        COUNTER.save(&7)?;
        assert_eq!(COUNTER.load()?, 7);
        assert!(COUNTER.exists());
        COUNTER.remove();
        assert_eq!(COUNTER.may_load()?, None);
        COUNTER.save(&9)
    })
    .unwrap();
    assert_eq!(
        host.raw_get(b"counter"),
        Some(9u64.to_le_bytes().to_vec()),
        "an item lives at its key, borsh"
    );
}

#[test]
fn map_keys_are_namespaced_with_a_length_prefix() {
    let host = MockHost::new();
    exec(&host, |_| {
        SHORT.save(&b"b".to_vec(), &1)?;
        LONG.save(&Vec::new(), &2)?;
        Ok(())
    })
    .unwrap();
    // "a" ‖ "b" and "ab" ‖ "" would collide without the length prefix.
    assert_eq!(host.raw_get(&[0, 1, b'a', b'b']), Some(vec![1]));
    assert_eq!(host.raw_get(&[0, 2, b'a', b'b']), Some(vec![2]));
    exec(&host, |_| {
        assert_eq!(SHORT.iter().collect::<Result<Vec<_>, _>>()?, vec![(b"b".to_vec(), 1)]);
        assert_eq!(LONG.iter().collect::<Result<Vec<_>, _>>()?, vec![(Vec::new(), 2)]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn map_iterates_in_numeric_key_order_within_bounds() {
    let host = MockHost::new();
    exec(&host, |_| {
        for n in [300u64, 2, 1, 256, 70_000] {
            NUMBERS.save(&n, &n.to_string())?;
        }
        COUNTER.save(&1)?; // outside the map: never iterated
        let all: Vec<u64> = NUMBERS.iter().map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
        assert_eq!(all, vec![1, 2, 256, 300, 70_000]);
        let some: Vec<(u64, String)> = NUMBERS.range(Some(&2), Some(&300)).collect::<Result<_, _>>()?;
        assert_eq!(some, vec![(2, "2".into()), (256, "256".into())]);
        let tail: Vec<u64> =
            NUMBERS.range(Some(&257), None).map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
        assert_eq!(tail, vec![300, 70_000]);
        assert!(NUMBERS.has(&256));
        assert_eq!(NUMBERS.load(&3).unwrap_err().message(), "nothing stored at key 0x00016e0000000000000003");
        Ok(())
    })
    .unwrap();
}

#[test]
fn map_may_change_while_iterating_and_clear_counts() {
    let host = MockHost::new();
    exec(&host, |_| {
        for n in 0..10u64 {
            NUMBERS.save(&n, &String::new())?;
        }
        let mut seen = Vec::new();
        for entry in NUMBERS.iter() {
            let (k, _) = entry?;
            seen.push(k);
            NUMBERS.remove(&(k + 1)); // removed ahead: skipped
        }
        assert_eq!(seen, vec![0, 2, 4, 6, 8]);
        assert_eq!(NUMBERS.clear()?, 5);
        assert_eq!(NUMBERS.iter().count(), 0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn tuple_keys_order_by_first_then_second() {
    let host = MockHost::new();
    exec(&host, |_| {
        PAIRS.save(&([0, 2], "a".into()), &1)?;
        PAIRS.save(&([0, 1], "zz".into()), &2)?;
        PAIRS.save(&([0, 1], "b".into()), &3)?;
        let keys: Vec<([u8; 2], String)> =
            PAIRS.iter().map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
        assert_eq!(keys, vec![([0, 1], "b".into()), ([0, 1], "zz".into()), ([0, 2], "a".into())]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn corrupt_values_are_errors_not_panics() {
    let host = MockHost::new();
    host.raw_set(b"counter", &[1, 2, 3]);
    let err = exec(&host, |_| COUNTER.load()).unwrap_err();
    assert!(err.starts_with("corrupt value in storage at key \"counter\""), "{err}");
}

#[test]
fn events_are_recorded_and_discarded_with_a_failed_call() {
    let host = MockHost::new();
    exec(&host, |_| {
        Event::new("hello").attr("who", "world").emit();
        Ok(())
    })
    .unwrap();
    let err = exec(&host, |_| -> Result<(), Error> {
        Event::new("lost").emit();
        COUNTER.save(&1)?;
        bail!("nope: {}", 42)
    })
    .unwrap_err();
    assert_eq!(err, "nope: 42");
    assert_eq!(host.events(), vec![(addr(0xc0), Event::new("hello").attr("who", "world"))]);
    assert_eq!(host.raw_get(b"counter"), None, "the failed call's write was rolled back");
}

#[test]
fn panics_fail_the_call_with_their_message() {
    let host = MockHost::new();
    let err = exec(&host, |_| -> Result<(), Error> {
        COUNTER.save(&1)?;
        let v: Vec<u8> = Vec::new();
        let i = v.len() + 3;
        assert!(i < v.len(), "index {i} out of range");
        Ok(())
    })
    .unwrap_err();
    assert_eq!(err, "module panicked: index 3 out of range");
    assert_eq!(host.raw_get(b"counter"), None);
}

#[test]
fn env_reaches_the_entry_point() {
    let host = MockHost::new();
    host.set_caller(addr(7));
    host.set_height(42);
    host.set_time_ms(1_000);
    host.set_contract(addr(9));
    let seen: Env = host
        .execute_as(
            |env: &Env, (): ()| -> Result<Env, Error> {
                assert_eq!(*env, env::env_fn());
                Ok(env.clone())
            },
            &(),
        )
        .unwrap();
    assert_eq!(
        seen,
        Env {
            chain_id: "test-chain".into(),
            height: 42,
            time_ms: 1_000,
            contract: addr(9),
            caller: addr(7),
            origin: addr(7)
        }
    );
    host.advance_blocks(3);
    assert_eq!((host.env().height, host.env().time_ms), (45, 4_000));
}

mod env {
    pub fn env_fn() -> cairn_sdk::Env {
        super::env()
    }
}

#[test]
fn queries_cannot_write_or_emit() {
    let host = MockHost::new();
    let err = host.query(|_: &Env, (): ()| COUNTER.save(&1), &()).unwrap_err();
    assert_eq!(err, "storage_set is not allowed in a query (queries are read-only)");
    let err = host
        .query(
            |_: &Env, (): ()| -> Result<(), Error> {
                Event::new("x").emit();
                Ok(())
            },
            &(),
        )
        .unwrap_err();
    assert_eq!(err, "emit_event is not allowed in a query (queries are read-only)");
    // Reading is fine, and the next execute may write again.
    host.query(|_: &Env, (): ()| COUNTER.may_load(), &()).unwrap();
    exec(&host, |_| COUNTER.save(&1)).unwrap();
}

#[test]
fn size_limits_match_the_host() {
    const HUGE: Item<Vec<u8>> = Item::new(b"huge");
    let host = MockHost::new();
    let err = exec(&host, |_| HUGE.save(&vec![0; 64 * 1024])).unwrap_err();
    assert!(err.starts_with("storage value of 65540 bytes exceeds the 65536-byte limit"), "{err}");
    let err = exec(&host, |_| {
        NUMBERS.save(&0, &String::new()).and_then(|()| {
            const LONG_KEYS: Map<Vec<u8>, u8> = Map::new(b"k");
            LONG_KEYS.save(&vec![1; 300], &0)
        })
    })
    .unwrap_err();
    assert!(err.starts_with("storage key of 303 bytes exceeds the 256-byte limit"), "{err}");
}

#[test]
fn raw_output_is_passed_through_and_typed_output_is_borsh() {
    let host = MockHost::new();
    assert_eq!(exec(&host, |_| Ok(Raw(vec![1, 2, 3]))).unwrap(), vec![1, 2, 3]);
    assert_eq!(exec(&host, |_| Ok(vec![1u8, 2, 3])).unwrap(), vec![3, 0, 0, 0, 1, 2, 3]);
    assert_eq!(exec(&host, |_| Ok(())).unwrap(), Vec::<u8>::new());
}

#[test]
fn malformed_input_names_the_entry_point() {
    let host = MockHost::new();
    let err = host.execute_raw(|_: &Env, _: u64| Ok::<_, Error>(()), &[1, 2]).unwrap_err();
    assert!(err.starts_with("invalid execute message (2 bytes)"), "{err}");
}

/// A module that counts calls and tells who called it; fails on a message of 0.
fn counter_module(env: &Env, msg: u8) -> Result<[u8; 32], Error> {
    let n = COUNTER.may_load()?.unwrap_or(0) + 1;
    COUNTER.save(&n)?;
    Event::new("counted").emit();
    if msg == 0 {
        bail!("zero is not allowed");
    }
    Ok(env.caller)
}

#[test]
fn calls_run_the_callee_as_itself_and_roll_back_its_failures() {
    let host = MockHost::new();
    host.register_module(addr(0x22), counter_module);
    host.set_caller(addr(1));
    let out = exec(&host, |_| {
        let caller: [u8; 32] = cairn_sdk::call_typed(&addr(0x22), &1u8, 1_000)?;
        assert_eq!(caller, addr(0xc0), "the callee sees the calling module as caller");
        assert_eq!(env().contract, addr(0xc0), "the caller's env is restored");
        let err = call(&addr(0x22), &[0], 1_000).unwrap_err();
        assert_eq!(err.message(), format!("call to {} failed: zero is not allowed", hex(&addr(0x22))));
        COUNTER.save(&100)
    });
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(host.storage(&addr(0x22)).get(b"counter".as_slice()), Some(&1u64.to_le_bytes().to_vec()));
    assert_eq!(
        host.raw_get(b"counter"),
        Some(100u64.to_le_bytes().to_vec()),
        "each module has its own storage"
    );
    let kinds: Vec<_> = host.events().into_iter().map(|(who, e)| (who, e.kind)).collect();
    assert_eq!(kinds, vec![(addr(0x22), "counted".to_string())], "the failed call's event is gone");
    let err = exec(&host, |_| call(&addr(0x33), &[], 1)).unwrap_err();
    assert_eq!(err, format!("call to {} failed: no module at {}", hex(&addr(0x33)), hex(&addr(0x33))));
}

#[test]
fn reentrant_calls_are_rejected() {
    let host = MockHost::new();
    // 0x22 calls back into the module under test (0xc0).
    host.register_module(addr(0x22), |_: &Env, (): ()| call(&addr(0xc0), &[], 1));
    host.register_module(addr(0xc0), |_: &Env, (): ()| Ok::<_, Error>(()));
    let err = exec(&host, |_| call(&addr(0x22), &[], 1)).unwrap_err();
    assert!(err.ends_with(&format!("reentrant call to {}", hex(&addr(0xc0)))), "{err}");
}

#[test]
fn closures_can_stand_in_for_modules() {
    let host = MockHost::new();
    host.register_handler(addr(0x44), |msg: &[u8]| Ok(msg.iter().rev().copied().collect()));
    assert_eq!(exec(&host, |_| call(&addr(0x44), &[1, 2, 3], 1)).unwrap(), vec![3, 0, 0, 0, 3, 2, 1]);
}

#[test]
fn crypto_helpers_match_the_libraries() {
    let _host = MockHost::new();
    assert_eq!(blake3(b"cairn"), *::blake3::hash(b"cairn").as_bytes());
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let sig = key.sign(b"message").to_bytes();
    let pk = key.verifying_key().to_bytes();
    assert!(ed25519_verify(&pk, b"message", &sig));
    assert!(!ed25519_verify(&pk, b"massage", &sig));
    assert!(!ed25519_verify(&[0xff; 32], b"message", &sig));
}

#[test]
fn hex_is_lower_case() {
    assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
}

#[test]
#[should_panic(expected = "no MockHost is active on this thread")]
fn using_storage_without_a_mock_host_says_what_to_do() {
    let _ = COUNTER.may_load();
}
