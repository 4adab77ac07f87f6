//! Certifications and memberships: the operations that keep the invariants of [`crate::state`].

use cairn_sdk::{Error, Event, bail, call_typed, hex};

use crate::msg::{Address, Params, SINK_FUEL, SinkMsg};
use crate::state::*;

fn member(who: &Address) -> Result<Member, Error> {
    match MEMBERS.may_load(who)? {
        Some(m) => Ok(m),
        None => bail!("corrupt state: {} issued a certification but is not a member", hex(who)),
    }
}

/// Store a new certification `issuer → to` valid until `expires_at`; the caller checked the rules.
pub fn add_cert(issuer: &Address, to: &Address, expires_at: u64) -> Result<(), Error> {
    let mut m = member(issuer)?;
    m.issued += 1;
    MEMBERS.save(issuer, &m)?;
    update_node(m.index, |n| n.issued += 1)?;
    set_count(&RECEIVED, to, count(&RECEIVED, to)? + 1)?;
    if let Some(receiver) = MEMBERS.may_load(to)? {
        update_node(receiver.index, |n| n.certifiers.push(m.index))?;
    }
    CERTS.save(&(*issuer, *to), &expires_at)?;
    CERTS_IN.save(&(*to, *issuer), &expires_at)?;
    EXPIRY.save(&(expires_at, (*issuer, *to)), &())
}

/// Move an existing certification's expiry.
pub fn renew_cert(issuer: &Address, to: &Address, old: u64, expires_at: u64) -> Result<(), Error> {
    EXPIRY.remove(&(old, (*issuer, *to)));
    CERTS.save(&(*issuer, *to), &expires_at)?;
    CERTS_IN.save(&(*to, *issuer), &expires_at)?;
    EXPIRY.save(&(expires_at, (*issuer, *to)), &())
}

/// Withdraw `issuer → to`; a member left below `min_certs` is queued for [`recheck`].
pub fn remove_cert(params: &Params, issuer: &Address, to: &Address) -> Result<(), Error> {
    let Some(expires_at) = CERTS.may_load(&(*issuer, *to))? else { return Ok(()) };
    CERTS.remove(&(*issuer, *to));
    CERTS_IN.remove(&(*to, *issuer));
    EXPIRY.remove(&(expires_at, (*issuer, *to)));
    let mut m = member(issuer)?;
    m.issued = m.issued.saturating_sub(1);
    MEMBERS.save(issuer, &m)?;
    update_node(m.index, |n| n.issued = n.issued.saturating_sub(1))?;
    let held = count(&RECEIVED, to)?.saturating_sub(1);
    set_count(&RECEIVED, to, held)?;
    if let Some(receiver) = MEMBERS.may_load(to)? {
        update_node(receiver.index, |n| n.certifiers.retain(|&c| c != m.index))?;
        if held < params.min_certs {
            RECHECK.save(to, &())?;
        }
    }
    Ok(())
}

pub fn add_smith_cert(issuer: &Address, to: &Address, expires_at: u64) -> Result<(), Error> {
    let mut m = member(issuer)?;
    m.smith_issued += 1;
    MEMBERS.save(issuer, &m)?;
    set_count(&SMITH_RECEIVED, to, count(&SMITH_RECEIVED, to)? + 1)?;
    SMITH_CERTS.save(&(*issuer, *to), &expires_at)?;
    SMITH_EXPIRY.save(&(expires_at, (*issuer, *to)), &())
}

pub fn renew_smith_cert(issuer: &Address, to: &Address, old: u64, expires_at: u64) -> Result<(), Error> {
    SMITH_EXPIRY.remove(&(old, (*issuer, *to)));
    SMITH_CERTS.save(&(*issuer, *to), &expires_at)?;
    SMITH_EXPIRY.save(&(expires_at, (*issuer, *to)), &())
}

/// Withdraw the smith certification `issuer → to`; a smith left below `smith_min_certs` is queued.
pub fn remove_smith_cert(params: &Params, issuer: &Address, to: &Address) -> Result<(), Error> {
    let Some(expires_at) = SMITH_CERTS.may_load(&(*issuer, *to))? else { return Ok(()) };
    SMITH_CERTS.remove(&(*issuer, *to));
    SMITH_EXPIRY.remove(&(expires_at, (*issuer, *to)));
    if let Some(mut m) = MEMBERS.may_load(issuer)? {
        m.smith_issued = m.smith_issued.saturating_sub(1);
        MEMBERS.save(issuer, &m)?;
    }
    let held = count(&SMITH_RECEIVED, to)?.saturating_sub(1);
    set_count(&SMITH_RECEIVED, to, held)?;
    if held < params.smith_min_certs && SMITHS.has(to) {
        RECHECK.save(to, &())?;
    }
    Ok(())
}

