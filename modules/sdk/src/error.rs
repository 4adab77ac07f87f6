use alloc::string::String;
use core::fmt;

/// A module error: a human-readable message that becomes the tx log when an entry point fails.
///
/// Entry points may return any `E: Display`; this type is the convenient default, and what the SDK's own
/// fallible functions (storage decoding, cross-module calls) return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error carrying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self { message }
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self { message: message.into() }
    }
}

/// Return early with an [`Error`] built from a format string: `bail!("{who} is not an authority")`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::new($crate::__private::format!($($arg)*)).into())
    };
}

/// Return early with an [`Error`] unless `cond` holds: `ensure!(amount > 0, "amount must be positive")`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::bail!($($arg)*);
        }
    };
}
