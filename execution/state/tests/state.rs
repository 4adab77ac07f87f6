//! Scenario tests of the store: get/stage/commit/root, proofs, versions and pruning, reopen, bad input.

use std::collections::BTreeMap;

use cairn_primitives::{Hash, Height};
use cairn_state::{
    MAX_KEY_BYTES, MAX_PROOF_BYTES, MAX_VALUE_BYTES, Proof, ProofError, ProofLeaf, State, StateConfig,
    StateError, compute_root, verify_proof,
};

type Batch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn open(dir: &tempfile::TempDir, prune_window: u64) -> State {
    State::open(&dir.path().join("state.redb"), StateConfig { prune_window, fsync: false }).unwrap()
}

fn batch(items: &[(&[u8], Option<&[u8]>)]) -> Batch {
    items.iter().map(|(k, v)| (k.to_vec(), v.map(|v| v.to_vec()))).collect()
}

fn commit(s: &mut State, b: Batch) -> Hash {
    let h = s.version().next();
    let staged = s.stage(h, b).unwrap();
    let committed = s.commit().unwrap();
    assert_eq!(staged, committed, "stage() must announce the root commit() persists");
    committed
}

fn all_entries(s: &State) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut start = Vec::new();
    while let Some((k, v)) = s.next_entry(&start, None).unwrap() {
        start = k.clone();
        start.push(0);
        out.insert(k, v);
    }
    out
}

fn assert_proves(s: &State, key: &[u8], h: Height) {
    let (value, proof) = s.prove(key, h).unwrap();
    assert_eq!(value, s.get_at(key, h).unwrap());
    let root = s.root_at(h).unwrap();
    verify_proof(&root, key, value.as_deref(), &proof).unwrap();
    // The same proof must reject the opposite claim.
    match value {
        Some(_) => assert_eq!(verify_proof(&root, key, None, &proof), Err(ProofError::KeyPresent)),
        None => assert_eq!(verify_proof(&root, key, Some(b"x"), &proof), Err(ProofError::KeyAbsent)),
    }
}

#[test]
fn empty_store_is_version_zero_with_zero_root() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, 0);
    assert_eq!(s.version(), Height(0));
    assert_eq!(s.root(), Hash::ZERO);
    assert_eq!(s.root_at(Height(0)).unwrap(), Hash::ZERO);
    assert_eq!(s.get(b"a").unwrap(), None);
    assert_eq!(s.next_entry(b"", None).unwrap(), None);
    assert_proves(&s, b"a", Height(0));
    let (_, proof) = s.prove(b"a", Height(0)).unwrap();
    assert!(proof.siblings.is_empty() && proof.leaf.is_none());
}

#[test]
fn stage_commit_get_and_iterate() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    let root1 = commit(&mut s, batch(&[(b"b", Some(b"2")), (b"a", Some(b"1")), (b"c", Some(b"3"))]));
    assert_eq!(s.version(), Height(1));
    assert_eq!(root1, compute_root([(b"a".as_slice(), b"1".as_slice()), (b"b", b"2"), (b"c", b"3")]));
    assert_eq!(s.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get(b"zz").unwrap(), None);

    assert_eq!(s.next_entry(b"", None).unwrap(), Some((b"a".to_vec(), b"1".to_vec())));
    assert_eq!(s.next_entry(b"a\0", None).unwrap(), Some((b"b".to_vec(), b"2".to_vec())));
    assert_eq!(s.next_entry(b"b", Some(b"c")).unwrap(), Some((b"b".to_vec(), b"2".to_vec())));
    assert_eq!(s.next_entry(b"b\0", Some(b"c")).unwrap(), None);
    assert_eq!(s.next_entry(b"c", Some(b"a")).unwrap(), None, "an inverted range is empty");

    let root2 = commit(&mut s, batch(&[(b"a", None), (b"b", Some(b"22")), (b"nope", None)]));
    assert_eq!(root2, compute_root([(b"b".as_slice(), b"22".as_slice()), (b"c", b"3")]));
    assert_eq!(s.get(b"a").unwrap(), None);
    assert_eq!(s.get_at(b"a", Height(1)).unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get_at(b"b", Height(1)).unwrap(), Some(b"2".to_vec()));
    assert_eq!(s.get_at(b"b", Height(2)).unwrap(), Some(b"22".to_vec()));
    assert_eq!(s.get_at(b"a", Height(0)).unwrap(), None);
    assert_eq!(s.root_at(Height(1)).unwrap(), root1);
}

