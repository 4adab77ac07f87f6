//! The host applies governance's passed actions (src/app/gov.rs), block by block on the real ExecApp: Sybil module
//! switches that govern exactly at H+2 and remove old validators, engine switches returned as consensus-param
//! updates, chain parameters; the host's own checks, shown with a stand-in gov module that checks nothing; and the
//! real gov.wasm's refusals, shown through the host.

use borsh::BorshDeserialize;
use cairn_abci::{EngineKind, EngineSwitch, Event, FinalizeBlockResponse};
use cairn_execution::app::gov::{
    GovAction, GovUploadPermission, ack_action_msg, pending_actions_query, set_validators_msg,
};
use cairn_module_gov::msg as gov;
use cairn_module_pos::msg as pos;
use cairn_module_wot::msg as wot;
use cairn_primitives::{Address, Height, Keypair, Message, PublicKey, Validator, ValidatorSet};
use serde_json::json;

use crate::common::*;

const POA_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/poa.wasm");
const WOT_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/wot.wasm");
const POS_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/pos.wasm");
const GOV_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/gov.wasm");

fn pk(i: u64) -> [u8; 32] {
    key(i).public().0
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("wasm")
}

/// The node's view of the validator sets (framework/node's ChainState): updates returned at H decide H+2.
struct Model {
    height: u64,
    next: ValidatorSet,
    next_next: ValidatorSet,
}

impl Model {
    fn new(genesis: &[Validator]) -> Model {
        let set = ValidatorSet::new(genesis.to_vec()).expect("genesis set");
        Model { height: 0, next: set.clone(), next_next: set }
    }

    fn advance(&mut self, resp: &FinalizeBlockResponse) {
        self.height += 1;
        let after = self.next_next.apply_updates(&resp.validator_updates).expect("a set the node accepts");
        self.next = std::mem::replace(&mut self.next_next, after);
    }

    /// The set deciding `h` (the next two heights only).
    fn at(&self, h: u64) -> Vec<(Address, u64)> {
        let set = if h == self.height + 1 {
            &self.next
        } else {
            assert_eq!(h, self.height + 2, "only the next two heights are known");
            &self.next_next
        };
        set.validators().iter().map(|v| (Address(v.public_key.0), v.power)).collect()
    }
}

/// A chain that records every block's txs, so a second independent host can replay them.
struct Recorded {
    chain: Chain,
    model: Model,
    /// Each block's txs and the app hash it produced.
    blocks: Vec<(Vec<Vec<u8>>, cairn_primitives::Hash)>,
    genesis: serde_json::Value,
}

impl Recorded {
    fn new(genesis: serde_json::Value) -> Recorded {
        let mut chain = Chain {
            app: cairn_execution::ExecApp::in_memory(cairn_execution::ExecConfig::default()).expect("app"),
            chain_id: cairn_primitives::ChainId::new(CHAIN).expect("id"),
            height: 0,
            nonces: Default::default(),
            price: 0,
            proposer: Default::default(),
        };
        let init = chain.init(&genesis).expect("init chain");
        Recorded { chain, model: Model::new(&init.validators), blocks: Vec::new(), genesis }
    }

    fn block(&mut self, txs: Vec<Vec<u8>>) -> FinalizeBlockResponse {
        let resp = self.chain.block(txs.clone());
        self.blocks.push((txs, resp.app_hash));
        self.model.advance(&resp);
        resp
    }

    /// One message in its own block; returns the block's response (the tx's result is `tx_results[0]`).
    fn send<M: borsh::BorshSerialize>(
        &mut self,
        to: Address,
        who: &Keypair,
        msg: &M,
    ) -> FinalizeBlockResponse {
        let m = Message::Execute { contract: to, msg: borsh::to_vec(msg).expect("msg") };
        let tx = self.chain.tx(who, vec![m]);
        self.block(vec![tx])
    }

    fn ok<M: borsh::BorshSerialize>(&mut self, to: Address, who: &Keypair, msg: &M) -> FinalizeBlockResponse {
        let resp = self.send(to, who, msg);
        assert!(resp.tx_results[0].is_ok(), "tx failed: {}", resp.tx_results[0].log);
        resp
    }

