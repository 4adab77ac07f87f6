//! Random staking and slashing never create tokens: free + bonded + unbonding + burned is the genesis total.

use cairn_module_pos::msg::{ExecuteMsg, QueryMsg};
use cairn_module_pos::state::BURNED;
use cairn_sdk::testing::addr;
use proptest::prelude::*;

use crate::common::*;

#[derive(Clone, Debug)]
enum Op {
    Delegate(u8, u8, u16),
    Unbond(u8, u8, u16),
    Redelegate(u8, u8, u8, u16),
    Evidence(u8),
    Advance(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (5..=9u8, 1..=4u8, 1..2_000u16).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        2 => (5..=9u8, 1..=4u8, 1..2_000u16).prop_map(|(d, v, a)| Op::Unbond(d, v, a)),
        1 => (5..=9u8, 1..=4u8, 1..=4u8, 1..2_000u16).prop_map(|(d, s, t, a)| Op::Redelegate(d, s, t, a)),
        1 => (1..=4u8).prop_map(Op::Evidence),
        2 => (1..=6u8).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn tokens_are_conserved(ops in proptest::collection::vec(op(), 1..50)) {
        let host = setup(&[(1, 1_000), (2, 1_000), (3, 1_000), (4, 1_000)]);
        let mut height = 1;
        for o in ops {
            let _ = match o {
                Op::Delegate(d, v, a) => run(&host, d, ExecuteMsg::Delegate { validator: addr(v), amount: a.into() }),
                Op::Unbond(d, v, a) => run(&host, d, ExecuteMsg::Unbond { validator: addr(v), amount: a.into() }),
                Op::Redelegate(d, s, t, a) => run(
                    &host,
                    d,
                    ExecuteMsg::Redelegate { src: addr(s), dst: addr(t), amount: a.into() },
                ),
                Op::Evidence(v) => begin_block(&host, height, &[1, 2, 3, 4], &[(v, height.saturating_sub(3))]),
                Op::Advance(n) => {
                    for _ in 0..n {
                        height += 1;
                        end_block_at(&host, height);
                    }
                    Ok(())
                }
            };
            let total: u128 = host.query_as(cairn_module_pos::contract::query, &QueryMsg::TotalTokens).unwrap();
            let burned = BURNED.load().unwrap();
            prop_assert_eq!(total + burned, 20 * 10_000);
        }
    }
}