#[test]
fn stage_checks_height_and_discard_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    let err = s.stage(Height(2), batch(&[(b"a", Some(b"1"))])).unwrap_err();
    assert!(matches!(err, StateError::WrongHeight { requested: Height(2), expected: Height(1) }), "{err}");
    assert!(matches!(s.commit(), Err(StateError::NothingStaged)));

    let staged = s.stage(Height(1), batch(&[(b"a", Some(b"1"))])).unwrap();
    assert_ne!(staged, Hash::ZERO);
    assert_eq!(s.root(), Hash::ZERO, "staging must not change committed state");
    assert_eq!(s.get(b"a").unwrap(), None);
    s.discard_staged();
    assert!(matches!(s.commit(), Err(StateError::NothingStaged)));

    // Re-staging replaces the batch.
    s.stage(Height(1), batch(&[(b"a", Some(b"1"))])).unwrap();
    let r = s.stage(Height(1), batch(&[(b"b", Some(b"2"))])).unwrap();
    assert_eq!(s.commit().unwrap(), r);
    assert_eq!(s.get(b"a").unwrap(), None);
    assert_eq!(s.get(b"b").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn empty_batch_keeps_root_and_advances_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    let r1 = commit(&mut s, batch(&[(b"a", Some(b"1"))]));
    let r2 = commit(&mut s, Batch::new());
    assert_eq!(r1, r2);
    assert_eq!(s.version(), Height(2));
    assert_proves(&s, b"a", Height(2));
}

#[test]
fn proofs_for_present_and_absent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    // One key: the root is that leaf.
    commit(&mut s, batch(&[(b"only", Some(b"v"))]));
    assert_proves(&s, b"only", Height(1));
    assert_proves(&s, b"other", Height(1));
    // Many keys.
    let mut b = Batch::new();
    for i in 0u32..500 {
        b.insert(format!("key-{i}").into_bytes(), Some(i.to_le_bytes().to_vec()));
    }
    commit(&mut s, b);
    for i in (0u32..500).step_by(7) {
        assert_proves(&s, format!("key-{i}").as_bytes(), Height(2));
        assert_proves(&s, format!("missing-{i}").as_bytes(), Height(2));
    }
    // Old version still provable.
    assert_proves(&s, b"only", Height(1));
    assert_proves(&s, b"key-1", Height(1));
}

/// Finds keys whose hashes share their first `bits` bits with `blake3(base)`.
fn keys_sharing_prefix(base: &[u8], bits: usize, count: usize) -> Vec<Vec<u8>> {
    let target = cairn_state::key_hash(base);
    let mut out = vec![base.to_vec()];
    let mut i = 0u64;
    while out.len() < count {
        let k = format!("n{i}").into_bytes();
        let h = cairn_state::key_hash(&k);
        let shared = target.0.iter().zip(h.0.iter()).take_while(|(a, b)| a == b).count() * 8
            + target
                .0
                .iter()
                .zip(h.0.iter())
                .find(|(a, b)| a != b)
                .map_or(0, |(a, b)| (a ^ b).leading_zeros() as usize);
        if shared >= bits {
            out.push(k);
        }
        i += 1;
    }
    out
}

