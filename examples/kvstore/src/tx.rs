//! The two transaction forms and their parsing, exactly as specified in the README (the Python kvstore implements
//! the same rules; a difference shows up as a different tx code or app hash in the cross-language test).

use cairn_primitives::PublicKey;

/// Longest key of a `key=value` tx.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest value of a `key=value` tx.
pub const MAX_VALUE_BYTES: usize = 65_536;
/// Longest tx: the longest key, `=`, the longest value.
pub const MAX_TX_BYTES: usize = MAX_KEY_BYTES + 1 + MAX_VALUE_BYTES;
/// Highest validator power a tx may set (keeps total power far from overflow).
pub const MAX_POWER: u64 = 1_000_000_000_000;
/// Txs starting with this are validator updates, never key/value writes.
pub const VALIDATOR_PREFIX: &[u8] = b"val:";

/// Tx codes (`CheckTxResponse::code` / `TxResult::code`).
pub mod code {
    pub const OK: u32 = 0;
    /// The tx is not of either form.
    pub const MALFORMED: u32 = 1;
    /// The tx, its key or its value is too long.
    pub const TOO_LARGE: u32 = 2;
    /// Well-formed but not applicable to the state (remove an unknown or the last validator).
    pub const REJECTED: u32 = 3;
    /// Query: no such key.
    pub const NOT_FOUND: u32 = 4;
    /// Query: a height other than the latest (only the latest state is kept).
    pub const BAD_HEIGHT: u32 = 5;
    /// Query: unknown path.
    pub const UNKNOWN_PATH: u32 = 6;
}

/// A parsed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tx {
    /// `key=value`: store `value` under `key`.
    Set { key: Vec<u8>, value: Vec<u8> },
    /// `val:<64 hex chars>!<power>`: set a validator's power (0 removes it).
    Validator { public_key: PublicKey, power: u64 },
}

/// Why a tx is invalid: the tx code and a log that says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TxError {
    pub code: u32,
    pub reason: String,
}

fn malformed(reason: impl Into<String>) -> TxError {
    TxError { code: code::MALFORMED, reason: reason.into() }
}

fn too_large(reason: impl Into<String>) -> TxError {
    TxError { code: code::TOO_LARGE, reason: reason.into() }
}

/// Parses a tx, checking everything that does not depend on state. The order of checks is part of the spec.
pub fn parse(tx: &[u8]) -> Result<Tx, TxError> {
    if tx.is_empty() {
        return Err(malformed("empty tx"));
    }
    if tx.len() > MAX_TX_BYTES {
        return Err(too_large(format!("tx of {} bytes exceeds the limit of {MAX_TX_BYTES} bytes", tx.len())));
    }
    if let Some(body) = tx.strip_prefix(VALIDATOR_PREFIX) {
        return parse_validator(body);
    }
    let Some(eq) = tx.iter().position(|&b| b == b'=') else {
        return Err(malformed("a tx must be key=value or val:<hex pubkey>!<power>; no '=' found"));
    };
    let (key, value) = (&tx[..eq], &tx[eq + 1..]);
    if key.is_empty() {
        return Err(malformed("empty key"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(too_large(format!(
            "key of {} bytes exceeds the limit of {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(too_large(format!(
            "value of {} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    Ok(Tx::Set { key: key.to_vec(), value: value.to_vec() })
}

fn parse_validator(body: &[u8]) -> Result<Tx, TxError> {
    let Some(bang) = body.iter().position(|&b| b == b'!') else {
        return Err(malformed("a validator tx must be val:<hex pubkey>!<power>; no '!' found"));
    };
    let (key_hex, power) = (&body[..bang], &body[bang + 1..]);
    if key_hex.len() != 64 || !key_hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(malformed("validator public key must be exactly 64 hex characters"));
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(key_hex, &mut key).map_err(|e| malformed(format!("validator public key: {e}")))?;
    if power.is_empty() || power.len() > 20 || !power.iter().all(u8::is_ascii_digit) {
        return Err(malformed("validator power must be 1 to 20 decimal digits"));
    }
    let power = power.iter().fold(0u128, |acc, &d| acc * 10 + u128::from(d - b'0'));
    if power > u128::from(MAX_POWER) {
        return Err(malformed(format!("validator power {power} exceeds the limit of {MAX_POWER}")));
    }
    // `power <= MAX_POWER < u64::MAX`, so this never falls back.
    let power = u64::try_from(power).unwrap_or(MAX_POWER);
    Ok(Tx::Validator { public_key: PublicKey(key), power })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(tx: &[u8]) -> u32 {
        parse(tx).err().map_or(code::OK, |e| e.code)
    }

    #[test]
    fn key_value() {
        assert_eq!(parse(b"a=b").unwrap(), Tx::Set { key: b"a".to_vec(), value: b"b".to_vec() });
        assert_eq!(parse(b"a=").unwrap(), Tx::Set { key: b"a".to_vec(), value: vec![] });
        assert_eq!(parse(b"a=b=c").unwrap(), Tx::Set { key: b"a".to_vec(), value: b"b=c".to_vec() });
        assert_eq!(parse(b"\xff=\x00").unwrap(), Tx::Set { key: vec![0xff], value: vec![0] });
    }

    #[test]
    fn validator() {
        let tx = format!("val:{}!10", "Ab".repeat(32));
        assert_eq!(
            parse(tx.as_bytes()).unwrap(),
            Tx::Validator { public_key: PublicKey([0xab; 32]), power: 10 }
        );
        let tx = format!("val:{}!0", "00".repeat(32));
        assert_eq!(parse(tx.as_bytes()).unwrap(), Tx::Validator { public_key: PublicKey([0; 32]), power: 0 });
    }

    #[test]
    fn garbage_gets_a_code_and_a_reason() {
        let k = "ab".repeat(32);
        for (tx, want) in [
            (b"".to_vec(), code::MALFORMED),
            (b"no equals sign".to_vec(), code::MALFORMED),
            (b"=value".to_vec(), code::MALFORMED),
            (b"val:abc!1".to_vec(), code::MALFORMED),
            (format!("val:{k}").into_bytes(), code::MALFORMED),
            (format!("val:{}!1", "zz".repeat(32)).into_bytes(), code::MALFORMED),
            (format!("val:{k}!").into_bytes(), code::MALFORMED),
            (format!("val:{k}!-1").into_bytes(), code::MALFORMED),
            (format!("val:{k}!+1").into_bytes(), code::MALFORMED),
            (format!("val:{k}!1000000000001").into_bytes(), code::MALFORMED),
            (format!("val:{k}!123456789012345678901").into_bytes(), code::MALFORMED),
            ([vec![b'k'; 257], b"=v".to_vec()].concat(), code::TOO_LARGE),
            ([b"k=".to_vec(), vec![b'v'; MAX_VALUE_BYTES + 1]].concat(), code::TOO_LARGE),
            (vec![b'x'; MAX_TX_BYTES + 1], code::TOO_LARGE),
        ] {
            assert_eq!(code_of(&tx), want, "{:?}", String::from_utf8_lossy(&tx[..tx.len().min(80)]));
            if want != code::OK {
                assert!(!parse(&tx).unwrap_err().reason.is_empty());
            }
        }
        assert_eq!(
            parse(b"no equals").unwrap_err().reason,
            "a tx must be key=value or val:<hex pubkey>!<power>; no '=' found"
        );
    }
}
