/// Why a simulation could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid simulation: {0}")]
    Config(String),
    #[error("the {engine} engine has no Byzantine behaviour `{behaviour}`")]
    UnsupportedBehaviour { engine: &'static str, behaviour: &'static str },
    #[error("cannot parse {what} {input:?}: {reason}")]
    Parse { what: &'static str, input: String, reason: String },
}
