//! The committed wot.wasm, pos.wasm and gov.wasm through the real host: the active Sybil module's set becomes the
//! chain's validator set, and the fuel of each typical message is measured (printed with `--nocapture`).
//!
//! The message types are mirrored here field for field (this crate does not depend on those modules): a drift
//! fails these tests at the first decode, with the module's own error message.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_abci::FinalizeBlockResponse;
use cairn_primitives::{Keypair, Message, PublicKey, Validator};
use serde_json::json;

use crate::common::*;

const WOT_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/wot.wasm");
const POS_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/pos.wasm");
const GOV_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/gov.wasm");

type Addr = [u8; 32];

/// `cairn_module_wot::msg::Params`.
#[derive(Clone, BorshSerialize)]
struct WotParams {
    min_certs: u32,
    cert_period: u64,
    max_issued: u32,
    cert_validity: u64,
    distance_max_steps: u32,
    distance_min_reached_pct: u32,
    referee_root: u32,
    max_members: u32,
    smith_min_certs: u32,
    smith_cert_period: u64,
    smith_max_issued: u32,
    smith_cert_validity: u64,
    max_smiths: u32,
    smith_power: u64,
    max_work_per_block: u32,
    quota_fuel: u64,
    quota_bytes: u64,
    membership_sink: Option<Addr>,
}

fn wot_params() -> WotParams {
    WotParams {
        min_certs: 3,
        cert_period: 1,
        max_issued: 100,
        cert_validity: 1_000_000,
        distance_max_steps: 5,
        distance_min_reached_pct: 80,
        referee_root: 5,
        max_members: 20_000,
        smith_min_certs: 2,
        smith_cert_period: 1,
        smith_max_issued: 12,
        smith_cert_validity: 1_000_000,
        max_smiths: 32,
        smith_power: 10,
        max_work_per_block: 256,
        quota_fuel: 1,
        quota_bytes: 1,
        membership_sink: None,
    }
}

/// `cairn_module_wot::msg::InitMsg`.
#[derive(BorshSerialize)]
struct WotInit {
    params: WotParams,
    members: Vec<Addr>,
    certs: Vec<(u32, u32)>,
    smiths: Vec<u32>,
    smith_certs: Vec<(u32, u32)>,
}

/// `cairn_module_wot::msg::ExecuteMsg`.
#[derive(BorshSerialize)]
enum WotMsg {
    Certify {
        to: Addr,
    },
    Join,
    #[allow(dead_code)]
    Leave,
    SmithCertify {
        to: Addr,
    },
    JoinSmiths,
}

/// Every index in `0..n` certifies every other.
fn mesh(n: u32) -> Vec<(u32, u32)> {
    (0..n).flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b))).collect()
}

fn pk(i: u64) -> Addr {
    key(i).public().0
}

fn genesis(label: &str, path: &str, init: Vec<u8>, extra: serde_json::Value) -> serde_json::Value {
    let mut g = json!({
        "modules": [{ "label": label, "wasm_path": path, "init_msg_hex": hex::encode(init) }],
        "sybil_module": label,
    });
    if let (Some(g), Some(extra)) = (g.as_object_mut(), extra.as_object()) {
        g.extend(extra.clone());
    }
    g
}

fn start(g: &serde_json::Value, code_path: &str) -> (Chain, cairn_primitives::Address, Vec<Validator>) {
    let mut chain = Chain {
        app: cairn_execution::ExecApp::in_memory(cairn_execution::ExecConfig::default()).expect("app"),
        chain_id: cairn_primitives::ChainId::new(CHAIN).expect("id"),
        height: 0,
        nonces: Default::default(),
        price: 0,
        proposer: Default::default(),
    };
    let init = chain.init(g).expect("init chain");
    let code = std::fs::read(code_path).expect("wasm");
    (chain, genesis_instance(&code, 0), init.validators)
}

