//! Counting votes by the validator weights current at the tally (a validator that left counts for nothing).

use cairn_sdk::Error;

use crate::contract::{VALIDATORS, VOTES};
use crate::msg::{Params, VoteOption};

/// Weights per option and the total validator weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub yes: u128,
    pub no: u128,
    pub abstain: u128,
    pub veto: u128,
    pub total: u128,
}

/// Both loops are bounded by the validator set: only validators vote, and one vote per validator is kept.
pub fn tally(_p: &Params, id: u64) -> Result<Tally, Error> {
    let mut t = Tally::default();
    for e in VALIDATORS.iter() {
        t.total += u128::from(e?.1);
    }
    let end = id.checked_add(1).map(|n| (n, [0u8; 32]));
    for e in VOTES.range(Some(&(id, [0u8; 32])), end.as_ref()) {
        let ((_, voter), option) = e?;
        let w = u128::from(VALIDATORS.may_load(&voter)?.unwrap_or(0));
        match option {
            VoteOption::Yes => t.yes += w,
            VoteOption::No => t.no += w,
            VoteOption::Abstain => t.abstain += w,
            VoteOption::Veto => t.veto += w,
        }
    }
    Ok(t)
}
