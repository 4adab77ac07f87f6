//! Who gets a fee-less quota: the genesis list, and the active Sybil module if it exports `quota`.
//!
//! Asking the Sybil module ties the quota to what the module attests — an authority under PoA, a member under the
//! web of trust — so one attested person gets one quota however many keys they make: a fresh key is attested by
//! nothing and gets none. The call is read-only, on a small fuel budget of its own (the host's, not the
//! sender's), and a module that fails or answers garbage grants nothing.

use cairn_primitives::Address;

use super::Inner;
use crate::HostError;
use crate::backend::Overlay;
use crate::fees::{Quota, genesis_quota};
use crate::instance::BlockEnv;
use crate::registry::{self, Params};
use crate::session::{Failure, Session};

/// Fuel the Sybil module's `quota` may burn per lookup.
pub const QUOTA_FUEL: u64 = 1_000_000;

impl Inner {
    /// `account`'s quota per window: the larger of its genesis grant and the Sybil module's, per component.
    /// Takes and hands back the overlay (the lookup runs in a session over it and writes nothing).
    pub(super) fn granted_quota(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
        account: &Address,
    ) -> Result<(Quota, Overlay), HostError> {
        let base = &*self.host.base;
        let genesis = genesis_quota(&overlay, base, account)?;
        let Some(sybil) = params.sybil_module else { return Ok((genesis, overlay)) };
        // Most Sybil modules do not grant quotas: find out from the compiled code before building a session.
        let Some(info) = registry::load_instance(&overlay, base, &sybil)? else {
            return Ok((genesis, overlay));
        };
        let (code, _) =
            self.host.cache.get(&info.code_id, || registry::read_code(&overlay, base, &info.code_id))?;
        if !code.has_quota {
            return Ok((genesis, overlay));
        }
        let fuel = QUOTA_FUEL.min(params.max_tx_fuel);
        let mut s = Session::new(&self.host, overlay, block.clone(), Address::default(), fuel);
        s.set_read_only(true);
        let r = s.execute_entry(&sybil, "quota", &account.0);
        let overlay = s.finish();
        let attested = match r {
            Ok(out) => borsh::from_slice::<(u64, u64)>(&out).unwrap_or_default(),
            Err(Failure::Host(h)) => return Err(h),
            Err(Failure::Exec(_)) => (0, 0),
        };
        let q = Quota { fuel: genesis.fuel.max(attested.0), bytes: genesis.bytes.max(attested.1) };
        Ok((q, overlay))
    }
}