fn send<M: BorshSerialize>(
    chain: &mut Chain,
    module: cairn_primitives::Address,
    who: &Keypair,
    msg: &M,
) -> (FinalizeBlockResponse, u64) {
    let m = Message::Execute { contract: module, msg: borsh::to_vec(msg).expect("msg") };
    let tx = chain.tx(who, vec![m]);
    let resp = chain.block(vec![tx]);
    let r = &resp.tx_results[0];
    assert!(r.is_ok(), "tx failed: {}", r.log);
    let fuel = r.gas_used;
    (resp, fuel)
}

fn set(validators: &[Validator]) -> Vec<(Addr, u64)> {
    let mut v: Vec<_> = validators.iter().map(|v| (v.public_key.0, v.power)).collect();
    v.sort();
    v
}

/// Issue 13's quota through the web of trust: the active wot module's `quota` export grants each *member* a fee-less
/// allowance; a fresh key (the same person's, or a newcomer's before joining) gets none, so making keys buys nothing.
#[test]
fn wot_members_transact_free_on_the_webs_quota_and_fresh_keys_do_not() {
    const QUOTA_FUEL: u64 = 10 * FUEL;
    let mut params = wot_params();
    (params.quota_fuel, params.quota_bytes) = (QUOTA_FUEL, 100_000);
    let init = WotInit {
        params,
        certs: mesh(10),
        smith_certs: mesh(4),
        members: (0..10).map(pk).collect(),
        smiths: (0..4).collect(),
    };
    let g = genesis(
        "wot",
        WOT_WASM,
        borsh::to_vec(&init).expect("init"),
        json!({ "fees": { "quota_window": 1_000 } }),
    );
    let (mut chain, wot, _) = start(&g, WOT_WASM);
    let quota_left = |chain: &Chain, who: &Keypair| -> (u64, u64) {
        let q = chain.query(&format!("quota/{}", who.public().to_hex()), vec![]);
        assert_eq!(q.code, 0, "{}", q.log);
        borsh::from_slice(&q.value).expect("(u64, u64)")
    };
    let newcomer = key(20);
    let certify = |to: &Keypair| WotMsg::Certify { to: to.public().0 };

    // A member's price-0 tx runs on the web's quota.
    let (resp, used) = send(&mut chain, wot, &key(3), &certify(&newcomer));
    assert_eq!(resp.tx_results[0].code, 0);
    assert_eq!(quota_left(&chain, &key(3)).0, QUOTA_FUEL - used, "the member's quota paid for it");
    // Not yet a member: no quota, refused before it takes a mempool slot.
    let c = chain.check(chain.tx_with(&newcomer, 0, FUEL, vec![]));
    assert_eq!(c.code, cairn_execution::codes::QUOTA, "{}", c.log);
    // A second key of member 3 is attested by nothing.
    let c = chain.check(chain.tx_with(&key(33), 0, FUEL, vec![]));
    assert_eq!(c.code, cairn_execution::codes::QUOTA, "{}", c.log);
    // A second certification is not yet enough (3 are needed to join): still no quota.
    send(&mut chain, wot, &key(4), &certify(&newcomer));
    assert_eq!(quota_left(&chain, &newcomer), (0, 0), "two certifications grant nothing");
    // The third makes the newcomer eligible: its quota pays for its own Join, and it stays once it is a member.
    send(&mut chain, wot, &key(5), &certify(&newcomer));
    send(&mut chain, wot, &newcomer, &WotMsg::Join);
    let left = quota_left(&chain, &newcomer);
    assert!(left.0 > 0 && left.0 < QUOTA_FUEL, "its Join ran on its quota: {left:?}");
    assert_eq!(chain.check(chain.tx_with(&newcomer, 1, FUEL, vec![])).code, 0);
}

