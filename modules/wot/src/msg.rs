//! The web of trust's messages and parameters, borsh-encoded. Compiles natively too, for genesis builders, the
//! CLI and tests.

use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

/// A 32-byte ed25519 public key: an identity's account address, and for a smith also its validator key.
pub type Address = [u8; 32];

/// Every rule of the web, fixed at genesis (a later governance change goes through `migrate`).
///
/// Durations are in blocks. The defaults are scaled for a small community at one block per second
/// (docs: shared notes "Numbers to design with"): Ğ1's values, except 3 certifications instead of 5 while the
/// web has a few tens of members.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Params {
    /// N: certifications from members a newcomer needs to join, and a member needs to stay one.
    pub min_certs: u32,
    /// P: blocks between two certifications issued by one member (renewals included).
    pub cert_period: u64,
    /// S: most active certifications one member may have issued at a time.
    pub max_issued: u32,
    /// V: blocks a certification stays valid.
    pub cert_validity: u64,
    /// D: most steps from a referee to a newcomer for the referee to count as reaching it.
    pub distance_max_steps: u32,
    /// X: per cent of referees that must reach a newcomer.
    pub distance_min_reached_pct: u32,
    /// D': a referee has issued and received at least ⌈M^(1/D')⌉ certifications (M: member count).
    pub referee_root: u32,
    /// Members at most. Bounds the distance computation, which reads the whole compact graph.
    pub max_members: u32,
    /// Smith certifications (from smiths) a member needs to become a smith (a validator).
    pub smith_min_certs: u32,
    /// Blocks between two smith certifications issued by one smith.
    pub smith_cert_period: u64,
    /// Most active smith certifications one smith may have issued.
    pub smith_max_issued: u32,
    /// Blocks a smith certification stays valid.
    pub smith_cert_validity: u64,
    /// Smiths at most (the validator set's size).
    pub max_smiths: u32,
    /// Validator power of every smith (one person, one weight).
    pub smith_power: u64,
    /// Units of `end_block` work per block (one per expired certification, one plus its issued certifications
    /// per member removed); the rest waits for the next block.
    pub max_work_per_block: u32,
    /// Fee-less quota of every member: fuel per window.
    pub quota_fuel: u64,
    /// Fee-less quota of every member: state bytes per window.
    pub quota_bytes: u64,
    /// A module told of every membership change, e.g. a hybrid `pos` (its `SetMembers` message, see
    /// [`SinkMsg`]); `None`: nobody.
    pub membership_sink: Option<Address>,
}

impl Default for Params {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Params {
            min_certs: 3,
            cert_period: 5 * DAY,
            max_issued: 100,
            cert_validity: 730 * DAY,
            distance_max_steps: 5,
            distance_min_reached_pct: 80,
            referee_root: 5,
            max_members: 20_000,
            smith_min_certs: 3,
            smith_cert_period: DAY,
            smith_max_issued: 12,
            smith_cert_validity: 365 * DAY,
            max_smiths: 32,
            smith_power: 10,
            max_work_per_block: 256,
            quota_fuel: 10_000_000,
            quota_bytes: 10_000,
            membership_sink: None,
        }
    }
}

/// `instantiate` input: the founding web.
///
/// Founders are members from the start, without a distance check, but the invariants hold from genesis: every
/// founder holds at least `min_certs` certifications from founders, every founding smith at least
/// `smith_min_certs` smith certifications from founding smiths, and nobody exceeds a stock limit.
/// [`InitMsg::full_mesh`] builds such a web.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InitMsg {
    pub params: Params,
    pub members: Vec<Address>,
    /// (issuer, receiver) as indices into `members` (8 bytes a certification, so a 10,000-member genesis with
    /// 100,000 certifications is 800 KB, not 6.4 MB, in the module's memory).
    pub certs: Vec<(u32, u32)>,
    /// Indices into `members`.
    pub smiths: Vec<u32>,
    /// (issuer, receiver) as indices into `members`, both founding smiths.
    pub smith_certs: Vec<(u32, u32)>,
}