    /// Empty blocks until the chain is at `h`; returns each block's response.
    fn until(&mut self, h: u64) -> Vec<FinalizeBlockResponse> {
        let mut out = Vec::new();
        while self.chain.height < h {
            out.push(self.block(vec![]));
        }
        out
    }

    fn query<T: BorshDeserialize>(&self, module: Address, msg: &impl borsh::BorshSerialize) -> T {
        let r = self.chain.query(&format!("module/{}", module.to_hex()), borsh::to_vec(msg).expect("q"));
        assert_eq!(r.code, 0, "query failed: {}", r.log);
        T::try_from_slice(&r.value).expect("answer")
    }
}

fn events<'a>(resp: &'a FinalizeBlockResponse, kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    resp.events.iter().filter(move |e| e.kind == kind)
}

fn attr<'a>(e: &'a Event, key: &str) -> &'a str {
    e.attributes.iter().find(|a| a.key == key).map(|a| a.value.as_str()).unwrap_or_default()
}

fn sorted(mut v: Vec<(Address, u64)>) -> Vec<(Address, u64)> {
    v.sort();
    v
}

fn addrs(v: Vec<([u8; 32], u64)>) -> Vec<(Address, u64)> {
    sorted(v.into_iter().map(|(a, p)| (Address(a), p)).collect())
}

// ---------------------------------------------------------------------------------------------------------------
// The growth path on one chain, with the real modules.

const GOV_INDEX: u64 = 3;

struct Growth {
    poa: Address,
    wot: Address,
    pos: Address,
    gov: Address,
}

/// PoA (4 authorities: keys 0–3) governs; wot (10 members: keys 0–9, smiths 3–9) and hybrid pos (validators 5–9
/// and non-member 20, members 0–9, power capped at 6,000) wait; gov mirrors the PoA set and holds deposits for keys 0–9.
fn growth_genesis() -> (serde_json::Value, Growth) {
    let (poa_code, wot_code, pos_code, gov_code) =
        (read(POA_WASM), read(WOT_WASM), read(POS_WASM), read(GOV_WASM));
    let at = |code: &[u8], i| genesis_instance(code, i);
    let addrs = Growth {
        poa: at(&poa_code, 0),
        wot: at(&wot_code, 1),
        pos: at(&pos_code, 2),
        gov: at(&gov_code, GOV_INDEX),
    };
    let poa_init = cairn_module_poa::msg::InitMsg {
        authorities: (0..4).map(|i| (pk(i), 10)).collect(),
        max_authorities: 16,
        proposal_ttl: 100,
    };
    let wot_params = wot::Params {
        cert_period: 1,
        smith_cert_period: 1,
        smith_min_certs: 2,
        smith_power: 5,
        ..wot::Params::default()
    };
    let wot_init = wot::InitMsg::full_mesh(wot_params, (0..10).map(pk).collect(), (3..10).collect());
    let pos_init = pos::InitMsg {
        params: pos::Params {
            unbonding_period: 10,
            power_reduction: 1,
            min_self_bond: 1,
            hybrid: Some(pos::Hybrid { membership_source: [0; 32], max_power_per_member: 6_000 }),
            ..pos::Params::default()
        },
        balances: (0..10)
            .chain([20])
            .map(|i| (pk(i), 10_000))
            .chain((100..150).map(|i| (pk(i), 1_000)))
            .collect(),
        // Key 20 bonds the most but is no member: in hybrid mode it has no power.
        validators: (5..10).map(|i| (pk(i), 1_000 + 100 * i as u128)).chain([(pk(20), 9_000)]).collect(),
        members: (0..10).map(pk).collect(),
    };
    let gov_init = gov::InitMsg {
        params: gov::Params {
            min_deposit: 100,
            voting_period: 3,
            min_enactment_delay: 2,
            sybil_modules: vec![addrs.wot.0, addrs.pos.0],
            engines: vec!["bft".into(), "snow".into()],
            ..gov::Params::default()
        },
        validators: (0..4).map(|i| (pk(i), 10)).collect(),
        balances: (0..10).map(|i| (pk(i), 1_000)).collect(),
    };
    let module = |label: &str, path: &str, init: Vec<u8>| json!({ "label": label, "wasm_path": path, "init_msg_hex": hex::encode(init) });
    let g = json!({
        "modules": [
            module("poa", POA_WASM, borsh::to_vec(&poa_init).expect("poa")),
            module("wot", WOT_WASM, borsh::to_vec(&wot_init).expect("wot")),
            module("pos", POS_WASM, borsh::to_vec(&pos_init).expect("pos")),
            module("gov", GOV_WASM, borsh::to_vec(&gov_init).expect("gov")),
        ],
        "sybil_module": "poa",
        "gov_module": "gov",
    });
    (g, addrs)
}