#[test]
fn wot_smiths_are_the_validator_set() {
    let members: Vec<Addr> = (0..10).map(pk).collect();
    let smiths: Vec<Addr> = (0..7).map(pk).collect();
    let init = WotInit {
        params: wot_params(),
        certs: mesh(10),
        smith_certs: mesh(7),
        members,
        smiths: (0..7).collect(),
    };
    let g = genesis("wot", WOT_WASM, borsh::to_vec(&init).expect("init"), json!({}));
    let (mut chain, wot, genesis_set) = start(&g, WOT_WASM);
    let mut expected: Vec<_> = smiths.iter().map(|s| (*s, 10)).collect();
    expected.sort();
    assert_eq!(set(&genesis_set), expected, "InitChain reports the 7 founding smiths");

    // A newcomer: three certifications, then Join (the distance rule runs in the module).
    let newcomer = key(20);
    let mut certify = 0;
    for i in 0..3 {
        certify = send(&mut chain, wot, &key(i), &WotMsg::Certify { to: newcomer.public().0 }).1;
    }
    let (_, join) = send(&mut chain, wot, &newcomer, &WotMsg::Join);
    // Member 8 becomes a smith: two smith certifications, then JoinSmiths → a validator update.
    let (_, smith_certify) = send(&mut chain, wot, &key(0), &WotMsg::SmithCertify { to: pk(8) });
    send(&mut chain, wot, &key(1), &WotMsg::SmithCertify { to: pk(8) });
    let (resp, join_smiths) = send(&mut chain, wot, &key(8), &WotMsg::JoinSmiths);
    assert_eq!(resp.validator_updates, vec![Validator { public_key: PublicKey(pk(8)), power: 10 }]);
    assert!(chain.block(vec![]).validator_updates.is_empty(), "reported once");
    println!(
        "wot fuel (10 members): certify {certify}, join {join}, smith_certify {smith_certify}, join_smiths {join_smiths}"
    );
    assert!(join < 10_000_000, "join fits a default tx: {join}");
}

/// `cairn_module_pos::msg::Params` (hybrid = None).
#[derive(BorshSerialize)]
struct PosParams {
    unbonding_period: u64,
    max_validators: u32,
    power_reduction: u128,
    slash_double_sign_ppm: u32,
    slash_downtime_ppm: u32,
    signed_blocks_window: u64,
    min_signed_pct: u32,
    downtime_jail_blocks: u64,
    max_evidence_age: u64,
    max_entries: u32,
    max_delegations: u32,
    min_self_bond: u128,
    max_work_per_block: u32,
    system: Addr,
    hybrid: Option<(Addr, u64)>,
}

#[derive(BorshSerialize)]
struct PosInit {
    params: PosParams,
    balances: Vec<(Addr, u128)>,
    validators: Vec<(Addr, u128)>,
    members: Vec<Addr>,
}

#[derive(BorshSerialize)]
enum PosMsg {
    #[allow(dead_code)]
    Bond {
        amount: u128,
    },
    Delegate {
        validator: Addr,
        amount: u128,
    },
    Unbond {
        validator: Addr,
        amount: u128,
    },
    #[allow(dead_code)]
    Redelegate {
        src: Addr,
        dst: Addr,
        amount: u128,
    },
    #[allow(dead_code)]
    Unjail,
    BeginBlock {
        signers: Option<Vec<Addr>>,
        misbehaviour: Vec<(Addr, u64, u8)>,
    },
}

