//! The bank on the mock host: the same decoding, rollback and read-only rules as on chain.

use cairn_module_bank::contract::{execute, instantiate, migrate, query};
use cairn_module_bank::msg::{Address, ExecuteMsg, InitMsg, MigrateMsg, QueryMsg, TokenInfo};
use cairn_sdk::testing::{MockHost, addr};
use cairn_sdk::{Event, hex};

const ADMIN: u8 = 0xad;

fn setup(balances: &[(u8, u128)]) -> MockHost {
    let host = MockHost::new();
    host.instantiate(
        instantiate,
        &InitMsg {
            denom: "cairn".into(),
            admin: Some(addr(ADMIN)),
            balances: balances.iter().map(|&(a, n)| (addr(a), n)).collect(),
        },
    )
    .expect("instantiate");
    host
}

fn exec(host: &MockHost, sender: u8, msg: ExecuteMsg) -> Result<(), String> {
    host.set_caller(addr(sender));
    host.execute(execute, &msg).map(|out| assert!(out.is_empty(), "execute has no output"))
}

fn balance(host: &MockHost, account: u8) -> u128 {
    host.query_as(query, &QueryMsg::Balance { account: addr(account) }).expect("balance query")
}

fn supply(host: &MockHost) -> u128 {
    host.query_as(query, &QueryMsg::TotalSupply).expect("supply query")
}

#[test]
fn transfer_moves_funds_and_emits_an_event() {
    let host = setup(&[(1, 100), (2, 5)]);
    exec(&host, 1, ExecuteMsg::Transfer { to: addr(2), amount: 30 }).unwrap();
    assert_eq!(balance(&host, 1), 70);
    assert_eq!(balance(&host, 2), 35);
    assert_eq!(supply(&host), 105);
    let events = host.take_events();
    assert_eq!(
        events,
        vec![
            Event::new("transfer").attr("from", hex(&addr(1))).attr("to", hex(&addr(2))).attr("amount", "30")
        ]
    );
}

#[test]
fn transfer_to_a_new_account_creates_it_and_spending_everything_deletes_the_sender() {
    let host = setup(&[(1, 10)]);
    exec(&host, 1, ExecuteMsg::Transfer { to: addr(9), amount: 10 }).unwrap();
    assert_eq!(balance(&host, 9), 10);
    assert_eq!(balance(&host, 1), 0);
    let accounts: Vec<(Address, u128)> =
        host.query_as(query, &QueryMsg::Accounts { start_after: None, limit: 10 }).unwrap();
    assert_eq!(accounts, vec![(addr(9), 10)]);
}

#[test]
fn insufficient_funds_names_the_account_and_amounts_and_changes_nothing() {
    let host = setup(&[(1, 100)]);
    let before = host.storage(&host.env().contract);
    let err = exec(&host, 1, ExecuteMsg::Transfer { to: addr(2), amount: 101 }).unwrap_err();
    assert_eq!(err, format!("insufficient funds: {} has 100, needs 101", hex(&addr(1))));
    assert_eq!(host.storage(&host.env().contract), before);
    assert!(host.take_events().is_empty());
}

#[test]
fn spending_from_an_unknown_account_is_rejected() {
    let host = setup(&[(1, 100)]);
    let err = exec(&host, 7, ExecuteMsg::Transfer { to: addr(1), amount: 1 }).unwrap_err();
    assert_eq!(err, format!("unknown account {}: it holds no tokens", hex(&addr(7))));
    let err = exec(&host, 7, ExecuteMsg::Burn { amount: 1 }).unwrap_err();
    assert!(err.starts_with("unknown account"), "{err}");
    // Asking for its balance is fine: an unknown account holds nothing.
    assert_eq!(balance(&host, 7), 0);
}

