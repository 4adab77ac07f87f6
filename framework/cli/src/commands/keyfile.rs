//! Key files: a JSON object `{"public_key": HEX, "secret_key": HEX}` (the secret is the 32-byte ed25519 seed),
//! written with mode 0600. `cairn keys`, `cairn tx --from-key` and `cairn init` share this format.

use std::path::Path;

use anyhow::{Context, Result, bail};
use cairn_primitives::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct KeyFile {
    public_key: PublicKey,
    secret_key: String,
}

/// Writes `key` to `path`, refusing to overwrite an existing file unless `force`.
pub fn write(path: &Path, key: &Keypair, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} already exists: pass --force to overwrite it (the old key is lost)", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text =
        serde_json::to_string_pretty(&KeyFile { public_key: key.public(), secret_key: key.secret_hex() })?;
    write_private(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Reads a key file, checking that its public key matches its secret.
pub fn read(path: &Path) -> Result<Keypair> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read key file {} (create one with `cairn keys new --file FILE`)", path.display())
    })?;
    let file: KeyFile = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a cairn key file ({{\"public_key\", \"secret_key\"}})", path.display())
    })?;
    let key = Keypair::from_secret_hex(&file.secret_key)
        .with_context(|| format!("field `secret_key` of {}", path.display()))?;
    if key.public() != file.public_key {
        bail!("{}: field `public_key` does not match `secret_key`; the file is corrupt", path.display());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_silent_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let key = Keypair::derived("t", 1);
        write(&path, &key, false).unwrap();
        assert_eq!(read(&path).unwrap().public(), key.public());
        assert!(write(&path, &Keypair::derived("t", 2), false).is_err());
        assert_eq!(read(&path).unwrap().public(), key.public());
    }

    #[test]
    fn mismatched_public_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let a = Keypair::derived("t", 1);
        let b = Keypair::derived("t", 2);
        let text = serde_json::json!({"public_key": b.public().to_hex(), "secret_key": a.secret_hex()});
        std::fs::write(&path, text.to_string()).unwrap();
        let Err(err) = read(&path) else { panic!("a mismatched key file was accepted") };
        let err = format!("{err:#}");
        assert!(err.contains("public_key"), "{err}");
    }
}
