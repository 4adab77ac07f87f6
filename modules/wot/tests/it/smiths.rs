//! The smith sub-web: the validators.

use cairn_module_wot::msg::{ExecuteMsg, Params};
use cairn_sdk::hex;
use cairn_sdk::testing::addr;

use crate::common::*;

fn smith_certify(host: &cairn_sdk::testing::MockHost, who: u8, to: u8) -> Result<(), String> {
    run(host, who, ExecuteMsg::SmithCertify { to: addr(to) })
}

#[test]
fn the_smith_sub_web_yields_the_validators() {
    let host = mesh(params(), 1..=6, 1..=3);
    assert_eq!(updates(&host), vec![(addr(1), 10), (addr(2), 10), (addr(3), 10)], "genesis smiths announced");
    assert_eq!(updates(&host), vec![]);
    host.set_height(10);

    assert_eq!(
        smith_certify(&host, 4, 5).unwrap_err(),
        format!("{} is not a smith: only smiths certify smiths", hex(&addr(4)))
    );
    assert_eq!(
        smith_certify(&host, 1, 9).unwrap_err(),
        format!("{} is not a member: smiths are chosen among members", hex(&addr(9)))
    );
    smith_certify(&host, 1, 4).unwrap();
    assert_eq!(
        run(&host, 4, ExecuteMsg::JoinSmiths).unwrap_err(),
        format!("{} holds 1 smith certifications, 2 needed to become a smith", hex(&addr(4)))
    );
    smith_certify(&host, 2, 4).unwrap();
    run(&host, 4, ExecuteMsg::JoinSmiths).unwrap();
    assert_eq!(updates(&host), vec![(addr(4), 10)]);

    // The set is capped at max_smiths = 4.
    smith_certify(&host, 3, 5).unwrap();
    smith_certify(&host, 4, 5).unwrap();
    assert_eq!(
        run(&host, 5, ExecuteMsg::JoinSmiths).unwrap_err(),
        "the smith set is full (4 smiths, max_smiths)"
    );

    // A smith stepping down leaves the validator set and withdraws its smith certifications.
    run(&host, 3, ExecuteMsg::LeaveSmiths).unwrap();
    assert_eq!(updates(&host), vec![(addr(3), 0)]);
    assert_eq!(member(&host, 5).unwrap().smith_received, 1);
    // 3's leaving took 1 and 2 below two smith certifications each: they step down at the next end_block, and
    // withdrawing theirs takes 4 down in the same block.
    end_block_at(&host, 11);
    assert_eq!(updates(&host), vec![(addr(1), 0), (addr(2), 0), (addr(4), 0)]);
}

#[test]
fn smith_certifications_expire_and_so_does_the_validator() {
    let host = mesh(Params { smith_cert_validity: 50, cert_validity: 1_000, ..params() }, 1..=5, 1..=3);
    updates(&host);
    end_block_at(&host, 51);
    let mut out = updates(&host);
    out.sort();
    assert_eq!(out, vec![(addr(1), 0), (addr(2), 0), (addr(3), 0)], "every smith certification expired");
    assert!(member(&host, 1).is_some(), "smiths stepping down stay members");
}

#[test]
fn a_smith_that_loses_membership_leaves_the_validator_set() {
    let host = mesh(params(), 1..=4, 1..=3);
    updates(&host);
    run(&host, 4, ExecuteMsg::Leave).unwrap();
    // 1–3 now hold 2 certifications each: removed at end_block, with their validator power.
    end_block_at(&host, 2);
    let mut out = updates(&host);
    out.sort();
    assert_eq!(out, vec![(addr(1), 0), (addr(2), 0), (addr(3), 0)]);
}
