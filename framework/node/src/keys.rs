//! The node's two keys — the consensus (validator) key and the p2p key — and the migration of homes written
//! when they were one.
//!
//! Why two: the p2p key is used on every connection by the network task, while the validator key signs votes
//! (through [`crate::signer::GuardedSigner`]) and one binding at start. Apart, a compromise of the networking
//! side leaks no voting power, the p2p key can be rotated freely, and the validator key's file can be guarded
//! on its own. The names are CometBFT's: `config/priv_validator_key.json` (validator) and
//! `config/node_key.json` (p2p), both 0600.
//!
//! **Migration.** Before the split, `config/node_key.json` held the validator key and `config.toml` said
//! `key_file = "config/node_key.json"`. On start such a home is migrated: the file is renamed to
//! `config/priv_validator_key.json` (0600), a fresh p2p key is written to `config/node_key.json`, `key_file` in
//! `config.toml` is rewritten to the new name, and a warning says so. The node's validator key, its votes and
//! its last-signed state are untouched; only its peer id changes (peers that pin the old key in their
//! bootstrap lists still reach it: cairn-p2p then dials the address unpinned).

use std::path::{Path, PathBuf};

use cairn_primitives::Keypair;
use tracing::{info, warn};

use crate::config::{CONFIG_FILE, ConfigError, NodeConfig, NodeKeyFile, VALIDATOR_KEY_FILE};

/// A node's keys (no `Debug`: it holds secrets).
pub struct NodeKeys {
    /// Signs consensus messages and the p2p binding; its public key is in the validator set.
    pub validator: Keypair,
    /// The libp2p identity (what peers see in the noise handshake and pin in bootstrap lists).
    pub p2p: Keypair,
}

/// What [`migrate`] did to a home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migration {
    /// The home already has separate keys (or no keys at all, which loading reports).
    None,
    /// The old single key moved from `from` to `to`; a fresh p2p key was written at `from`.
    SplitSingleKey { from: PathBuf, to: PathBuf, config_rewritten: bool },
}

impl NodeKeys {
    /// Loads both keys of the home, migrating an old single-key home first (which may change
    /// `config.key_file`) and creating a missing p2p key.
    pub fn load(home: &Path, config: &mut NodeConfig) -> Result<NodeKeys, ConfigError> {
        migrate(home, config)?;
        let validator = NodeKeyFile::load(&NodeConfig::resolve(home, &config.key_file))?;
        let p2p = load_or_create_p2p(&NodeConfig::resolve(home, &config.node_key_file))?;
        Ok(NodeKeys { validator, p2p })
    }
}

/// The p2p key at `path`, created (0600) when the file does not exist yet.
pub fn load_or_create_p2p(path: &Path) -> Result<Keypair, ConfigError> {
    if path.exists() {
        return NodeKeyFile::load(path);
    }
    let key = Keypair::generate();
    NodeKeyFile::write(path, &key)?;
    info!(path = %path.display(), key = %key.public(), "created the node's p2p key");
    Ok(key)
}

/// Migrates a home whose validator key is still in the p2p key's file (see the module docs).
pub fn migrate(home: &Path, config: &mut NodeConfig) -> Result<Migration, ConfigError> {
    let validator = NodeConfig::resolve(home, &config.key_file);
    let p2p = NodeConfig::resolve(home, &config.node_key_file);
    // Old config.toml files name the single key explicitly; a minimal one relied on the old default.
    let explicit = validator == p2p;
    let defaulted = config.key_file == Path::new(VALIDATOR_KEY_FILE) && !validator.exists();
    if !p2p.exists() || !(explicit || defaulted) {
        return Ok(Migration::None);
    }
    let to = if explicit { NodeConfig::resolve(home, Path::new(VALIDATOR_KEY_FILE)) } else { validator };
    if to.exists() {
        return Err(ConfigError::Invalid {
            path: home.join(CONFIG_FILE),
            field: "key_file".into(),
            reason: format!(
                "names the p2p key file {} while {} exists too: point key_file at the validator key",
                p2p.display(),
                to.display()
            ),
        });
    }
    // Read first, so a broken file stops the start before anything moves.
    let key = NodeKeyFile::load(&p2p)?;
    let werr = |source| ConfigError::Write { path: to.clone(), source };
    std::fs::rename(&p2p, &to).map_err(werr)?;
    // Rewrites with mode 0600 whatever the old file's mode was.
    NodeKeyFile::write(&to, &key)?;
    let fresh = Keypair::generate();
    NodeKeyFile::write(&p2p, &fresh)?;
    let mut config_rewritten = false;
    if explicit {
        config.key_file = PathBuf::from(VALIDATOR_KEY_FILE);
        config_rewritten = rewrite_key_file_line(&home.join(CONFIG_FILE))?;
    }
    warn!(
        home = %home.display(),
        validator_key = %key.public(),
        new_p2p_key = %fresh.public(),
        "migrated to separate keys: the validator key moved from {} to {} (0600) and a new p2p key is in {}{}; \
         the node's peer id changed (peers pinning the old key in their bootstrap lists should use the new p2p \
         key)",
        p2p.display(),
        to.display(),
        p2p.display(),
        if config_rewritten { "; config.toml's key_file now names the validator key file" } else { "" },
    );
    Ok(Migration::SplitSingleKey { from: p2p, to, config_rewritten })
}