/// Tell the membership sink (if any) that `who` joined (`joined`) or left. A refusal fails the calling message
/// when `strict`; otherwise (in `end_block`, which must not be stuck on another module) it becomes an event.
pub fn notify(params: &Params, who: &Address, joined: bool, strict: bool) -> Result<(), Error> {
    let Some(sink) = params.membership_sink else { return Ok(()) };
    let (add, remove) =
        if joined { (alloc::vec![*who], alloc::vec![]) } else { (alloc::vec![], alloc::vec![*who]) };
    match call_typed::<_, ()>(&sink, &SinkMsg::SetMembers { add, remove }, SINK_FUEL) {
        Ok(()) => Ok(()),
        Err(e) if strict => Err(e),
        Err(e) => {
            Event::new("membership_sync_failed").attr("who", hex(who)).attr("error", e.message()).emit();
            Ok(())
        }
    }
}

/// `who` stops being a smith: its validator power goes to 0 and its smith certifications are withdrawn.
/// Returns the work done (1 + certifications withdrawn).
pub fn leave_smiths(params: &Params, who: &Address, reason: &str) -> Result<u32, Error> {
    if !SMITHS.has(who) {
        return Ok(0);
    }
    let issued = pairs_of(&SMITH_CERTS, who)?;
    let work = 1 + issued.len() as u32;
    for (to, _) in issued {
        remove_smith_cert(params, who, &to)?;
    }
    SMITHS.remove(who);
    SMITH_COUNT.save(&SMITH_COUNT.load()?.saturating_sub(1))?;
    PENDING.save(who, &0)?;
    Event::new("smith_left").attr("who", hex(who)).attr("reason", reason).emit();
    Ok(work)
}

/// `who` stops being a member: it leaves the smiths, its certifications are withdrawn (members it certified may
/// fall below the bar in turn: they are queued, not removed here, so one removal's work is bounded by the stock
/// limits). Certifications it holds stay, in case it rejoins. Returns the work done.
pub fn remove_member(params: &Params, who: &Address, reason: &str, strict: bool) -> Result<u32, Error> {
    let Some(m) = MEMBERS.may_load(who)? else { return Ok(0) };
    let mut work = leave_smiths(params, who, reason)?;
    let issued = pairs_of(&CERTS, who)?;
    work += 1 + issued.len() as u32;
    for (to, _) in issued {
        remove_cert(params, who, &to)?;
    }
    // Smith certifications it received from smiths stay valid for a later return; those it issued went above.
    save_node(m.index, None)?;
    FREE.save(&m.index, &())?;
    MEMBERS.remove(who);
    RECHECK.remove(who);
    MEMBER_COUNT.save(&MEMBER_COUNT.load()?.saturating_sub(1))?;
    Event::new("member_left").attr("who", hex(who)).attr("reason", reason).emit();
    notify(params, who, false, strict)?;
    Ok(work)
}

/// Apply the rules to a queued member: below `min_certs` it leaves; a smith below `smith_min_certs` steps down.
pub fn recheck(params: &Params, who: &Address) -> Result<u32, Error> {
    RECHECK.remove(who);
    if !MEMBERS.has(who) {
        return Ok(1);
    }
    let held = count(&RECEIVED, who)?;
    if held < params.min_certs {
        let reason = alloc::format!("holds {held} certifications, {} needed", params.min_certs);
        return remove_member(params, who, &reason, false);
    }
    let smith_held = count(&SMITH_RECEIVED, who)?;
    if SMITHS.has(who) && smith_held < params.smith_min_certs {
        let reason =
            alloc::format!("holds {smith_held} smith certifications, {} needed", params.smith_min_certs);
        return leave_smiths(params, who, &reason);
    }
    Ok(1)
}

/// `end_block`: expire certifications due by `height`, then re-check queued members, within the work budget.
pub fn expire_and_recheck(params: &Params, height: u64) -> Result<(), Error> {
    let mut budget = params.max_work_per_block;
    let until = height.checked_add(1).map(|h| (h, ([0u8; 32], [0u8; 32])));
    while budget > 0 {
        let Some(entry) = EXPIRY.range(None, until.as_ref()).next() else { break };
        let ((_, (issuer, to)), ()) = entry?;
        remove_cert(params, &issuer, &to)?;
        Event::new("cert_expired").attr("issuer", hex(&issuer)).attr("receiver", hex(&to)).emit();
        budget -= 1;
    }
    while budget > 0 {
        let Some(entry) = SMITH_EXPIRY.range(None, until.as_ref()).next() else { break };
        let ((_, (issuer, to)), ()) = entry?;
        remove_smith_cert(params, &issuer, &to)?;
        Event::new("smith_cert_expired").attr("issuer", hex(&issuer)).attr("receiver", hex(&to)).emit();
        budget -= 1;
    }
    while budget > 0 {
        let Some(entry) = RECHECK.iter().next() else { break };
        let (who, ()) = entry?;
        let work = recheck(params, &who)?;
        budget = budget.saturating_sub(work.max(1));
    }
    Ok(())
}