#[test]
fn pos_top_n_and_double_sign_through_the_host() {
    // key(9) stands in for the system caller of `ExecuteMsg::BeginBlock` (the host uses the `begin_block` entry
    // point instead: see evidence.rs).
    let params = PosParams {
        unbonding_period: 10,
        max_validators: 3,
        power_reduction: 1,
        slash_double_sign_ppm: 50_000,
        slash_downtime_ppm: 10_000,
        signed_blocks_window: 100,
        min_signed_pct: 50,
        downtime_jail_blocks: 10,
        max_evidence_age: 100,
        max_entries: 7,
        max_delegations: 16,
        min_self_bond: 1,
        max_work_per_block: 256,
        system: pk(9),
        hybrid: None,
    };
    let init = PosInit {
        params,
        balances: (0..10).map(|i| (pk(i), 10_000)).collect(),
        validators: vec![(pk(0), 400), (pk(1), 300), (pk(2), 200), (pk(3), 100)],
        members: vec![],
    };
    let g = genesis("pos", POS_WASM, borsh::to_vec(&init).expect("init"), json!({}));
    let (mut chain, pos, genesis_set) = start(&g, POS_WASM);
    let mut top3 = vec![(pk(0), 400), (pk(1), 300), (pk(2), 200)];
    top3.sort();
    assert_eq!(set(&genesis_set), top3, "the top 3 of 4 by stake");

    let (resp, delegate) =
        send(&mut chain, pos, &key(5), &PosMsg::Delegate { validator: pk(3), amount: 250 });
    let mut changes = set(&resp.validator_updates);
    changes.sort();
    let mut want = vec![(pk(2), 0), (pk(3), 350)];
    want.sort();
    assert_eq!(changes, want, "3 overtakes 2");
    let (_, unbond) = send(&mut chain, pos, &key(5), &PosMsg::Unbond { validator: pk(3), amount: 10 });
    let signers: Vec<Addr> = (0..3).map(pk).collect();
    let (_, begin) = send(
        &mut chain,
        pos,
        &key(9),
        &PosMsg::BeginBlock { signers: Some(signers.clone()), misbehaviour: vec![] },
    );
    let offence = chain.height - 1;
    let (resp, slash) = send(
        &mut chain,
        pos,
        &key(9),
        &PosMsg::BeginBlock { signers: Some(signers), misbehaviour: vec![(pk(0), offence, 0)] },
    );
    assert!(
        resp.validator_updates.contains(&Validator { public_key: PublicKey(pk(0)), power: 0 }),
        "the double-signer leaves the set: {:?}",
        resp.validator_updates
    );
    println!(
        "pos fuel: delegate {delegate}, unbond {unbond}, begin_block(3 signers) {begin}, begin_block+slash {slash}"
    );
}

#[derive(BorshSerialize)]
struct GovParams {
    min_deposit: u128,
    voting_period: u64,
    quorum_pct: u32,
    threshold_pct: u32,
    veto_pct: u32,
    min_enactment_delay: u64,
    max_open_proposals: u32,
    system: Addr,
    sybil_modules: Vec<Addr>,
    engines: Vec<String>,
}

#[derive(BorshSerialize)]
struct GovInit {
    params: GovParams,
    validators: Vec<(Addr, u64)>,
    balances: Vec<(Addr, u128)>,
}

#[derive(BorshSerialize)]
enum GovMsg {
    Propose { action: GovAction, deposit: u128 },
    Vote { id: u64, option: u8 },
}

#[derive(BorshSerialize)]
enum GovAction {
    #[allow(dead_code)]
    SetParam {
        key: String,
        value: Vec<u8>,
    },
    #[allow(dead_code)]
    SetUploadPermission(u8),
    SwitchSybil {
        module: Addr,
        height: u64,
    },
}

#[derive(BorshDeserialize, Debug)]
struct PendingAction(u64, u8, Addr, u64);

