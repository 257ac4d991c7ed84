//! [`ServerError`]: why a server could not start or had to stop. A leaf of `src/server`
//! (`server/mod.rs` "Layers").

/// Why the server could not start or had to stop.
///
/// Like every error type of the crate, a variant either names its cause in its message or
/// returns it from `source()`, never both: the binary prints the whole chain once (`{:#}`), log
/// lines pass errors as `&dyn Error` so the subscriber prints their sources.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The client port could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address tried.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// A `server.N` host name could not be resolved.
    #[error("cannot resolve {addr}")]
    Resolve {
        /// `host:port` as the line gives it.
        addr: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// Storage failed during recovery or while serving (its message names the file).
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// Recovered data could not be decoded, or a task failed.
    #[error("recovery: {0}")]
    Recovery(String),
    /// The txn log writer failed or could not start; nothing more can be made durable.
    #[error(transparent)]
    LogFailed(#[from] crate::storage::GroupCommitError),
    /// A runtime invariant broke or a task died (a bug): the server stops rather than go on.
    #[error("{0}")]
    Fatal(String),
}