/// Proposes `action` (by `proposer`), has `voters` (two at most) vote yes, and runs the chain to the block whose
/// `end_block` tallies the vote; returns the proposal id, that block's response and the fuel of the
/// proposal and of the first vote.
fn pass(
    c: &mut Recorded,
    gov_addr: Address,
    proposer: u64,
    voters: &[u64],
    action: gov::Action,
) -> (u64, FinalizeBlockResponse, u64, u64) {
    let r = c.ok(gov_addr, &key(proposer), &gov::ExecuteMsg::Propose { action, deposit: 100 });
    let propose_fuel = r.tx_results[0].gas_used;
    let submitted = c.chain.height;
    let id = u64::try_from_slice(&output(&r.tx_results[0])).expect("id");
    let mut vote_fuel = 0;
    for v in voters {
        let r = c.ok(gov_addr, &key(*v), &gov::ExecuteMsg::Vote { id, option: gov::VoteOption::Yes });
        vote_fuel = vote_fuel.max(r.tx_results[0].gas_used);
    }
    let tally = c.until(submitted + 3).pop().expect("the tally block");
    (id, tally, propose_fuel, vote_fuel)
}

#[test]
fn governance_grows_poa_to_wot_to_hybrid_pos_each_set_governing_at_h_plus_2_on_two_identical_hosts() {
    let (g, m) = growth_genesis();
    let mut c = Recorded::new(g.clone());
    let poa_set = sorted((0..4).map(|i| (Address(pk(i)), 10)).collect());
    assert_eq!(c.model.at(1), poa_set, "PoA's 4 authorities decide the first blocks");

    // 1. PoA → wot at H1. Proposed at 1, voted at 2 and 3, tallied (and scheduled by the host) at 4.
    let h1 = 8;
    let action = gov::Action::SwitchSybil { module: m.wot.0, height: h1 };
    let (_, r, propose_fuel, vote_fuel) = pass(&mut c, m.gov, 0, &[1, 2], action);
    {
        assert_eq!(c.chain.height, 4);
        let applied: Vec<_> = events(&r, "gov_applied").collect();
        assert_eq!(
            applied.len(),
            1,
            "the host applies the action in the block that passes it: {:?}",
            r.events
        );
        assert_eq!(attr(applied[0], "kind"), "switch_sybil");
        let pending: Vec<(u64, gov::Action)> = c.query(m.gov, &gov::QueryMsg::PendingActions);
        assert!(pending.is_empty(), "the host acknowledged the action: {pending:?}");
    }
    let before = c.until(h1 - 1);
    assert!(before.iter().all(|r| r.validator_updates.is_empty()), "nothing changes before H1");
    let r = c.block(vec![]);
    assert_eq!(c.chain.height, h1);
    let switched = events(&r, "sybil_switched").next().expect("sybil_switched at H1");
    assert_eq!(attr(switched, "validators"), "7");
    let smiths: Vec<([u8; 32], u64)> = c.query(m.wot, &wot::QueryMsg::Smiths);
    let wot_set = addrs(smiths);
    assert_eq!(wot_set.len(), 7);
    // Old validators 0–2 leave with power 0; 3 stays with the new module's weight.
    for i in 0..3 {
        assert!(r.validator_updates.contains(&Validator { public_key: PublicKey(pk(i)), power: 0 }));
    }
    assert_eq!(c.model.at(h1 + 1), poa_set, "H1+1 is still decided by the old set");
    assert_eq!(c.model.at(h1 + 2), wot_set, "from H1+2 the set is exactly wot's smiths");
    let mirrored: Vec<([u8; 32], u64)> = c.query(m.gov, &gov::QueryMsg::Validators);
    assert_eq!(addrs(mirrored), wot_set, "gov learnt the new set through SetValidators");

    // 2. wot → hybrid pos at H2, with 50 stakers delegating meanwhile. Proposers and voters are wot smiths now.
    let stakers: Vec<Vec<u8>> = (100..150u64)
        .map(|i| {
            let msg = pos::ExecuteMsg::Delegate { validator: pk(5 + i % 4), amount: 500 };
            let m = Message::Execute { contract: m.pos, msg: borsh::to_vec(&msg).expect("msg") };
            c.chain.tx(&key(i), vec![m])
        })
        .collect();
    let r = c.block(stakers);
    assert!(r.tx_results.iter().all(|t| t.is_ok()), "delegations: {:?}", r.tx_results[0].log);
    let start = c.chain.height + 1;
    let h2 = start + 3 + 2 + 2;
    pass(&mut c, m.gov, 3, &[4, 5], gov::Action::SwitchSybil { module: m.pos.0, height: h2 });
    let wot_still = c.until(h2 - 1);
    assert!(wot_still.iter().all(|r| r.validator_updates.is_empty()));
    let r = c.block(vec![]);
    assert!(events(&r, "sybil_switched").next().is_some(), "switched at H2: {:?}", r.events);
    let active: Vec<([u8; 32], u64)> = c.query(m.pos, &pos::QueryMsg::ActiveSet);
    let pos_set = addrs(active);
    let mut want: Vec<(Address, u64)> = (5..9).map(|i| (Address(pk(i)), 6_000)).collect();
    want.push((Address(pk(9)), 1_900));
    assert_eq!(pos_set, sorted(want), "members only (not 20), capped at 6,000 (5–8 hold 7,000+)");
    for i in 3..5 {
        assert!(r.validator_updates.contains(&Validator { public_key: PublicKey(pk(i)), power: 0 }));
    }
    assert_eq!(c.model.at(h2 + 1), wot_set);
    assert_eq!(c.model.at(h2 + 2), pos_set, "from H2+2 the set is exactly pos's");

    // 3. pos keeps governing after the switch: a delegation changes a power, the change passes through.
    let r = c.ok(m.pos, &key(120), &pos::ExecuteMsg::Delegate { validator: pk(9), amount: 200 });
    assert_eq!(r.validator_updates, vec![Validator { public_key: PublicKey(pk(9)), power: 2_100 }]);
    let active: Vec<([u8; 32], u64)> = c.query(m.pos, &pos::QueryMsg::ActiveSet);
    c.block(vec![]);
    assert_eq!(c.model.at(c.chain.height + 1), addrs(active));

    // 4. The engine: bft → snow at H3, returned as a consensus-param update in the block that passes it.
    let h3 = c.chain.height + 1 + 3 + 2 + 5;
    let action = gov::Action::SwitchEngine { engine: "snow".into(), height: h3, params: vec![] };
    let (id, r, ..) = pass(&mut c, m.gov, 5, &[6], action);
    let cp = r.consensus_param_updates.expect("a consensus-param update when the engine switch passes");
    assert_eq!(cp.engine, EngineKind::Bft);
    assert_eq!(cp.engine_switch, Some(EngineSwitch { engine: EngineKind::Snow, height: Height(h3) }));
    let p: Option<gov::Proposal> = c.query(m.gov, &gov::QueryMsg::Proposal { id });
    assert_eq!(p.expect("proposal").status, gov::Status::Passed);
    println!("gov fuel through the host (4 validators): propose {propose_fuel}, vote {vote_fuel}");

    // A second, independent host fed the same blocks: the same app hash at every height.
    let mut twin = Chain::new(c.genesis.clone());
    for (i, (txs, hash)) in c.blocks.iter().enumerate() {
        assert_eq!(twin.block(txs.clone()).app_hash, *hash, "app hash at height {}", i + 1);
    }
    assert_eq!(twin.app.info_sync().last_height, Height(c.chain.height));
}

