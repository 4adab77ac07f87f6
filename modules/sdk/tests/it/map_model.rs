//! `Map` against `BTreeMap`: random saves and removes, then every kind of range must list the same entries.

use std::collections::BTreeMap;

use cairn_sdk::testing::MockHost;
use cairn_sdk::{Env, Error, Map};
use proptest::prelude::*;

const M: Map<u64, u32> = Map::new(b"m");
/// A neighbour namespace whose entries must never leak into `M`'s ranges.
const NEIGHBOUR: Map<u64, u32> = Map::new(b"n");

#[derive(Clone, Debug)]
enum Op {
    Save(u64, u32),
    Remove(u64),
}

fn key() -> impl Strategy<Value = u64> {
    // Small keys collide often; a few extreme ones exercise the byte-order encoding.
    prop_oneof![8 => 0u64..64, 1 => Just(u64::MAX), 1 => Just(255), 1 => Just(256)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn map_ranges_match_a_btreemap(
        ops in proptest::collection::vec(
            prop_oneof![(key(), any::<u32>()).prop_map(|(k, v)| Op::Save(k, v)), key().prop_map(Op::Remove)],
            0..80,
        ),
        bounds in proptest::collection::vec((proptest::option::of(key()), proptest::option::of(key())), 1..8),
    ) {
        let host = MockHost::new();
        let mut model = BTreeMap::new();
        let result = host.execute(
            |_: &Env, (): ()| -> Result<(), Error> {
                NEIGHBOUR.save(&0, &0)?;
                NEIGHBOUR.save(&u64::MAX, &0)?;
                for op in &ops {
                    match *op {
                        Op::Save(k, v) => {
                            M.save(&k, &v)?;
                            model.insert(k, v);
                        }
                        Op::Remove(k) => {
                            M.remove(&k);
                            model.remove(&k);
                        }
                    }
                }
                for (min, max) in &bounds {
                    let got: Vec<(u64, u32)> = M.range(min.as_ref(), max.as_ref()).collect::<Result<_, _>>()?;
                    let want: Vec<(u64, u32)> = model
                        .iter()
                        .filter(|(k, _)| min.is_none_or(|m| **k >= m) && max.is_none_or(|m| **k < m))
                        .map(|(k, v)| (*k, *v))
                        .collect();
                    assert_eq!(got, want, "range {min:?}..{max:?}");
                }
                for (k, v) in &model {
                    assert_eq!(M.may_load(k)?, Some(*v));
                }
                Ok(())
            },
            &(),
        );
        prop_assert!(result.is_ok(), "{:?}", result);
    }
}
