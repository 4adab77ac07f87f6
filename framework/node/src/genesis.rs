//! The chain's genesis file (JSON): what every node of a chain must agree on before block 1.

use std::path::Path;

use cairn_abci::{ConsensusParams, InitChainRequest};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator, ValidatorSet};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, parse_json};

/// One genesis validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    pub public_key: PublicKey,
    pub power: u64,
    /// Optional human name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A genesis document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: ChainId,
    /// Height of the first block (usually 1; a spin-off may start higher).
    #[serde(default = "first_height")]
    pub initial_height: Height,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    pub validators: Vec<GenesisValidator>,
    #[serde(default)]
    pub consensus_params: ConsensusParams,
    /// Opaque to the node; handed to the app's `InitChain` as JSON bytes.
    #[serde(default)]
    pub app_state: serde_json::Value,
}

fn first_height() -> Height {
    Height(1)
}

impl Genesis {
    /// Reads and validates a genesis file.
    pub fn load(path: &Path) -> Result<Genesis, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Genesis::parse(&text, path)
    }

    /// Parses and validates genesis text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Genesis, ConfigError> {
        let genesis: Genesis = parse_json(text, path)?;
        genesis.validate(path)?;
        Ok(genesis)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid =
            |field: String, reason: String| ConfigError::Invalid { path: path.to_path_buf(), field, reason };
        if self.initial_height.0 == 0 {
            return Err(invalid("initial_height".into(), "must be at least 1".into()));
        }
        if self.validators.is_empty() {
            return Err(invalid("validators".into(), "at least one validator is required".into()));
        }
        for (i, v) in self.validators.iter().enumerate() {
            if v.public_key.validate().is_err() {
                return Err(invalid(
                    format!("validators[{i}].public_key"),
                    "not a valid ed25519 public key".into(),
                ));
            }
            if v.power == 0 {
                return Err(invalid(format!("validators[{i}].power"), "must be greater than 0".into()));
            }
            if self.validators[..i].iter().any(|w| w.public_key == v.public_key) {
                return Err(invalid(format!("validators[{i}].public_key"), "listed twice".into()));
            }
        }
        self.validator_set().map_err(|e| invalid("validators".into(), e.to_string()))?;
        let params = &self.consensus_params;
        if params.max_block_bytes == 0 {
            return Err(invalid("consensus_params.max_block_bytes".into(), "must be greater than 0".into()));
        }
        if params.max_block_txs == 0 {
            return Err(invalid("consensus_params.max_block_txs".into(), "must be greater than 0".into()));
        }
        Ok(())
    }

    /// The genesis validator set.
    pub fn validator_set(&self) -> Result<ValidatorSet, cairn_primitives::Error> {
        ValidatorSet::new(
            self.validators.iter().map(|v| Validator { public_key: v.public_key, power: v.power }).collect(),
        )
    }

    /// The `InitChain` call this genesis makes.
    pub fn init_chain_request(&self) -> InitChainRequest {
        InitChainRequest {
            chain_id: self.chain_id.clone(),
            time_ms: self.genesis_time_ms,
            initial_height: self.initial_height,
            consensus_params: self.consensus_params.clone(),
            validators: self
                .validators
                .iter()
                .map(|v| Validator { public_key: v.public_key, power: v.power })
                .collect(),
            app_state: serde_json::to_vec(&self.app_state).unwrap_or_default(),
        }
    }

    /// Commitment to the whole document (canonical JSON of the parsed value), so nodes can tell they share it.
    pub fn hash(&self) -> Hash {
        Hash::digest(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// The genesis as pretty JSON (what `cairn init` writes).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::Keypair;

    use super::*;

    fn sample() -> Genesis {
        Genesis {
            chain_id: "test-chain".parse().unwrap(),
            initial_height: Height(1),
            genesis_time_ms: 1_700_000_000_000,
            validators: (0..4)
                .map(|i| GenesisValidator {
                    public_key: Keypair::derived("g", i).public(),
                    power: 10,
                    name: String::new(),
                })
                .collect(),
            consensus_params: ConsensusParams::default(),
            app_state: serde_json::json!({"bank": {"alice": 5}}),
        }
    }

    fn p() -> &'static Path {
        Path::new("genesis.json")
    }

    #[test]
    fn round_trip() {
        let g = sample();
        let back = Genesis::parse(&g.to_json(), p()).unwrap();
        assert_eq!(g, back);
        assert_eq!(g.hash(), back.hash());
        assert_eq!(g.validator_set().unwrap().len(), 4);
    }

    #[test]
    fn bad_key_names_the_validator_field() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["validators"][2]["public_key"] = serde_json::json!("abcd");
        let err = Genesis::parse(&v.to_string(), p()).unwrap_err().to_string();
        assert!(err.contains("validators[2].public_key"), "{err}");
        assert!(err.contains("genesis.json"), "{err}");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("chain_id");
        let err = Genesis::parse(&v.to_string(), p()).unwrap_err().to_string();
        assert!(err.contains("chain_id"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["consensus_params"]["max_block_txs"] = serde_json::json!("lots");
        let err = Genesis::parse(&v.to_string(), p()).unwrap_err().to_string();
        assert!(err.contains("consensus_params.max_block_txs"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["chain_id"] = serde_json::json!("has spaces");
        let err = Genesis::parse(&v.to_string(), p()).unwrap_err().to_string();
        assert!(err.contains("chain_id"), "{err}");
    }

    #[test]
    fn semantic_errors_are_named() {
        let mut g = sample();
        g.validators[1].power = 0;
        let err = Genesis::parse(&g.to_json(), p()).unwrap_err().to_string();
        assert!(err.contains("validators[1].power"), "{err}");

        let mut g = sample();
        g.validators[3].public_key = g.validators[0].public_key;
        let err = Genesis::parse(&g.to_json(), p()).unwrap_err().to_string();
        assert!(err.contains("validators[3].public_key"), "{err}");

        let mut g = sample();
        g.validators.clear();
        let err = Genesis::parse(&g.to_json(), p()).unwrap_err().to_string();
        assert!(err.contains("`validators`"), "{err}");
    }

    #[test]
    fn truncated_json_reports_line() {
        let text = sample().to_json();
        let cut = &text[..text.len() / 2];
        let err = Genesis::parse(cut, p()).unwrap_err().to_string();
        assert!(err.contains("line"), "{err}");
    }
}