/// The real gov.wasm refuses bad proposals; through the host each is a failed tx naming its cause.
#[test]
fn bad_governance_fails_as_a_tx_naming_the_cause() {
    let (g, m) = growth_genesis();
    let mut c = Recorded::new(g);
    c.until(5);
    let cases: Vec<(u64, gov::Action, u128, String)> = vec![
        (
            0,
            gov::Action::SwitchSybil { module: m.wot.0, height: 3 },
            100,
            "switch height 3 is in the past".into(),
        ),
        (
            0,
            gov::Action::SwitchSybil { module: m.poa.0, height: 50 },
            100,
            format!("{} is not a Sybil module", hex::encode(m.poa.0)),
        ),
        (
            7,
            gov::Action::SwitchSybil { module: m.wot.0, height: 50 },
            100,
            format!("{} is not a validator", hex::encode(pk(7))),
        ),
        (
            0,
            gov::Action::SwitchSybil { module: m.wot.0, height: 50 },
            99,
            "deposit 99 is below the minimum".into(),
        ),
        (
            0,
            gov::Action::SwitchEngine { engine: "raft".into(), height: 50, params: vec![] },
            100,
            "unknown consensus engine \"raft\"".into(),
        ),
    ];
    for (who, action, deposit, cause) in cases {
        let r = c.send(m.gov, &key(who), &gov::ExecuteMsg::Propose { action, deposit });
        let t = &r.tx_results[0];
        assert!(!t.is_ok(), "accepted, expected a failure naming {cause:?}");
        assert!(t.log.contains(&cause), "{:?} does not name {cause:?}", t.log);
    }
    // Only the host acknowledges actions and reports validators.
    let r = c.send(m.gov, &key(0), &gov::ExecuteMsg::AckAction { id: 0 });
    assert!(r.tx_results[0].log.contains("only the host"), "{}", r.tx_results[0].log);
    let r = c.send(m.gov, &key(0), &gov::ExecuteMsg::SetValidators { updates: vec![(pk(9), 100)] });
    assert!(r.tx_results[0].log.contains("only the host"), "{}", r.tx_results[0].log);
    assert!(r.validator_updates.is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// The host's own checks, with a stand-in gov (tests/fixtures/gov_stub.wat) that queues whatever it is sent.

struct Stub {
    c: Recorded,
    a: Address,
    b: Address,
    empty: Address,
    gov: Address,
    counter: Address,
}

/// Sybil modules `a` (keys 1, 2 at power 5, active) and `b` (keys 2, 3 at power 7), `empty` (reports nothing),
/// the stub gov, and a counter (not a Sybil module).
fn stub_chain() -> Stub {
    let sybil = wat("sybil.wat");
    let stub = wat("gov_stub.wat");
    let counter_code = counter();
    let set = |v: Vec<(u64, u64)>| {
        hex::encode(borsh::to_vec(&v.into_iter().map(|(i, p)| (pk(i), p)).collect::<Vec<_>>()).expect("set"))
    };
    let g = json!({
        "modules": [
            { "label": "a", "wasm_hex": hex::encode(&sybil), "init_msg_hex": set(vec![(1, 5), (2, 5)]) },
            { "label": "b", "wasm_hex": hex::encode(&sybil), "init_msg_hex": set(vec![(2, 7), (3, 7)]),
              "admin": Address::from(key(50).public()).to_hex() },
            { "label": "empty", "wasm_hex": hex::encode(&sybil), "init_msg_hex": set(vec![]) },
            { "label": "gov", "wasm_hex": hex::encode(&stub) },
            { "label": "counter", "wasm_hex": hex::encode(&counter_code) },
        ],
        "sybil_module": "a",
        "gov_module": "gov",
    });
    Stub {
        c: Recorded::new(g),
        a: genesis_instance(&sybil, 0),
        b: genesis_instance(&sybil, 1),
        empty: genesis_instance(&sybil, 2),
        gov: genesis_instance(&stub, 3),
        counter: genesis_instance(&counter_code, 4),
    }
}

impl Stub {
    /// Queues `actions` in the stub; the host applies them at the end of this block.
    fn queue(&mut self, actions: Vec<GovAction>) -> FinalizeBlockResponse {
        let list: Vec<(u64, GovAction)> =
            actions.into_iter().enumerate().map(|(i, a)| (i as u64, a)).collect();
        let mut msg = vec![9];
        msg.extend(borsh::to_vec(&list).expect("actions"));
        let tx = self.c.chain.tx(&key(50), vec![Message::Execute { contract: self.gov, msg }]);
        let r = self.c.block(vec![tx]);
        assert!(r.tx_results[0].is_ok(), "{}", r.tx_results[0].log);
        r
    }

    fn refusal(&mut self, action: GovAction) -> String {
        let r = self.queue(vec![action]);
        let e = events(&r, "gov_refused").next().unwrap_or_else(|| panic!("not refused: {:?}", r.events));
        attr(e, "reason").to_string()
    }
}

fn v(i: u64, power: u64) -> Validator {
    Validator { public_key: PublicKey(pk(i)), power }
}

fn by_key(mut v: Vec<Validator>) -> Vec<Validator> {
    v.sort_by_key(|x| x.public_key);
    v
}

#[test]
fn a_switch_governs_exactly_from_its_height_and_switching_back_restores_the_old_set() {
    let mut s = stub_chain();
    let h = 6;
    let r = s.queue(vec![GovAction::SwitchSybil { module: s.b.0, height: h }]);
    assert_eq!(events(&r, "gov_applied").count(), 1, "{:?}", r.events);
    let pending = s.c.chain.query(&format!("module/{}", s.gov.to_hex()), pending_actions_query());
    assert_eq!(pending.value, vec![0, 0, 0, 0], "acknowledged: the queue is empty");
    let before = s.c.until(h - 1);
    assert!(
        before.iter().all(|r| r.validator_updates.is_empty() && events(r, "sybil_switched").count() == 0)
    );
    let r = s.c.block(vec![]);
    // Key 1 (only in a) leaves, key 2 takes b's power, key 3 joins.
    assert_eq!(r.validator_updates, by_key(vec![v(1, 0), v(2, 7), v(3, 7)]));
    assert_eq!(s.c.model.at(h + 1), sorted(vec![(Address(pk(1)), 5), (Address(pk(2)), 5)]));
    assert_eq!(s.c.model.at(h + 2), sorted(vec![(Address(pk(2)), 7), (Address(pk(3)), 7)]));

    // b now drives the set: its own updates pass through, a's no longer do.
    let upd = |i: u64, p: u64| borsh::to_vec(&vec![(pk(i), p)]).expect("u");
    let tx = s.c.chain.tx(&key(50), vec![Message::Execute { contract: s.a, msg: upd(9, 9) }]);
    assert!(s.c.block(vec![tx]).validator_updates.is_empty(), "the old module no longer governs");
    let tx = s.c.chain.tx(&key(50), vec![Message::Execute { contract: s.b, msg: upd(4, 4) }]);
    assert_eq!(s.c.block(vec![tx]).validator_updates, vec![v(4, 4)]);

    // Back to a: its set as recorded plus what it queued meanwhile (key 9), everything of b's leaves.
    // Scheduled for the block that applies it: it governs from that block's updates on.
    let h = s.c.chain.height + 1;
    let r = s.queue(vec![GovAction::SwitchSybil { module: s.a.0, height: h }]);
    assert_eq!(r.validator_updates, by_key(vec![v(1, 5), v(2, 5), v(3, 0), v(4, 0), v(9, 9)]));
}

#[test]
fn the_host_refuses_switches_it_cannot_make_and_says_why() {
    let mut s = stub_chain();
    let not_sybil = s.refusal(GovAction::SwitchSybil { module: s.counter.0, height: 10 });
    assert_eq!(
        not_sybil,
        format!("{} is not a Sybil module: it does not export validator_set_updates", s.counter.to_hex())
    );
    let nowhere = s.refusal(GovAction::SwitchSybil { module: [0xee; 32], height: 10 });
    assert!(nowhere.starts_with("no module instance at eeee"), "{nowhere}");
    let h = s.c.chain.height;
    let past = s.refusal(GovAction::SwitchSybil { module: s.b.0, height: h });
    assert_eq!(past, format!("switch height {h} is in the past (this block is {})", h + 1));
    let active = s.refusal(GovAction::SwitchSybil { module: s.a.0, height: 20 });
    assert!(active.ends_with("is already the active Sybil module"), "{active}");

    // One switch at a time.
    let r = s.queue(vec![
        GovAction::SwitchSybil { module: s.b.0, height: 30 },
        GovAction::SwitchSybil { module: s.empty.0, height: 31 },
    ]);
    assert_eq!(events(&r, "gov_applied").count(), 1);
    let second = events(&r, "gov_refused").next().expect("second refused");
    assert!(attr(second, "reason").contains("is already scheduled"), "{:?}", second);

    // A module with an empty set cannot govern: refused at its height, the old module stays.
    let mut s = stub_chain();
    s.queue(vec![GovAction::SwitchSybil { module: s.empty.0, height: 5 }]);
    let r = s.c.until(5).pop().expect("block 5");
    let e = events(&r, "sybil_switch_refused").next().expect("refused at its height");
    assert!(attr(e, "reason").contains("has no validators"), "{e:?}");
    assert!(r.validator_updates.is_empty());
    let upd = borsh::to_vec(&vec![(pk(8), 8u64)]).expect("u");
    let tx = s.c.chain.tx(&key(50), vec![Message::Execute { contract: s.a, msg: upd }]);
    assert_eq!(s.c.block(vec![tx]).validator_updates, vec![v(8, 8)], "a still governs");
}

#[test]
fn a_module_migrated_away_from_being_a_sybil_module_before_its_height_is_refused_then() {
    let mut s = stub_chain();
    let code = s.c.chain.upload(&key(50), &counter_v2());
    let h = s.c.chain.height + 4;
    let r = s.queue(vec![GovAction::SwitchSybil { module: s.b.0, height: h }]);
    assert_eq!(events(&r, "gov_applied").count(), 1);
    let m = Message::Migrate { contract: s.b, code_id: code, msg: vec![] };
    let r = s.c.chain.send(&key(50), vec![m]);
    assert!(r.is_ok(), "migrate: {}", r.log);
    let r = s.c.until(h).pop().expect("block h");
    let e = events(&r, "sybil_switch_refused").next().unwrap_or_else(|| panic!("{:?}", r.events));
    assert_eq!(
        attr(e, "reason"),
        format!("{} is not a Sybil module: it does not export validator_set_updates", s.b.to_hex())
    );
    assert!(r.validator_updates.is_empty(), "a keeps governing");
}

#[test]
fn updates_that_would_empty_the_set_are_refused_not_handed_to_the_node() {
    let mut s = stub_chain();
    let upd = borsh::to_vec(&vec![(pk(1), 0u64), (pk(2), 0u64)]).expect("u");
    let tx = s.c.chain.tx(&key(50), vec![Message::Execute { contract: s.a, msg: upd }]);
    let r = s.c.block(vec![tx]);
    assert!(r.validator_updates.is_empty());
    let e = events(&r, "sybil_refused").next().expect("refused");
    assert!(attr(e, "reason").contains("no validators"), "{e:?}");
}

#[test]
fn engine_switches_become_consensus_param_updates_and_bad_ones_are_refused() {
    let mut s = stub_chain();
    let eng = |engine: &str, height: u64, params: Vec<u8>| GovAction::SwitchEngine {
        engine: engine.into(),
        height,
        params,
    };
    assert_eq!(s.refusal(eng("raft", 50, vec![])), "unknown consensus engine \"raft\": expected bft or snow");
    let b = s.c.chain.height + 1;
    assert_eq!(
        s.refusal(eng("snow", b, vec![])),
        format!("engine switch height {b} is not after this block ({b})")
    );
    assert!(s.refusal(eng("snow", 50, vec![1])).contains("params must be empty"));

    let r = s.queue(vec![eng("snow", 50, vec![]), eng("bft", 60, vec![])]);
    let cp = r.consensus_param_updates.clone().expect("update");
    assert_eq!(cp.engine, EngineKind::Bft);
    assert_eq!(cp.engine_switch, Some(EngineSwitch { engine: EngineKind::Snow, height: Height(50) }));
    assert_eq!(
        cp.max_block_bytes,
        cairn_abci::ConsensusParams::default().max_block_bytes,
        "the rest is kept"
    );
    let second = events(&r, "gov_refused").next().expect("second refused");
    assert!(attr(second, "reason").contains("already scheduled"), "{second:?}");
    assert!(s.c.block(vec![]).consensus_param_updates.is_none(), "returned once");
}

#[test]
fn parameters_and_upload_permission_change_from_the_next_block() {
    let mut s = stub_chain();
    let set = |k: &str, v: u64| GovAction::SetParam { key: k.into(), value: v.to_le_bytes().to_vec() };
    assert_eq!(s.refusal(set("max_gas", 5)), "unknown parameter \"max_gas\"");
    assert!(
        s.refusal(GovAction::SetParam { key: "max_tx_fuel".into(), value: vec![1] })
            .contains("not a borsh u64")
    );
    assert!(s.refusal(set("max_tx_fuel", 0)).contains("or zero"));
    let r = s.queue(vec![set("max_tx_fuel", 1_000_000)]);
    assert_eq!(events(&r, "gov_applied").count(), 1, "{:?}", r.events);
    let tx = s.c.chain.tx_with(&key(51), 0, 2_000_000, vec![]);
    let check = s.c.chain.check(tx);
    assert_eq!(check.code, cairn_execution::codes::FUEL_LIMIT, "{}", check.log);
    assert!(check.log.contains("maximum of 1000000"), "{}", check.log);

    s.queue(vec![GovAction::SetUploadPermission(GovUploadPermission::Governance)]);
    let r = s.c.chain.send(&key(52), vec![Message::Upload { code: counter_v2() }]);
    assert!(!r.is_ok(), "uploads are governance-only now");
}

/// A host-call price changes by governance like any parameter, from the next block: an `Execute` pays the new
/// `entry` price. Gov's list of settable keys names exactly the host's prices.
#[test]
fn governance_sets_host_call_prices_from_the_next_block() {
    let mut s = stub_chain();
    let set = |k: &str, v: u64| GovAction::SetParam { key: k.into(), value: v.to_le_bytes().to_vec() };
    assert_eq!(s.refusal(set("prices.entree", 5)), "unknown parameter \"prices.entree\"");
    assert!(s.refusal(set("prices.entry", 0)).contains("or zero"));
    let increment = |s: &mut Stub| {
        let counter = s.counter;
        let r = s.c.chain.exec(&key(53), counter, vec![0]);
        assert!(r.is_ok(), "{}", r.log);
        r.gas_used
    };
    let before = increment(&mut s);
    let entry = cairn_execution::prices::Prices::default().entry;
    let r = s.queue(vec![set("prices.entry", entry + 500_000)]);
    assert_eq!(events(&r, "gov_applied").count(), 1, "{:?}", r.events);
    assert_eq!(increment(&mut s) - before, 500_000, "the counter pays the new entry price");

    let host: Vec<String> = cairn_execution::prices::Prices::default()
        .named()
        .iter()
        .map(|(name, _)| format!("prices.{name}"))
        .collect();
    let gov_prices: Vec<String> = gov::SETTABLE_PARAMS
        .iter()
        .filter(|(k, _)| k.starts_with("prices."))
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(gov_prices, host, "gov's settable prices and the host's");
}

/// The host's mirror of gov's messages encodes exactly as the module's own types.
#[test]
fn the_host_speaks_gov_messages_byte_for_byte() {
    assert_eq!(ack_action_msg(7), borsh::to_vec(&gov::ExecuteMsg::AckAction { id: 7 }).expect("ack"));
    let updates = vec![v(1, 3), v(2, 0)];
    let theirs = gov::ExecuteMsg::SetValidators { updates: vec![(pk(1), 3), (pk(2), 0)] };
    assert_eq!(set_validators_msg(&updates), borsh::to_vec(&theirs).expect("set"));
    assert_eq!(pending_actions_query(), borsh::to_vec(&gov::QueryMsg::PendingActions).expect("q"));
    let actions = vec![
        (1u64, gov::Action::SetParam { key: "max_tx_fuel".into(), value: vec![1; 8] }),
        (2, gov::Action::SetUploadPermission(gov::UploadPermission::AllowList(vec![[3; 32]]))),
        (3, gov::Action::SwitchSybil { module: [4; 32], height: 9 }),
        (4, gov::Action::SwitchEngine { engine: "snow".into(), height: 10, params: vec![5] }),
    ];
    let ours: Vec<(u64, GovAction)> =
        borsh::from_slice(&borsh::to_vec(&actions).expect("enc")).expect("the host decodes gov's actions");
    assert_eq!(ours[1].1, GovAction::SetUploadPermission(GovUploadPermission::AllowList(vec![[3; 32]])));
    assert_eq!(ours[3].1, GovAction::SwitchEngine { engine: "snow".into(), height: 10, params: vec![5] });
}