#[test]
fn zero_amounts_are_rejected() {
    let host = setup(&[(1, 100)]);
    assert_eq!(
        exec(&host, 1, ExecuteMsg::Transfer { to: addr(2), amount: 0 }).unwrap_err(),
        "transfer amount must be positive"
    );
    assert_eq!(exec(&host, 1, ExecuteMsg::Burn { amount: 0 }).unwrap_err(), "burn amount must be positive");
    assert_eq!(
        exec(&host, ADMIN, ExecuteMsg::Mint { to: addr(2), amount: 0 }).unwrap_err(),
        "mint amount must be positive"
    );
}

#[test]
fn admin_mints_and_the_supply_follows() {
    let host = setup(&[(1, 100)]);
    exec(&host, ADMIN, ExecuteMsg::Mint { to: addr(2), amount: 50 }).unwrap();
    assert_eq!(balance(&host, 2), 50);
    assert_eq!(supply(&host), 150);
    assert_eq!(host.take_events()[0].kind, "mint");
}

#[test]
fn mint_by_a_non_admin_is_rejected() {
    let host = setup(&[(1, 100)]);
    let err = exec(&host, 1, ExecuteMsg::Mint { to: addr(1), amount: 5 }).unwrap_err();
    assert_eq!(err, format!("{} is not the bank's admin: only the admin may mint", hex(&addr(1))));
    assert_eq!(supply(&host), 100);
}

#[test]
fn mint_overflow_is_rejected_without_changing_anything() {
    let host = setup(&[(1, u128::MAX - 10)]);
    let err = exec(&host, ADMIN, ExecuteMsg::Mint { to: addr(2), amount: 11 }).unwrap_err();
    assert_eq!(err, format!("overflow: minting 11 on a supply of {} exceeds {}", u128::MAX - 10, u128::MAX));
    assert_eq!(supply(&host), u128::MAX - 10);
    assert_eq!(balance(&host, 2), 0);
    // Exactly up to the limit is fine.
    exec(&host, ADMIN, ExecuteMsg::Mint { to: addr(2), amount: 10 }).unwrap();
    assert_eq!(supply(&host), u128::MAX);
}

#[test]
fn genesis_balances_that_overflow_or_repeat_are_rejected() {
    let host = MockHost::new();
    let init = |balances: Vec<(Address, u128)>| {
        host.instantiate(instantiate, &InitMsg { denom: "cairn".into(), admin: None, balances })
    };
    let err = init(vec![(addr(1), u128::MAX), (addr(2), 1)]).unwrap_err();
    assert!(err.starts_with("overflow: genesis balances"), "{err}");
    let err = init(vec![(addr(1), 1), (addr(1), 1)]).unwrap_err();
    assert_eq!(err, format!("duplicate genesis account {}", hex(&addr(1))));
    let err = init(vec![(addr(1), 0)]).unwrap_err();
    assert_eq!(err, format!("genesis balance of {} is zero", hex(&addr(1))));
    // Failed instantiations left nothing behind.
    assert!(host.storage(&host.env().contract).is_empty());
    let err = host
        .instantiate(instantiate, &InitMsg { denom: "no spaces".into(), admin: None, balances: vec![] })
        .unwrap_err();
    assert!(err.starts_with("invalid denom"), "{err}");
}

#[test]
fn without_an_admin_nobody_mints_and_the_admin_can_renounce() {
    let host = setup(&[(1, 100)]);
    exec(&host, ADMIN, ExecuteMsg::SetAdmin { admin: None }).unwrap();
    let err = exec(&host, ADMIN, ExecuteMsg::Mint { to: addr(1), amount: 1 }).unwrap_err();
    assert_eq!(err, "this bank has no admin: nobody may mint");
    let info: TokenInfo = host.query_as(query, &QueryMsg::Info).unwrap();
    assert_eq!(info, TokenInfo { denom: "cairn".into(), admin: None, total_supply: 100 });
}

