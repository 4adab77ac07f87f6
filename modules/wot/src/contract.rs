//! Entry points: genesis, the six messages, queries, expiry in `end_block`, validator updates.

use alloc::collections::BTreeSet;
use alloc::string::ToString;
use alloc::vec::Vec;

use cairn_sdk::{Env, Error, Event, Raw, bail, ensure, hex};

use crate::distance::{self, Node};
use crate::msg::{
    Address, Distance, ExecuteMsg, InitMsg, MAX_PAGE, MemberInfo, MigrateMsg, Params, QueryMsg,
};
use crate::state::*;
use crate::web;

/// The storage layout version this code writes.
const STORAGE_VERSION: u32 = 1;

fn check_params(p: &Params) -> Result<(), Error> {
    ensure!(p.min_certs >= 1, "min_certs must be at least 1");
    ensure!(p.max_issued >= 1, "max_issued must be at least 1");
    ensure!(p.cert_validity >= 1, "cert_validity must be at least 1 block");
    ensure!(p.distance_min_reached_pct <= 100, "distance_min_reached_pct must be at most 100");
    ensure!(p.smith_min_certs >= 1, "smith_min_certs must be at least 1");
    ensure!(p.smith_cert_validity >= 1, "smith_cert_validity must be at least 1 block");
    ensure!(p.smith_power >= 1, "smith_power must be at least 1");
    ensure!(p.max_work_per_block >= 1, "max_work_per_block must be at least 1");
    ensure!(
        u128::from(p.max_smiths) * u128::from(p.smith_power) <= u128::from(u64::MAX),
        "max_smiths × smith_power exceeds the u64 total power"
    );
    Ok(())
}

/// Set up the founding web (see [`InitMsg`] for what is checked).
pub fn instantiate(env: &Env, msg: InitMsg) -> Result<(), Error> {
    let p = msg.params;
    check_params(&p)?;
    ensure!(!msg.members.is_empty(), "the founding web has no members");
    ensure!(msg.members.len() as u64 <= u64::from(p.max_members), "more founders than max_members");
    ensure!(msg.smiths.len() as u64 <= u64::from(p.max_smiths), "more founding smiths than max_smiths");
    CONFIG.save(&p)?;
    VERSION.save(&STORAGE_VERSION)?;
    MEMBER_COUNT.save(&(msg.members.len() as u32))?;
    SMITH_COUNT.save(&(msg.smiths.len() as u32))?;
    NEXT_INDEX.save(&(msg.members.len() as u32))?;
    // Nodes are built in memory and written bucket by bucket: a 10,000-member genesis stays cheap.
    let mut nodes: Vec<Option<Node>> = Vec::with_capacity(msg.members.len());
    for (i, who) in msg.members.iter().enumerate() {
        ensure!(!MEMBERS.has(who), "duplicate founder {}", hex(who));
        let member = Member {
            index: i as u32,
            since: env.height,
            last_cert_at: None,
            issued: 0,
            last_smith_cert_at: None,
            smith_issued: 0,
        };
        MEMBERS.save(who, &member)?;
        nodes.push(Some(Node::default()));
    }
    let founder = |i: u32| -> Result<Address, Error> {
        match msg.members.get(i as usize) {
            Some(a) => Ok(*a),
            None => bail!("founder index {i} is out of range ({} founders)", msg.members.len()),
        }
    };
    let expires_at = env.height.saturating_add(p.cert_validity);
    let mut received: alloc::collections::BTreeMap<Address, u32> = alloc::collections::BTreeMap::new();
    for &(i, j) in &msg.certs {
        let (issuer, to) = (&founder(i)?, &founder(j)?);
        ensure!(issuer != to, "founder {} certifies itself", hex(issuer));
        let (Some(mut m), Some(r)) = (MEMBERS.may_load(issuer)?, MEMBERS.may_load(to)?) else {
            bail!("founding certification {} → {} is not between founders", hex(issuer), hex(to));
        };
        ensure!(
            !CERTS.has(&(*issuer, *to)),
            "duplicate founding certification {} → {}",
            hex(issuer),
            hex(to)
        );
        m.issued += 1;
        ensure!(
            m.issued <= p.max_issued,
            "founder {} issues more than max_issued certifications",
            hex(issuer)
        );
        MEMBERS.save(issuer, &m)?;
        if let Some(Some(node)) = nodes.get_mut(m.index as usize) {
            node.issued += 1;
        }
        if let Some(Some(node)) = nodes.get_mut(r.index as usize) {
            node.certifiers.push(m.index);
        }
        *received.entry(*to).or_default() += 1;
        CERTS.save(&(*issuer, *to), &expires_at)?;
        CERTS_IN.save(&(*to, *issuer), &expires_at)?;
        EXPIRY.save(&(expires_at, (*issuer, *to)), &())?;
    }
    for who in &msg.members {
        let held = received.get(who).copied().unwrap_or(0);
        ensure!(
            held >= p.min_certs,
            "founder {} holds {held} certifications from founders, min_certs is {}",
            hex(who),
            p.min_certs
        );
        set_count(&RECEIVED, who, held)?;
    }
    for (b, chunk) in nodes.chunks(BUCKET as usize).enumerate() {
        let mut bucket = chunk.to_vec();
        bucket.resize(BUCKET as usize, None);
        GRAPH.save(&(b as u32), &bucket)?;
    }
    let smiths: Vec<Address> = msg.smiths.iter().map(|&i| founder(i)).collect::<Result<_, _>>()?;
    for who in &smiths {
        ensure!(!SMITHS.has(who), "duplicate founding smith {}", hex(who));
        SMITHS.save(who, &())?;
        PENDING.save(who, &p.smith_power)?;
    }
    let smith_expires_at = env.height.saturating_add(p.smith_cert_validity);
    for &(i, j) in &msg.smith_certs {
        let (issuer, to) = (&founder(i)?, &founder(j)?);
        ensure!(
            SMITHS.has(issuer) && SMITHS.has(to) && issuer != to,
            "founding smith certification {} → {} is not between two founding smiths",
            hex(issuer),
            hex(to)
        );
        ensure!(!SMITH_CERTS.has(&(*issuer, *to)), "duplicate founding smith certification");
        web::add_smith_cert(issuer, to, smith_expires_at)?;
        ensure!(
            MEMBERS.load(issuer)?.smith_issued <= p.smith_max_issued,
            "founding smith {} issues more than smith_max_issued smith certifications",
            hex(issuer)
        );
    }
    for who in &smiths {
        let held = count(&SMITH_RECEIVED, who)?;
        ensure!(
            held >= p.smith_min_certs,
            "founding smith {} holds {held} smith certifications, smith_min_certs is {}",
            hex(who),
            p.smith_min_certs
        );
    }
    Ok(())
}