#[test]
fn proofs_with_long_shared_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    // 3 keys sharing >= 14 leading path bits: deep internal nodes, and single-child internal nodes above them.
    let keys = keys_sharing_prefix(b"base", 14, 3);
    let b: Batch = keys.iter().map(|k| (k.clone(), Some(k.clone()))).collect();
    let root = commit(&mut s, b);
    assert_eq!(root, compute_root(keys.iter().map(|k| (k.as_slice(), k.as_slice()))));
    for k in &keys {
        let (v, proof) = s.prove(k, Height(1)).unwrap();
        assert!(proof.siblings.len() >= 15, "expected a deep path, got {}", proof.siblings.len());
        verify_proof(&root, k, v.as_deref(), &proof).unwrap();
    }
    // An absent key that shares the prefix lands next to the deep leaves.
    let absent = keys_sharing_prefix(b"base", 14, 4).pop().unwrap();
    assert!(!keys.contains(&absent));
    assert_proves(&s, &absent, Height(1));
    // Delete two: the survivor bubbles up to the root.
    let root = commit(&mut s, keys.iter().skip(1).map(|k| (k.clone(), None)).collect());
    assert_eq!(root, compute_root([(keys[0].as_slice(), keys[0].as_slice())]));
    let (_, proof) = s.prove(&keys[0], Height(2)).unwrap();
    assert!(proof.siblings.is_empty());
}

#[test]
fn tampered_proofs_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    let mut b = Batch::new();
    for i in 0u32..64 {
        b.insert(format!("k{i}").into_bytes(), Some(format!("v{i}").into_bytes()));
    }
    let root = commit(&mut s, b);
    let (value, proof) = s.prove(b"k5", Height(1)).unwrap();
    let value = value.unwrap();
    verify_proof(&root, b"k5", Some(&value), &proof).unwrap();

    // Tampered value.
    assert_eq!(verify_proof(&root, b"k5", Some(b"v6"), &proof), Err(ProofError::ValueMismatch));
    // Wrong key with this proof.
    assert!(verify_proof(&root, b"k6", Some(&value), &proof).is_err());
    assert!(verify_proof(&root, b"k6", None, &proof).is_err());
    // Wrong root.
    let wrong = Hash::digest(b"another root");
    assert!(matches!(
        verify_proof(&wrong, b"k5", Some(&value), &proof),
        Err(ProofError::RootMismatch { .. })
    ));
    // Every single flipped bit in the encoded proof either fails to decode or fails to verify.
    let bytes = proof.to_bytes();
    for i in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[i / 8] ^= 1 << (i % 8);
        if let Ok(p) = Proof::from_bytes(&t) {
            assert!(verify_proof(&root, b"k5", Some(&value), &p).is_err(), "flipped bit {i} still verifies");
        }
    }
    // Dropping or adding a sibling fails.
    let mut short = proof.clone();
    short.siblings.pop();
    assert!(verify_proof(&root, b"k5", Some(&value), &short).is_err());
    let mut long = proof.clone();
    long.siblings.push(Hash::ZERO);
    assert!(verify_proof(&root, b"k5", Some(&value), &long).is_err());

    // Exclusion proof for an absent key: cannot be turned into a proof of some value, and a leaf placed off the
    // key's path is refused.
    let (none, ex) = s.prove(b"absent", Height(1)).unwrap();
    assert!(none.is_none());
    verify_proof(&root, b"absent", None, &ex).unwrap();
    assert!(verify_proof(&root, b"absent", Some(b"v1"), &ex).is_err());
    let mut off = ex.clone();
    off.leaf = Some(ProofLeaf { key_hash: Hash([0xAA; 32]), value_hash: Hash([1; 32]) });
    assert!(verify_proof(&root, b"absent", None, &off).is_err());
}

