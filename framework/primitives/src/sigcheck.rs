//! The tx signature rule, one signature at a time or many at once, with the same verdict either way.
//!
//! A tx signature is valid when, with `k = SHA-512(R ‖ A ‖ M) mod ℓ`, the *cofactored* equation
//! `[8](s·B) = [8]R + [8](k·A)` holds, `A` and `R` are not of small order and `s < ℓ`.
//!
//! Why cofactored: checking many signatures with one multiscalar multiplication costs about half as much per
//! signature (`docs/PERFORMANCE.md`), but a batch agrees with the single check only under the cofactored equation.
//! Under dalek's cofactorless `verify_strict`, a signer can craft a signature (a torsion component in `R`) that the
//! batch accepts and the single check refuses, or the reverse; two nodes that checked one tx on different paths
//! (one in a batch from gossip, one alone in FinalizeBlock) would then disagree about a block (ZIP-215 describes
//! the problem). Every signature `verify_strict` accepts also passes this rule, so honest signers see no change.
//!
//! The batch's random coefficients come from a hash of everything in the batch, not from the OS: a node checking
//! the same batch twice does the same work, and an adversary cannot choose them (finding a batch whose
//! coefficients cancel a bad signature takes about 2^128 hashes).

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::crypto::signing_bytes;
use crate::{ChainId, Error, PublicKey, Purpose, Signature};

/// One signature to check: `signature` by `key` over `message` for `purpose` on `chain_id`.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    pub key: &'a PublicKey,
    pub chain_id: &'a ChainId,
    pub purpose: Purpose,
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// A signature decoded and hashed: the inputs of the verification equation (and `R`'s bytes, which seed the batch
/// coefficients without a costly re-compression of the point).
struct Prepared {
    a: EdwardsPoint,
    r: EdwardsPoint,
    r_bytes: [u8; 32],
    s: Scalar,
    k: Scalar,
}

impl Signed<'_> {
    fn error(&self) -> Error {
        Error::BadSignature { chain_id: self.chain_id.to_string(), purpose: self.purpose.tag() }
    }

    /// Decodes the points and scalar and refuses what the rule excludes before any multiplication.
    fn prepare(&self) -> Result<Prepared, Error> {
        let a = decompress_key(&self.key.0).filter(|p| !p.is_small_order());
        let r_bytes: [u8; 32] = self.signature.0[..32].try_into().expect("32 of 64 bytes");
        let s_bytes: [u8; 32] = self.signature.0[32..].try_into().expect("32 of 64 bytes");
        let r = CompressedEdwardsY(r_bytes).decompress().filter(|p| !p.is_small_order());
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes));
        let (Some(a), Some(r), Some(s)) = (a, r, s) else { return Err(self.error()) };
        let signed = signing_bytes(self.chain_id, self.purpose, self.message);
        let k = Scalar::from_hash(
            Sha512::new().chain_update(r_bytes).chain_update(self.key.0).chain_update(&signed),
        );
        Ok(Prepared { a, r, r_bytes, s, k })
    }
}

/// Keys decompressed recently, by a direct-mapped slot per key: a sender signs many txs, and decompressing its
/// key is about a fifth of a batched check. A pure function's memo, so verdicts do not depend on it.
const KEY_SLOTS: usize = 1024;
/// A slot: the key's bytes and its point.
type KeySlot = Option<([u8; 32], EdwardsPoint)>;
static KEYS: std::sync::Mutex<Vec<KeySlot>> = std::sync::Mutex::new(Vec::new());

/// A key's slot in the memo. Keys that share a slot (by chance or crafted) only cost each other a miss: a hit
/// needs the same bytes.
fn slot_of(bytes: &[u8; 32]) -> usize {
    (u64::from_le_bytes(bytes[..8].try_into().expect("8 of 32 bytes")) ^ u64::from(bytes[31]))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15) as usize
        % KEY_SLOTS
}