/// Run one message on behalf of `env.caller`.
pub fn execute(env: &Env, msg: ExecuteMsg) -> Result<(), Error> {
    let p = CONFIG.load()?;
    let who = env.caller;
    match msg {
        ExecuteMsg::Certify { to } => certify(env, &p, &who, &to),
        ExecuteMsg::Join => join(env, &p, &who),
        ExecuteMsg::Leave => {
            ensure!(MEMBERS.has(&who), "{} is not a member", hex(&who));
            web::remove_member(&p, &who, "left", true).map(|_| ())
        }
        ExecuteMsg::SmithCertify { to } => smith_certify(env, &p, &who, &to),
        ExecuteMsg::JoinSmiths => join_smiths(&p, &who),
        ExecuteMsg::LeaveSmiths => {
            ensure!(SMITHS.has(&who), "{} is not a smith", hex(&who));
            web::leave_smiths(&p, &who, "left").map(|_| ())
        }
    }
}

fn certify(env: &Env, p: &Params, who: &Address, to: &Address) -> Result<(), Error> {
    let Some(mut m) = MEMBERS.may_load(who)? else {
        bail!("{} is not a member: only members certify", hex(who))
    };
    ensure!(who != to, "a member cannot certify itself");
    if let Some(last) = m.last_cert_at {
        let next = last.saturating_add(p.cert_period);
        ensure!(
            env.height >= next,
            "{} certified at height {last}: one certification per {} blocks, next at height {next}",
            hex(who),
            p.cert_period
        );
    }
    let expires_at = env.height.saturating_add(p.cert_validity);
    let renewal = CERTS.may_load(&(*who, *to))?;
    match renewal {
        Some(old) => web::renew_cert(who, to, old, expires_at)?,
        None => {
            ensure!(
                m.issued < p.max_issued,
                "{} already holds {} active certifications, the maximum",
                hex(who),
                p.max_issued
            );
            web::add_cert(who, to, expires_at)?;
        }
    }
    m = MEMBERS.load(who)?;
    m.last_cert_at = Some(env.height);
    MEMBERS.save(who, &m)?;
    Event::new("certify")
        .attr("issuer", hex(who))
        .attr("receiver", hex(to))
        .attr("expires_at", expires_at.to_string())
        .attr("renewal", if renewal.is_some() { "true" } else { "false" })
        .emit();
    Ok(())
}

