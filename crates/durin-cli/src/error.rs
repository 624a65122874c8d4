//! What can go wrong in a command, and the exit code each failure maps to.

use std::error::Error as StdError;
use std::fmt::Write as _;

use durin_core::{AuthError, BoxError, StoreError};

/// A failed command.
///
/// The split follows the exit codes: [`CliError::Usage`] is what the command line alone
/// shows to be wrong (exit 2, and nothing was read or written); every other variant
/// happened while doing the work (exit 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// The command line is malformed: a bad name, lifetime, rate, id, or a missing option.
    #[error("{0}")]
    Usage(String),
    /// The operation was refused: an unknown client or session, a duplicate, a
    /// declined confirmation.
    #[error("{0}")]
    Refused(String),
    /// The store failed while doing `doing`.
    #[error("{doing}")]
    Store {
        /// What the command was doing, for the message.
        doing: String,
        /// The store's error, with its sources.
        #[source]
        source: BoxError,
    },
    /// Anything else that failed on this machine (the key file, the terminal).
    #[error("{doing}")]
    Local {
        /// What the command was doing.
        doing: String,
        /// Why it failed.
        #[source]
        source: BoxError,
    },
}

impl CliError {
    /// A store failure while doing `doing`.
    pub(crate) fn store(doing: impl Into<String>, source: StoreError) -> Self {
        CliError::Store {
            doing: doing.into(),
            source: Box::new(source),
        }
    }

    /// A service failure while doing `doing`; store failures keep their sources.
    pub(crate) fn auth(doing: impl Into<String>, source: AuthError) -> Self {
        match source {
            AuthError::Unavailable(store) => CliError::store(doing, store),
            other => CliError::Store {
                doing: doing.into(),
                source: Box::new(other),
            },
        }
    }

    /// The process exit code: 2 for usage errors, 1 for everything else.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The message with every source appended (`doing: cause: root cause`), so that
    /// "store unavailable" comes with the driver's reason.
    pub(crate) fn report(&self) -> String {
        let mut text = self.to_string();
        let mut source = StdError::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // Transparent wrappers repeat their inner message: say it once.
            if !text.ends_with(&cause_text) {
                let _ = write!(text, ": {cause_text}");
            }
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_carry_the_whole_source_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = CliError::store("listing clients", StoreError::unavailable(io));
        assert_eq!(
            err.report(),
            "listing clients: store unavailable: connection refused"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn usage_errors_exit_with_2() {
        assert_eq!(CliError::Usage("bad".into()).exit_code(), 2);
        assert_eq!(CliError::Refused("no".into()).exit_code(), 1);
    }
}