#[test]
fn gov_queues_a_passed_switch_for_the_host() {
    let target = [7u8; 32];
    let init = GovInit {
        params: GovParams {
            min_deposit: 10,
            voting_period: 3,
            quorum_pct: 33,
            threshold_pct: 50,
            veto_pct: 33,
            min_enactment_delay: 2,
            max_open_proposals: 4,
            system: [0; 32],
            sybil_modules: vec![target],
            engines: vec!["bft".into()],
        },
        validators: (0..4).map(|i| (pk(i), 10)).collect(),
        balances: (0..4).map(|i| (pk(i), 100)).collect(),
    };
    let g = json!({
        "modules": [{ "label": "gov", "wasm_path": GOV_WASM, "init_msg_hex": hex::encode(borsh::to_vec(&init).expect("init")) }],
    });
    let (mut chain, gov, _) = start(&g, GOV_WASM);
    let (_, propose) = send(
        &mut chain,
        gov,
        &key(0),
        &GovMsg::Propose { action: GovAction::SwitchSybil { module: target, height: 50 }, deposit: 10 },
    );
    let (_, vote) = send(&mut chain, gov, &key(1), &GovMsg::Vote { id: 0, option: 0 });
    send(&mut chain, gov, &key(2), &GovMsg::Vote { id: 0, option: 0 });
    let resp = chain.block(vec![]);
    let ev = resp.events.iter().find(|e| e.kind == "gov_action").expect("gov_action event at the vote's end");
    assert!(ev.attributes.iter().any(|a| a.key == "kind" && a.value == "switch_sybil"), "{ev:?}");
    // The queue the host reads: query PendingActions (variant 3).
    let r = chain.query(&format!("module/{}", gov.to_hex()), vec![3]);
    let pending = <Vec<PendingAction>>::try_from_slice(&r.value).expect("pending actions");
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].0, pending[0].1, pending[0].2, pending[0].3), (0, 2, target, 50));
    println!("gov fuel: propose {propose}, vote {vote}");
}

/// A `Join` through the real host on a random web of `n` members with 10 certifications each; returns its fuel.
///
/// A founding web is written by one `instantiate`, and the SDK's bump allocator frees nothing within a call, so
/// the founding web is bounded by the 16 MiB guest memory (a few thousand certifications); the figure at 10,000
/// members is extrapolated from two sizes (the cost is linear in members + certifications) and measured natively
/// in `modules/wot` (`bench.rs`).
fn join_fuel(n: u32) -> u64 {
    let a = |i: u32| -> Addr {
        let mut out = [0u8; 32];
        out[..4].copy_from_slice(&i.to_be_bytes());
        out[31] = 1;
        out
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut certs = Vec::new();
    for i in 0..n {
        let mut chosen = std::collections::BTreeSet::new();
        while chosen.len() < 10 {
            let j = (next() % u64::from(n)) as u32;
            if j != i {
                chosen.insert(j);
            }
        }
        certs.extend(chosen.into_iter().map(|j| (j, i)));
    }
    // Three real keys (members n, n+1, n+2, each certified by three others) certify the newcomer.
    let mut members: Vec<Addr> = (0..n).map(a).collect();
    for i in 0..3u32 {
        members.push(pk(u64::from(i)));
        for j in 0..3u32 {
            certs.push((j * (n / 4) + i, n + i));
        }
    }
    let init = WotInit { params: wot_params(), members, certs, smiths: vec![], smith_certs: vec![] };
    let g = genesis("wot", WOT_WASM, borsh::to_vec(&init).expect("init"), json!({}));
    let (mut chain, wot, _) = start(&g, WOT_WASM);
    let newcomer = key(20);
    for i in 0..3 {
        send(&mut chain, wot, &key(i), &WotMsg::Certify { to: newcomer.public().0 });
    }
    let m = Message::Execute { contract: wot, msg: borsh::to_vec(&WotMsg::Join).expect("msg") };
    let tx = chain.tx_with(&newcomer, 0, 100_000_000, vec![m]);
    let resp = chain.block(vec![tx]);
    let r = &resp.tx_results[0];
    assert!(r.is_ok(), "join at {n} members failed: {}", r.log);
    r.gas_used
}

#[test]
fn wot_join_fuel_grows_linearly_with_the_web() {
    let small = join_fuel(250);
    let large = join_fuel(500);
    let per_member = (large - small) / 250;
    println!(
        "wot join fuel: {small} at 253 members, {large} at 503 members; ≈ {per_member} per member (10 certifications \
         each), so ≈ {} at 10,000 members",
        small + per_member * (10_000 - 253)
    );
    assert!(large > small, "a larger web costs more to search");
    assert!(large < 2 * small + 2_000_000, "linear, not quadratic: {small} → {large}");
}