/// Evaluate the distance rule for `who` as if it joined now.
pub fn distance_of(p: &Params, who: &Address) -> Result<Distance, Error> {
    let members = MEMBER_COUNT.load()?;
    let threshold = distance::referee_threshold(members, p.referee_root);
    // Who certifies `who`: at most one entry per member, so bounded by max_members.
    let mut certifiers = Vec::new();
    for (issuer, _) in pairs_of(&CERTS_IN, who)? {
        if let Some(m) = MEMBERS.may_load(&issuer)? {
            certifiers.push(m.index);
        }
    }
    let mut nodes = load_graph()?;
    // A member's own node must not count it as reaching itself.
    if let Some(m) = MEMBERS.may_load(who)?
        && let Some(slot) = nodes.get_mut(m.index as usize)
    {
        *slot = None;
    }
    let (referees, reached) = distance::reach(&nodes, &certifiers, threshold, p.distance_max_steps);
    let passes = distance::passes(referees, reached, p.distance_min_reached_pct);
    Ok(Distance { referees, reached, threshold, passes })
}

fn join(env: &Env, p: &Params, who: &Address) -> Result<(), Error> {
    ensure!(!MEMBERS.has(who), "{} is already a member", hex(who));
    let members = MEMBER_COUNT.load()?;
    ensure!(members < p.max_members, "the web is full ({} members, max_members)", p.max_members);
    let held = count(&RECEIVED, who)?;
    ensure!(
        held >= p.min_certs,
        "{} holds {held} certifications from members, {} needed to join",
        hex(who),
        p.min_certs
    );
    let d = distance_of(p, who)?;
    ensure!(
        d.passes,
        "distance rule: {} of {} referees reach {} within {} steps, {} % needed",
        d.reached,
        d.referees,
        hex(who),
        p.distance_max_steps,
        p.distance_min_reached_pct
    );
    let index = take_index()?;
    let mut certifiers = Vec::new();
    for (issuer, _) in pairs_of(&CERTS_IN, who)? {
        certifiers.push(MEMBERS.load(&issuer)?.index);
    }
    save_node(index, Some(Node { issued: 0, certifiers }))?;
    let member = Member {
        index,
        since: env.height,
        last_cert_at: None,
        issued: 0,
        last_smith_cert_at: None,
        smith_issued: 0,
    };
    MEMBERS.save(who, &member)?;
    MEMBER_COUNT.save(&(members + 1))?;
    web::notify(p, who, true, true)?;
    Event::new("member_joined")
        .attr("who", hex(who))
        .attr("certs", held.to_string())
        .attr("referees", d.referees.to_string())
        .attr("reached", d.reached.to_string())
        .emit();
    Ok(())
}

fn smith_certify(env: &Env, p: &Params, who: &Address, to: &Address) -> Result<(), Error> {
    ensure!(SMITHS.has(who), "{} is not a smith: only smiths certify smiths", hex(who));
    ensure!(who != to, "a smith cannot certify itself");
    ensure!(MEMBERS.has(to), "{} is not a member: smiths are chosen among members", hex(to));
    let mut m = MEMBERS.load(who)?;
    if let Some(last) = m.last_smith_cert_at {
        let next = last.saturating_add(p.smith_cert_period);
        ensure!(
            env.height >= next,
            "{} smith-certified at height {last}: one per {} blocks, next at height {next}",
            hex(who),
            p.smith_cert_period
        );
    }
    let expires_at = env.height.saturating_add(p.smith_cert_validity);
    match SMITH_CERTS.may_load(&(*who, *to))? {
        Some(old) => web::renew_smith_cert(who, to, old, expires_at)?,
        None => {
            ensure!(
                m.smith_issued < p.smith_max_issued,
                "{} already holds {} active smith certifications, the maximum",
                hex(who),
                p.smith_max_issued
            );
            web::add_smith_cert(who, to, expires_at)?;
        }
    }
    m = MEMBERS.load(who)?;
    m.last_smith_cert_at = Some(env.height);
    MEMBERS.save(who, &m)?;
    Event::new("smith_certify")
        .attr("issuer", hex(who))
        .attr("receiver", hex(to))
        .attr("expires_at", expires_at.to_string())
        .emit();
    Ok(())
}