fn decompress_key(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let slot = slot_of(bytes);
    {
        let keys = KEYS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Some((k, point))) = keys.get(slot)
            && k == bytes
        {
            return Some(*point);
        }
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    let mut keys = KEYS.lock().unwrap_or_else(|p| p.into_inner());
    if keys.is_empty() {
        keys.resize(KEY_SLOTS, None);
    }
    keys[slot] = Some((*bytes, point));
    Some(point)
}

impl Prepared {
    /// The single check: `[8](s·B − k·A − R)` is the identity.
    fn holds(&self) -> bool {
        let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&self.k, &-self.a, &self.s);
        (sb_minus_ka - self.r).mul_by_cofactor().is_identity()
    }
}

/// Checks one signature under the rule of this module.
pub fn verify_one(item: &Signed<'_>) -> Result<(), Error> {
    let p = item.prepare()?;
    if p.holds() { Ok(()) } else { Err(item.error()) }
}

/// Checks many signatures; the verdict for each is the one [`verify_one`] gives. All valid (the common case)
/// costs one multiscalar multiplication; if the batch fails, each signature is checked alone to find the bad ones.
pub fn verify_batch(items: &[Signed<'_>]) -> Vec<Result<(), Error>> {
    let prepared: Vec<Result<Prepared, Error>> = items.iter().map(Signed::prepare).collect();
    let ok: Vec<&Prepared> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
    let all_hold = match ok.len() {
        0 => true,
        1 => ok[0].holds(),
        _ => batch_holds(&ok),
    };
    prepared
        .into_iter()
        .zip(items)
        .map(|(p, item)| {
            let p = p?;
            if all_hold || p.holds() { Ok(()) } else { Err(item.error()) }
        })
        .collect()
}

/// `[8](Σ zᵢRᵢ + Σ zᵢkᵢAᵢ − (Σ zᵢsᵢ)·B)` is the identity, for 128-bit `zᵢ` derived from the whole batch.
fn batch_holds(items: &[&Prepared]) -> bool {
    let mut seed = blake3::Hasher::new_derive_key("cairn/v1 signature batch coefficients");
    // `k` = H(R ‖ A ‖ M) stands for the key and the message.
    for p in items {
        seed.update(&p.r_bytes);
        seed.update(p.s.as_bytes());
        seed.update(p.k.as_bytes());
    }
    let seed = seed.finalize();
    let mut scalars = Vec::with_capacity(2 * items.len() + 1);
    let mut points = Vec::with_capacity(2 * items.len() + 1);
    let mut b_coefficient = Scalar::ZERO;
    for (i, p) in items.iter().enumerate() {
        let mut z = [0u8; 16];
        let mut h = blake3::Hasher::new_keyed(seed.as_bytes());
        h.update(&(i as u64).to_le_bytes());
        h.finalize_xof().fill(&mut z);
        // A zero coefficient would drop the signature from the equation.
        let z = Scalar::from(u128::from_le_bytes(z).max(1));
        b_coefficient += z * p.s;
        scalars.push(z);
        points.push(p.r);
        scalars.push(z * p.k);
        points.push(p.a);
    }
    scalars.push(-b_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    fn chain() -> ChainId {
        ChainId::new("sig-test").unwrap()
    }

    fn signed(n: usize) -> Vec<(PublicKey, Vec<u8>, Signature)> {
        (0..n)
            .map(|i| {
                let key = Keypair::from_seed([i as u8 + 1; 32]);
                let msg = format!("message {i}").into_bytes();
                let sig = key.sign(&chain(), Purpose::Tx, &msg);
                (key.public(), msg, sig)
            })
            .collect()
    }

    fn items<'a>(chain: &'a ChainId, v: &'a [(PublicKey, Vec<u8>, Signature)]) -> Vec<Signed<'a>> {
        v.iter()
            .map(|(key, message, signature)| Signed {
                key,
                chain_id: chain,
                purpose: Purpose::Tx,
                message,
                signature,
            })
            .collect()
    }

    /// A point of order 8 (the y coordinate of a torsion point; ed25519's small-order list).
    const TORSION_8: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a,
        0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ];

    #[test]
    fn honest_signatures_pass_alone_and_in_a_batch() {
        let c = chain();
        let v = signed(9);
        let items = items(&c, &v);
        assert!(items.iter().all(|i| verify_one(i).is_ok()));
        assert!(verify_batch(&items).iter().all(Result::is_ok));
    }

    /// The batch equation itself: a wrong equation would still give right verdicts (every signature is then
    /// checked alone), at twice the cost, so it is tested on its own.
    #[test]
    fn the_batch_equation_holds_for_honest_batches_and_only_for_them() {
        let c = chain();
        let mut v = signed(6);
        let holds = |v: &[(PublicKey, Vec<u8>, Signature)]| {
            let prepared: Vec<Prepared> = items(&c, v).iter().map(|i| i.prepare().unwrap()).collect();
            batch_holds(&prepared.iter().collect::<Vec<_>>())
        };
        assert!(holds(&v));
        v[4].1 = b"another message".to_vec();
        assert!(!holds(&v));
    }

    #[test]
    fn a_bad_signature_in_a_batch_is_found_and_the_others_pass() {
        let c = chain();
        let mut v = signed(8);
        v[3].1 = b"another message".to_vec();
        v[6].2.0[40] ^= 1;
        let verdicts = verify_batch(&items(&c, &v));
        let bad: Vec<usize> =
            verdicts.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
        assert_eq!(bad, vec![3, 6]);
    }

    #[test]
    fn another_chain_or_purpose_fails() {
        let c = chain();
        let v = signed(1);
        let other = ChainId::new("other").unwrap();
        let mut item = items(&c, &v)[0];
        item.chain_id = &other;
        assert!(verify_one(&item).is_err());
        let mut item = items(&c, &v)[0];
        item.purpose = Purpose::Vote;
        assert!(verify_one(&item).is_err());
    }

    /// Each input the equation alone would accept, refused by the one check that names it.
    #[test]
    fn small_order_keys_and_r_and_non_canonical_s_are_refused() {
        let c = chain();
        let v = signed(1);
        let message = b"anything".to_vec();
        let hram = |r: &[u8; 32], a: &[u8; 32]| {
            let bytes = signing_bytes(&c, Purpose::Tx, &message);
            Scalar::from_hash(Sha512::new().chain_update(r).chain_update(a).chain_update(&bytes))
        };
        let sig = |r: [u8; 32], s: [u8; 32]| {
            let mut out = [0u8; 64];
            out[..32].copy_from_slice(&r);
            out[32..].copy_from_slice(&s);
            Signature(out)
        };
        // The identity as the key, R = 7·B, s = 7: s·B − k·A − R = 0 for every message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let seven = Scalar::from(7u64);
        let r7 = (ED25519_BASEPOINT_POINT * seven).compress().to_bytes();
        let weak_key = (PublicKey(identity), message.clone(), sig(r7, seven.to_bytes()));
        // A real key, R of order 8, s = k·a: [8](s·B − k·A − R) = −[8]R = 0.
        let secret = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let a = PublicKey(secret.verifying_key().to_bytes());
        let s = hram(&TORSION_8, &a.0) * secret.to_scalar();
        let small_r = (a, message.clone(), sig(TORSION_8, s.to_bytes()));
        // s + ℓ: the same point equation, a second encoding of an honest signature.
        let mut big_s = v[0].clone();
        let l_plus: [u8; 32] = {
            // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian; added to s byte by byte.
            let mut l = [0u8; 32];
            l[..16].copy_from_slice(&[
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
                0x14,
            ]);
            l[31] = 0x10;
            let mut out = [0u8; 32];
            let mut carry = 0u16;
            for i in 0..32 {
                let sum = u16::from(big_s.2.0[32 + i]) + u16::from(l[i]) + carry;
                out[i] = sum as u8;
                carry = sum >> 8;
            }
            out
        };
        big_s.2.0[32..].copy_from_slice(&l_plus);
        let all = vec![weak_key, small_r, big_s];
        for (i, item) in items(&c, &all).iter().enumerate() {
            assert!(verify_one(item).is_err(), "item {i} passed alone");
        }
        assert!(verify_batch(&items(&c, &all)).iter().all(Result::is_err));
    }

    /// The memo of decompressed keys must never answer for other bytes than its own: if it did, the owner of a key
    /// that shares a slot with a victim's could sign txs in the victim's name.
    #[test]
    fn a_key_sharing_a_memo_slot_cannot_sign_for_another() {
        let c = chain();
        let mut seen = std::collections::BTreeMap::new();
        let (x, y) = (0u64..)
            .find_map(|i| {
                let seed = *crate::Hash::digest(&i.to_le_bytes()).as_bytes();
                let slot = slot_of(&Keypair::from_seed(seed).public().0);
                seen.insert(slot, seed).map(|other| (other, seed))
            })
            .expect("two keys share a slot");
        let (x_key, y_key) = (Keypair::from_seed(x), Keypair::from_seed(y));
        let (x_pub, y_pub) = (x_key.public(), y_key.public());
        let message = b"transfer everything to x".to_vec();
        // X's key fills the slot.
        let x_sig = x_key.sign(&c, Purpose::Tx, &message);
        let signed =
            |key, signature| Signed { key, chain_id: &c, purpose: Purpose::Tx, message: &message, signature };
        assert!(verify_one(&signed(&x_pub, &x_sig)).is_ok());
        // A forgery that would verify against X's point under Y's name: s = r + H(R ‖ Y ‖ M)·x.
        let r = Scalar::from(11u64);
        let r_bytes = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
        let bytes = signing_bytes(&c, Purpose::Tx, &message);
        let k =
            Scalar::from_hash(Sha512::new().chain_update(r_bytes).chain_update(y_pub.0).chain_update(&bytes));
        let s = r + k * ed25519_dalek::SigningKey::from_bytes(&x).to_scalar();
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&r_bytes);
        forged[32..].copy_from_slice(s.as_bytes());
        let forged = Signature(forged);
        assert!(verify_one(&signed(&x_pub, &x_sig)).is_ok(), "X is in the slot");
        assert!(verify_one(&signed(&y_pub, &forged)).is_err(), "X signed in Y's name");
        assert!(verify_batch(&[signed(&x_pub, &x_sig), signed(&y_pub, &forged)])[1].is_err());
        // Y's own signature still verifies, with Y's key in the slot or X's.
        let y_sig = y_key.sign(&c, Purpose::Tx, &message);
        assert!(verify_one(&signed(&y_pub, &y_sig)).is_ok());
        assert!(verify_one(&signed(&x_pub, &x_sig)).is_ok());
        assert!(verify_one(&signed(&y_pub, &y_sig)).is_ok());
    }

    /// The case the rule exists for: a signature whose `R` carries a torsion component, which the cofactorless
    /// `verify_strict` refuses. The cofactored rule accepts it alone *and* in a batch, so no node can disagree.
    #[test]
    fn a_torsioned_r_gets_the_same_verdict_alone_and_in_a_batch() {
        let c = chain();
        let key = Keypair::from_seed([42; 32]);
        let secret = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        let scalar = secret.to_scalar();
        let a = key.public();
        let message = b"torsion".to_vec();
        let torsion = CompressedEdwardsY(TORSION_8).decompress().unwrap();
        let r_scalar = Scalar::from(7u64);
        let r_bytes = (ED25519_BASEPOINT_POINT * r_scalar + torsion).compress().to_bytes();
        let bytes = signing_bytes(&c, Purpose::Tx, &message);
        let k = Scalar::from_hash(Sha512::new().chain_update(r_bytes).chain_update(a.0).chain_update(&bytes));
        let s = r_scalar + k * scalar;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        let sig = Signature(sig);
        assert!(a.verify_strict(&c, Purpose::Tx, &message, &sig).is_err(), "cofactorless refuses it");
        let item = Signed { key: &a, chain_id: &c, purpose: Purpose::Tx, message: &message, signature: &sig };
        assert!(verify_one(&item).is_ok());
        let v = signed(5);
        let mut batch = items(&c, &v);
        batch.insert(2, item);
        assert!(verify_batch(&batch).iter().all(Result::is_ok));
    }
}
