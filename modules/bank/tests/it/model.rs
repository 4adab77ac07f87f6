//! Random operation sequences against a plain-Rust model of the bank: same outcomes, same balances, and the sum
//! of balances always equals the total supply.

use std::collections::BTreeMap;

use cairn_module_bank::contract::{execute, instantiate, query};
use cairn_module_bank::msg::{Address, ExecuteMsg, InitMsg, QueryMsg};
use cairn_sdk::testing::{MockHost, addr};
use proptest::prelude::*;

const ADMIN: u8 = 0;

#[derive(Clone, Debug)]
enum Op {
    Transfer { from: u8, to: u8, amount: u128 },
    Mint { by: u8, to: u8, amount: u128 },
    Burn { from: u8, amount: u128 },
}

fn amount() -> impl Strategy<Value = u128> {
    // Mostly small amounts (so transfers succeed), sometimes huge ones (so overflow paths run).
    prop_oneof![4 => 0u128..200, 1 => Just(u128::MAX), 1 => (u128::MAX / 2)..=u128::MAX]
}

fn op() -> impl Strategy<Value = Op> {
    let account = 0u8..5;
    prop_oneof![
        4 => (account.clone(), account.clone(), amount()).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        1 => (prop_oneof![Just(ADMIN), account.clone()], account.clone(), amount())
            .prop_map(|(by, to, amount)| Op::Mint { by, to, amount }),
        1 => (account, amount()).prop_map(|(from, amount)| Op::Burn { from, amount }),
    ]
}

/// The model: what each op must do, in a dozen lines.
fn model_apply(balances: &mut BTreeMap<u8, u128>, supply: &mut u128, op: &Op) -> bool {
    let bal = |b: &BTreeMap<u8, u128>, a: u8| b.get(&a).copied().unwrap_or(0);
    match *op {
        Op::Transfer { from, to, amount } => {
            if amount == 0 || bal(balances, from) < amount {
                return false;
            }
            *balances.entry(from).or_default() -= amount;
            *balances.entry(to).or_default() += amount;
        }
        Op::Mint { by, to, amount } => {
            if by != ADMIN || amount == 0 || supply.checked_add(amount).is_none() {
                return false;
            }
            *supply += amount;
            *balances.entry(to).or_default() += amount;
        }
        Op::Burn { from, amount } => {
            if amount == 0 || bal(balances, from) < amount {
                return false;
            }
            *balances.entry(from).or_default() -= amount;
            *supply -= amount;
        }
    }
    balances.retain(|_, b| *b > 0);
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bank_matches_the_model(genesis in proptest::collection::btree_map(1u8..5, 1u128..1000, 0..4),
                              ops in proptest::collection::vec(op(), 1..60)) {
        let host = MockHost::new();
        host.instantiate(instantiate, &InitMsg {
            denom: "cairn".into(),
            admin: Some(addr(ADMIN)),
            balances: genesis.iter().map(|(&a, &n)| (addr(a), n)).collect(),
        }).unwrap();
        let mut model = genesis.clone();
        let mut supply: u128 = genesis.values().sum();

        for op in &ops {
            let (sender, msg) = match *op {
                Op::Transfer { from, to, amount } => (from, ExecuteMsg::Transfer { to: addr(to), amount }),
                Op::Mint { by, to, amount } => (by, ExecuteMsg::Mint { to: addr(to), amount }),
                Op::Burn { from, amount } => (from, ExecuteMsg::Burn { amount }),
            };
            host.set_caller(addr(sender));
            let got = host.execute(execute, &msg);
            let want = model_apply(&mut model, &mut supply, op);
            prop_assert_eq!(got.is_ok(), want, "op {:?} gave {:?}", op, got);

            let chain_supply: u128 = host.query_as(query, &QueryMsg::TotalSupply).unwrap();
            prop_assert_eq!(chain_supply, supply);
            let accounts: Vec<(Address, u128)> =
                host.query_as(query, &QueryMsg::Accounts { start_after: None, limit: 100 }).unwrap();
            let expected: Vec<(Address, u128)> = model.iter().map(|(&a, &n)| (addr(a), n)).collect();
            prop_assert_eq!(&accounts, &expected);
            let sum = accounts.iter().try_fold(0u128, |s, (_, n)| s.checked_add(*n));
            prop_assert_eq!(sum, Some(chain_supply), "balances must add up to the supply");
        }
    }
}