fn join_smiths(p: &Params, who: &Address) -> Result<(), Error> {
    ensure!(MEMBERS.has(who), "{} is not a member: only members become smiths", hex(who));
    ensure!(!SMITHS.has(who), "{} is already a smith", hex(who));
    let held = count(&SMITH_RECEIVED, who)?;
    ensure!(
        held >= p.smith_min_certs,
        "{} holds {held} smith certifications, {} needed to become a smith",
        hex(who),
        p.smith_min_certs
    );
    let smiths = SMITH_COUNT.load()?;
    ensure!(smiths < p.max_smiths, "the smith set is full ({} smiths, max_smiths)", p.max_smiths);
    SMITHS.save(who, &())?;
    SMITH_COUNT.save(&(smiths + 1))?;
    PENDING.save(who, &p.smith_power)?;
    Event::new("smith_joined").attr("who", hex(who)).emit();
    Ok(())
}

/// Expire certifications and apply their consequences, within `max_work_per_block`.
pub fn end_block(_env: &Env, height: u64) -> Result<(), Error> {
    web::expire_and_recheck(&CONFIG.load()?, height)
}

/// The validator updates since the last call (smith → power, 0 = left), in key order; clears them.
pub fn validator_set_updates(_env: &Env) -> Result<Vec<(Address, u64)>, Error> {
    let updates: Vec<(Address, u64)> = PENDING.iter().collect::<Result<_, _>>()?;
    PENDING.clear()?;
    Ok(updates)
}

/// Answer a query ([`Raw`]: the variants' answer types differ).
/// The `quota` export the host reads on the active Sybil module: one fee-less quota per attested person, so a
/// person with many keys still has one and a fresh key gets nothing. Attested = a member, or a newcomer already
/// holding the certifications it needs to join (else on a fee-less chain it could never send its `Join`).
pub fn quota(_env: &Env, who: Address) -> Result<(u64, u64), Error> {
    quota_of(&CONFIG.load()?, &who)
}

fn quota_of(p: &Params, who: &Address) -> Result<(u64, u64), Error> {
    let attested = MEMBERS.has(who) || count(&RECEIVED, who)? >= p.min_certs;
    Ok(if attested { (p.quota_fuel, p.quota_bytes) } else { (0, 0) })
}

pub fn query(_env: &Env, msg: QueryMsg) -> Result<Raw, Error> {
    let p = CONFIG.load()?;
    match msg {
        QueryMsg::Params => Raw::encode(&p),
        QueryMsg::Member { who } => {
            let info = match MEMBERS.may_load(&who)? {
                Some(m) => Some(MemberInfo {
                    since: m.since,
                    received: count(&RECEIVED, &who)?,
                    issued: m.issued,
                    smith: SMITHS.has(&who),
                    smith_received: count(&SMITH_RECEIVED, &who)?,
                    smith_issued: m.smith_issued,
                }),
                None => None,
            };
            Raw::encode(&info)
        }
        QueryMsg::Members { start_after, limit } => {
            let mut out: Vec<Address> = Vec::new();
            for entry in MEMBERS.range(start_after.as_ref(), None) {
                let (a, _) = entry?;
                if Some(a) == start_after {
                    continue;
                }
                if out.len() >= limit.min(MAX_PAGE) as usize {
                    break;
                }
                out.push(a);
            }
            Raw::encode(&out)
        }
        QueryMsg::MemberCount => Raw::encode(&MEMBER_COUNT.load()?),
        QueryMsg::CertsReceived { who } => {
            let mut certs = pairs_of(&CERTS_IN, &who)?;
            certs.truncate(MAX_PAGE as usize);
            Raw::encode(&certs)
        }
        QueryMsg::Smiths => {
            let smiths: BTreeSet<Address> =
                SMITHS.iter().map(|e| e.map(|(a, ())| a)).collect::<Result<_, _>>()?;
            Raw::encode(&smiths.into_iter().map(|a| (a, p.smith_power)).collect::<Vec<_>>())
        }
        QueryMsg::Distance { who } => Raw::encode(&distance_of(&p, &who)?),
        QueryMsg::Quota { who } => Raw::encode(&quota_of(&p, &who)?),
        QueryMsg::PendingUpdates => Raw::encode(&PENDING.iter().collect::<Result<Vec<_>, _>>()?),
    }
}

/// Upgrade the storage layout to this code's version (v1 is the first: nothing to convert yet).
pub fn migrate(_env: &Env, _msg: MigrateMsg) -> Result<(), Error> {
    let from = VERSION.may_load()?.unwrap_or(0);
    ensure!(from <= STORAGE_VERSION, "cannot migrate wot storage from v{from} back to v{STORAGE_VERSION}");
    ensure!(CONFIG.exists(), "nothing to migrate: this wot module was never instantiated");
    VERSION.save(&STORAGE_VERSION)
}