/// Replaces the `key_file = …` line of `config.toml` in place (comments and layout kept). `false` when there
/// is no such file or line (a config passed in code): the in-memory config was updated all the same.
fn rewrite_key_file_line(path: &Path) -> Result<bool, ConfigError> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(false) };
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let is_key_line =
                line.trim_start().strip_prefix("key_file").is_some_and(|r| r.trim_start().starts_with('='));
            if is_key_line && !found {
                found = true;
                format!("key_file = \"{VALIDATOR_KEY_FILE}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        return Ok(false);
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|source| ConfigError::Write { path: path.to_path_buf(), source })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::P2P_KEY_FILE;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// A home as `cairn init` wrote it before the split: one key, in `config/node_key.json`, named by
    /// `key_file`, readable by others.
    fn old_home(dir: &Path, explicit: bool) -> (PathBuf, Keypair) {
        let home = dir.join("home");
        let key = Keypair::derived("migrate", 0);
        NodeKeyFile::write(&home.join(P2P_KEY_FILE), &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let loose = std::fs::Permissions::from_mode(0o644);
            std::fs::set_permissions(home.join(P2P_KEY_FILE), loose).unwrap();
        }
        let config = if explicit {
            "# my node\nmoniker = \"n0\"\nkey_file = \"config/node_key.json\"\n\n[p2p]\nlisten = \"127.0.0.1:0\"\n"
        } else {
            "moniker = \"n0\"\n"
        };
        std::fs::write(home.join(CONFIG_FILE), config).unwrap();
        (home, key)
    }

    #[test]
    fn an_old_single_key_home_is_split_once() {
        for explicit in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let (home, old) = old_home(dir.path(), explicit);
            let mut config = NodeConfig::load(&home.join(CONFIG_FILE)).unwrap();
            let keys = NodeKeys::load(&home, &mut config).unwrap();
            assert_eq!(keys.validator.public(), old.public(), "the validator key is kept");
            assert_ne!(keys.p2p.public(), old.public(), "a fresh p2p key");
            let validator_file = home.join(VALIDATOR_KEY_FILE);
            assert_eq!(NodeKeyFile::load(&validator_file).unwrap().public(), old.public());
            assert_eq!(NodeKeyFile::load(&home.join(P2P_KEY_FILE)).unwrap().public(), keys.p2p.public());
            #[cfg(unix)]
            {
                assert_eq!(mode(&validator_file), 0o600, "the validator key is private");
                assert_eq!(mode(&home.join(P2P_KEY_FILE)), 0o600, "so is the p2p key");
            }
            // config.toml names the new file, comments and other fields kept.
            let text = std::fs::read_to_string(home.join(CONFIG_FILE)).unwrap();
            let reread = NodeConfig::load(&home.join(CONFIG_FILE)).unwrap();
            assert_eq!(reread.key_file, Path::new(VALIDATOR_KEY_FILE), "{text}");
            assert_eq!(config.key_file, Path::new(VALIDATOR_KEY_FILE));
            if explicit {
                assert!(
                    text.starts_with("# my node\nmoniker = \"n0\"\n") && text.contains("[p2p]"),
                    "{text}"
                );
            }
            // The next start finds the new layout and changes nothing.
            assert_eq!(migrate(&home, &mut reread.clone()).unwrap(), Migration::None);
            let again = NodeKeys::load(&home, &mut reread.clone()).unwrap();
            assert_eq!((again.validator.public(), again.p2p.public()), (old.public(), keys.p2p.public()));
        }
    }

    #[test]
    fn a_key_file_on_both_names_is_refused_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let (home, _) = old_home(dir.path(), true);
        NodeKeyFile::write(&home.join(VALIDATOR_KEY_FILE), &Keypair::derived("migrate", 1)).unwrap();
        let mut config = NodeConfig::load(&home.join(CONFIG_FILE)).unwrap();
        let err = NodeKeys::load(&home, &mut config).err().expect("refused").to_string();
        assert!(err.contains("key_file") && err.contains("priv_validator_key.json"), "{err}");
    }

    #[test]
    fn a_missing_p2p_key_is_created_private_and_a_loose_one_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/node_key.json");
        let created = load_or_create_p2p(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(mode(&path), 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        assert_eq!(load_or_create_p2p(&path).unwrap().public(), created.public(), "loaded, not replaced");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "tightened on load");
    }
}