impl InitMsg {
    /// Every founder certifies every other founder; every founding smith every other founding smith.
    /// `smiths` are indices into `members`.
    pub fn full_mesh(params: Params, members: Vec<Address>, smiths: Vec<u32>) -> InitMsg {
        let mesh = |set: &[u32]| {
            let mut out = Vec::new();
            for a in set {
                for b in set {
                    if a != b {
                        out.push((*a, *b));
                    }
                }
            }
            out
        };
        let all: Vec<u32> = (0..members.len() as u32).collect();
        InitMsg { certs: mesh(&all), smith_certs: mesh(&smiths), params, members, smiths }
    }
}

/// `execute` input; the acting identity is the caller (the tx signer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ExecuteMsg {
    /// A member certifies `to` (a member or a newcomer), or renews its certification of `to`.
    Certify { to: Address },
    /// A newcomer holding at least `min_certs` certifications asks to become a member; the distance rule is
    /// evaluated now, at the newcomer's expense.
    Join,
    /// A member leaves the web (its issued certifications are withdrawn).
    Leave,
    /// A smith certifies member `to` into the smith sub-web, or renews.
    SmithCertify { to: Address },
    /// A member with at least `smith_min_certs` smith certifications becomes a smith (a validator).
    JoinSmiths,
    /// A smith steps down from the validator set (stays a member).
    LeaveSmiths,
}

/// `query` input. Each variant's answer is named on it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum QueryMsg {
    /// → [`Params`].
    Params,
    /// → `Option<MemberInfo>`.
    Member { who: Address },
    /// → `Vec<Address>`: members after `start_after` in address order, at most `limit` (≤ [`MAX_PAGE`]).
    Members { start_after: Option<Address>, limit: u32 },
    /// → `u32`.
    MemberCount,
    /// → `Vec<(Address, u64)>`: (issuer, expires_at) of the certifications `who` holds, ≤ [`MAX_PAGE`].
    CertsReceived { who: Address },
    /// → `Vec<(Address, u64)>`: the smiths and their validator power.
    Smiths,
    /// → [`Distance`]: the distance rule evaluated for `who` now (without joining).
    Distance { who: Address },
    /// → `(u64, u64)`: the fee-less quota (fuel, bytes) of `who`: one per member, zero for anyone else.
    Quota { who: Address },
    /// → `Vec<(Address, u64)>`: the validator updates the next `validator_set_updates` will return.
    PendingUpdates,
}

/// The answer to [`QueryMsg::Member`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MemberInfo {
    pub since: u64,
    pub received: u32,
    pub issued: u32,
    pub smith: bool,
    pub smith_received: u32,
    pub smith_issued: u32,
}

/// The distance rule's verdict for one identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Distance {
    /// Referees (members with ≥ `threshold` certifications issued and received).
    pub referees: u32,
    /// Referees that reach the identity within `distance_max_steps`.
    pub reached: u32,
    /// ⌈M^(1/referee_root)⌉.
    pub threshold: u32,
    pub passes: bool,
}

/// What the web sends its `membership_sink` through `call`: the borsh layout of `cairn_module_pos`'s
/// `ExecuteMsg::SetMembers` (variant 6; a pos test checks that the two encodings agree).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SinkMsg {
    #[doc(hidden)]
    _Bond,
    #[doc(hidden)]
    _Delegate,
    #[doc(hidden)]
    _Unbond,
    #[doc(hidden)]
    _Redelegate,
    #[doc(hidden)]
    _Unjail,
    #[doc(hidden)]
    _BeginBlock,
    SetMembers {
        add: Vec<Address>,
        remove: Vec<Address>,
    },
}

/// Fuel given to the membership sink per notification.
pub const SINK_FUEL: u64 = 2_000_000;

/// `migrate` input: nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MigrateMsg {}

/// The largest page a query returns.
pub const MAX_PAGE: u32 = 100;
