//! Property test: random batches of inserts, updates and deletes over several versions, against a `BTreeMap`
//! model.

use std::collections::BTreeMap;

use cairn_primitives::Height;
use cairn_state::{State, StateConfig, StateError, compute_root, verify_proof};
use proptest::prelude::*;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;
type Batch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

const KEY_SPACE: u8 = 48;

fn key(i: u8) -> Vec<u8> {
    // Mixed lengths, and keys that are prefixes of each other, so raw-key order (next_entry) is exercised.
    match i % 3 {
        0 => vec![i],
        1 => vec![i - 1, i],
        _ => format!("key/{i}").into_bytes(),
    }
}

fn batch_strategy() -> impl Strategy<Value = Vec<(u8, Option<Vec<u8>>)>> {
    prop::collection::vec(
        (0..KEY_SPACE, prop::option::weighted(0.75, prop::collection::vec(any::<u8>(), 0..6))),
        0..24,
    )
}

fn open(dir: &tempfile::TempDir, name: &str, prune_window: u64) -> State {
    State::open(&dir.path().join(name), StateConfig { prune_window, fsync: false }).unwrap()
}

fn entries(s: &State) -> Map {
    let mut out = Map::new();
    let mut start = Vec::new();
    while let Some((k, v)) = s.next_entry(&start, None).unwrap() {
        start = k.clone();
        start.push(0);
        out.insert(k, v);
    }
    out
}

fn root_of(m: &Map) -> cairn_primitives::Hash {
    compute_root(m.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(batches in prop::collection::vec(batch_strategy(), 1..7), window in 0u64..4) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(&dir, "a.redb", window);
        let mut model = Map::new();
        let mut history: Vec<Map> = vec![Map::new()];
        for ops in &batches {
            let batch: Batch = ops.iter().map(|(k, v)| (key(*k), v.clone())).collect();
            for (k, v) in &batch {
                match v {
                    Some(v) => { model.insert(k.clone(), v.clone()); }
                    None => { model.remove(k); }
                }
            }
            let h = s.version().next();
            let staged = s.stage(h, batch).unwrap();
            prop_assert_eq!(staged, root_of(&model));
            prop_assert_eq!(s.commit().unwrap(), staged);
            history.push(model.clone());

            prop_assert_eq!(entries(&s), model.clone());
            for i in 0..KEY_SPACE {
                let k = key(i);
                prop_assert_eq!(s.get(&k).unwrap(), model.get(&k).cloned());
                let (v, proof) = s.prove(&k, h).unwrap();
                prop_assert_eq!(&v, &model.get(&k).cloned());
                prop_assert!(verify_proof(&s.root(), &k, v.as_deref(), &proof).is_ok());
                let other = if v.is_some() { None } else { Some(b"x".as_slice()) };
                prop_assert!(verify_proof(&s.root(), &k, other, &proof).is_err());
            }
        }
        // History: readable within the window, a clear Pruned error outside it.
        let latest = s.version().0;
        for (h, snapshot) in history.iter().enumerate() {
            let h = h as u64;
            let retained = window == 0 || h + window >= latest;
            for i in (0..KEY_SPACE).step_by(5) {
                let k = key(i);
                match s.get_at(&k, Height(h)) {
                    Ok(v) => {
                        prop_assert!(retained, "version {} should be pruned", h);
                        prop_assert_eq!(v, snapshot.get(&k).cloned());
                        let (pv, proof) = s.prove(&k, Height(h)).unwrap();
                        prop_assert!(verify_proof(&root_of(snapshot), &k, pv.as_deref(), &proof).is_ok());
                    }
                    Err(StateError::Pruned { .. }) => prop_assert!(!retained, "version {} should be kept", h),
                    Err(e) => prop_assert!(false, "unexpected error {}", e),
                }
            }
            if retained {
                prop_assert_eq!(s.root_at(Height(h)).unwrap(), root_of(snapshot));
            }
        }

        // Same final map, different history and batching: same root.
        let mut one = open(&dir, "b.redb", 0);
        let all: Batch = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        one.stage(Height(1), all).unwrap();
        prop_assert_eq!(one.commit().unwrap(), s.root());
        let mut singles = open(&dir, "c.redb", 1);
        // Insert in reverse key order one per version, with a junk key added and removed along the way.
        singles.stage(Height(1), [(b"junk".to_vec(), Some(b"j".to_vec()))].into_iter().collect()).unwrap();
        singles.commit().unwrap();
        for (k, v) in model.iter().rev() {
            let h = singles.version().next();
            singles.stage(h, [(k.clone(), Some(v.clone()))].into_iter().collect()).unwrap();
            singles.commit().unwrap();
        }
        let h = singles.version().next();
        singles.stage(h, [(b"junk".to_vec(), None)].into_iter().collect()).unwrap();
        prop_assert_eq!(singles.commit().unwrap(), s.root());
        prop_assert_eq!(entries(&singles), model);
    }
}