#[test]
fn garbage_proof_bytes_are_errors_not_panics() {
    assert!(matches!(Proof::from_bytes(&[]), Err(ProofError::Decode(_))));
    assert!(matches!(Proof::from_bytes(&[0xff, 0xff, 0xff, 0xff]), Err(ProofError::Decode(_))));
    // A claimed sibling count over the limit is refused before allocating.
    assert!(matches!(Proof::from_bytes(&[1, 1, 0, 0, 0]), Err(ProofError::Decode(_))));
    assert!(matches!(Proof::from_bytes(&vec![0u8; MAX_PROOF_BYTES + 1]), Err(ProofError::TooLarge { .. })));
    // Trailing bytes.
    let mut ok = Proof { siblings: vec![Hash::ZERO], leaf: None }.to_bytes();
    assert!(Proof::from_bytes(&ok).is_ok());
    ok.push(0);
    assert!(Proof::from_bytes(&ok).is_err());
    // Bad option tag.
    assert!(Proof::from_bytes(&[0, 0, 0, 0, 7]).is_err());
    // Pseudo-random garbage of many lengths.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..600 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if let Ok(p) = Proof::from_bytes(&bytes) {
            assert!(verify_proof(&Hash::digest(b"r"), b"k", None, &p).is_err());
        }
    }
    // A hand-built proof that is too deep is refused by the verifier.
    let deep = Proof { siblings: vec![Hash::ZERO; 257], leaf: None };
    assert!(matches!(verify_proof(&Hash::ZERO, b"k", None, &deep), Err(ProofError::TooDeep { .. })));
}

#[test]
fn oversized_keys_and_values_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 0);
    let big_key = vec![1u8; MAX_KEY_BYTES + 1];
    let err = s.stage(Height(1), batch(&[(&big_key, Some(b"v"))])).unwrap_err();
    assert!(
        matches!(err, StateError::KeyTooLarge { len, max } if len == MAX_KEY_BYTES + 1 && max == MAX_KEY_BYTES)
    );
    let big_value = vec![1u8; MAX_VALUE_BYTES + 1];
    let err = s.stage(Height(1), batch(&[(b"k", Some(&big_value))])).unwrap_err();
    assert!(matches!(err, StateError::ValueTooLarge { .. }), "{err}");
    assert!(err.to_string().contains(&MAX_VALUE_BYTES.to_string()));
    assert!(matches!(s.get(&big_key), Err(StateError::KeyTooLarge { .. })));
    assert!(matches!(s.prove(&big_key, Height(0)), Err(StateError::KeyTooLarge { .. })));
    // At the limits it is fine.
    let key = vec![2u8; MAX_KEY_BYTES];
    let value = vec![3u8; MAX_VALUE_BYTES];
    commit(&mut s, batch(&[(&key, Some(&value))]));
    assert_eq!(s.get(&key).unwrap(), Some(value));
}

#[test]
fn pruning_keeps_the_window_and_reports_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, 3);
    let mut roots = vec![Hash::ZERO];
    for h in 1u64..=10 {
        // "k" changes every version; "gone" is deleted at 5; "h{h}" is new each version.
        let mut b = batch(&[(b"k", Some(&h.to_le_bytes()))]);
        b.insert(format!("h{h}").into_bytes(), Some(vec![h as u8]));
        if h == 5 {
            b.insert(b"gone".to_vec(), None);
        }
        if h == 1 {
            b.insert(b"gone".to_vec(), Some(b"here".to_vec()));
        }
        roots.push(commit(&mut s, b));
    }
    assert_eq!(s.oldest_version(), Height(7));
    for h in 7u64..=10 {
        assert_eq!(s.root_at(Height(h)).unwrap(), roots[h as usize]);
        assert_eq!(s.get_at(b"k", Height(h)).unwrap(), Some(h.to_le_bytes().to_vec()));
        assert_eq!(s.get_at(b"gone", Height(h)).unwrap(), None);
        assert_eq!(s.get_at(b"h1", Height(h)).unwrap(), Some(vec![1]));
        assert_proves(&s, b"k", Height(h));
        assert_proves(&s, b"h3", Height(h));
        assert_proves(&s, b"gone", Height(h));
    }
    for h in 0u64..7 {
        let err = s.get_at(b"k", Height(h)).unwrap_err();
        assert!(matches!(err, StateError::Pruned { requested, oldest: Height(7) } if requested == Height(h)));
        assert!(err.to_string().contains("pruned"));
        assert!(matches!(s.root_at(Height(h)), Err(StateError::Pruned { .. })));
        assert!(matches!(s.prove(b"k", Height(h)), Err(StateError::Pruned { .. })));
    }
    assert!(matches!(s.get_at(b"k", Height(11)), Err(StateError::FutureVersion { .. })));
}