#[test]
fn burn_destroys_tokens() {
    let host = setup(&[(1, 100)]);
    exec(&host, 1, ExecuteMsg::Burn { amount: 40 }).unwrap();
    assert_eq!(balance(&host, 1), 60);
    assert_eq!(supply(&host), 60);
    let err = exec(&host, 1, ExecuteMsg::Burn { amount: 61 }).unwrap_err();
    assert_eq!(err, format!("insufficient funds: {} has 60, needs 61", hex(&addr(1))));
}

#[test]
fn accounts_are_paged_in_address_order() {
    let host = setup(&[(3, 3), (1, 1), (2, 2), (0xff, 9)]);
    let page: Vec<(Address, u128)> =
        host.query_as(query, &QueryMsg::Accounts { start_after: None, limit: 2 }).unwrap();
    assert_eq!(page, vec![(addr(1), 1), (addr(2), 2)]);
    let page: Vec<(Address, u128)> =
        host.query_as(query, &QueryMsg::Accounts { start_after: Some(addr(2)), limit: 10 }).unwrap();
    assert_eq!(page, vec![(addr(3), 3), (addr(0xff), 9)]);
    let page: Vec<(Address, u128)> =
        host.query_as(query, &QueryMsg::Accounts { start_after: Some(addr(0xff)), limit: 10 }).unwrap();
    assert!(page.is_empty());
}

#[test]
fn malformed_messages_are_rejected_with_a_message() {
    let host = setup(&[(1, 100)]);
    let err = host.execute_raw(execute, &[9, 9, 9]).unwrap_err();
    assert!(err.starts_with("invalid execute message (3 bytes)"), "{err}");
}

#[test]
fn migrate_keeps_state_and_refuses_a_downgrade() {
    let host = setup(&[(1, 100)]);
    host.migrate(migrate, &MigrateMsg {}).unwrap();
    assert_eq!(balance(&host, 1), 100);
    host.raw_set(b"version", &borsh::to_vec(&2u32).unwrap());
    let err = host.migrate(migrate, &MigrateMsg {}).unwrap_err();
    assert_eq!(err, "cannot migrate bank storage from v2 back to v1");
}

#[test]
fn a_module_spends_its_own_balance_through_a_call() {
    // A module at address 0xee that forwards whatever it is sent to the bank, as itself.
    let host = setup(&[(1, 100)]);
    let bank = host.env().contract;
    exec(&host, 1, ExecuteMsg::Transfer { to: addr(0xee), amount: 10 }).unwrap();
    host.register_module(bank, execute);
    host.register_module(addr(0xee), move |_env: &cairn_sdk::Env, msg: ExecuteMsg| {
        cairn_sdk::call_typed::<_, ()>(&bank, &msg, 1_000_000)
    });
    host.set_contract(addr(0x01));
    host.set_caller(addr(1));
    // Drive it from a throwaway "tx" module: call 0xee, which calls the bank as 0xee.
    let out = host.execute(
        move |_env: &cairn_sdk::Env, msg: ExecuteMsg| {
            cairn_sdk::call(&addr(0xee), &borsh::to_vec(&msg).unwrap(), 1_000_000)
        },
        &ExecuteMsg::Transfer { to: addr(2), amount: 4 },
    );
    assert!(out.is_ok(), "{out:?}");
    host.set_contract(bank);
    assert_eq!(balance(&host, 0xee), 6);
    assert_eq!(balance(&host, 2), 4);
    assert_eq!(balance(&host, 1), 90);
    // The module cannot overspend: the bank's error comes back through both calls.
    host.set_contract(addr(0x01));
    let err = host
        .execute(
            move |_env: &cairn_sdk::Env, msg: ExecuteMsg| {
                cairn_sdk::call(&addr(0xee), &borsh::to_vec(&msg).unwrap(), 1_000_000)
            },
            &ExecuteMsg::Transfer { to: addr(2), amount: 7 },
        )
        .unwrap_err();
    assert!(err.contains(&format!("insufficient funds: {} has 6, needs 7", hex(&addr(0xee)))), "{err}");
}