#[test]
fn pruning_actually_frees_old_entries() {
    // The same key rewritten many times: with a window, the store must not keep every old value.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let value = vec![7u8; 60_000];
    let mut sizes = Vec::new();
    for window in [0u64, 2] {
        let _ = std::fs::remove_file(&path);
        let mut s = State::open(&path, StateConfig { prune_window: window, fsync: false }).unwrap();
        for h in 1u64..=60 {
            let mut v = value.clone();
            v[0] = h as u8;
            let mut b = Batch::new();
            b.insert(b"big".to_vec(), Some(v));
            commit(&mut s, b);
        }
        drop(s);
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    assert!(sizes[1] * 3 < sizes[0], "pruned store {} bytes vs unpruned {} bytes", sizes[1], sizes[0]);
}

#[test]
fn reopen_after_commit_has_same_root_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let (root, entries) = {
        let mut s = open(&dir, 5);
        for h in 0u32..4 {
            let b: Batch = (0u32..50)
                .map(|i| (format!("{i}").into_bytes(), Some(format!("{h}/{i}").into_bytes())))
                .collect();
            commit(&mut s, b);
        }
        (s.root(), all_entries(&s))
    };
    let s = open(&dir, 5);
    assert_eq!(s.version(), Height(4));
    assert_eq!(s.root(), root);
    assert_eq!(all_entries(&s), entries);
    assert_eq!(entries.len(), 50);
    assert_eq!(s.get(b"7").unwrap(), Some(b"3/7".to_vec()));
    assert_eq!(s.get_at(b"7", Height(2)).unwrap(), Some(b"1/7".to_vec()));
    assert_eq!(compute_root(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))), root);
}

#[test]
fn state_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<State>();
}

#[test]
fn readers_on_other_threads_see_whole_versions() {
    use std::sync::{Arc, RwLock};
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(RwLock::new(open(&dir, 4)));
    let keys: Vec<Vec<u8>> = (0u32..40).map(|i| format!("acct/{i}").into_bytes()).collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let state = Arc::clone(&state);
            let keys = keys.clone();
            std::thread::spawn(move || {
                let mut checks = 0;
                for round in 0..200 {
                    let s = state.read().unwrap();
                    let h = s.version();
                    let root = s.root();
                    let k = &keys[round % keys.len()];
                    let (v, proof) = s.prove(k, h).unwrap();
                    verify_proof(&root, k, v.as_deref(), &proof).unwrap();
                    // Every key holds the version number it was last written at: all equal within a version.
                    if h.0 > 0 {
                        assert_eq!(v, Some(h.0.to_le_bytes().to_vec()));
                        assert_eq!(s.get(&keys[0]).unwrap(), v);
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for h in 1u64..=30 {
        let b: Batch = keys.iter().map(|k| (k.clone(), Some(h.to_le_bytes().to_vec()))).collect();
        let mut s = state.write().unwrap();
        let next = s.version().next();
        s.stage(next, b).unwrap();
        s.commit().unwrap();
    }
    for r in readers {
        assert_eq!(r.join().unwrap(), 200);
    }
    assert_eq!(state.read().unwrap().version(), Height(30));
}
