//! zabkeeper: a ZooKeeper-compatible coordination service whose leader election and atomic
//! broadcast are model-checked in the same code that serves traffic.
//!
//! The tree reads top-down as the architecture:
//!
//! - [`protocol`]: Fast Leader Election and ZAB 1.0 as one IO-free state machine,
//!   `Node::step(input, &mut Effects)`. The Stateright models in `models/` and the tokio runtime in
//!   `server` drive the very same functions.
//! - [`tree`]: the replicated state machine (znodes, Stat, watches, ACLs, sessions), pure and
//!   deterministic.
//! - [`wire`]: sans-IO codecs for ZooKeeper's client protocol and four-letter words.
//! - [`storage`]: the only module that touches the filesystem: the checksummed transaction log,
//!   snapshots, epochs and recovery.
//! - `server` (feature `server`): the tokio runtime that executes the effects.
//!
//! See `spec/README.md` for the walk of one write through these modules.

#![forbid(unsafe_code)]

pub mod protocol;
pub mod storage;
pub mod tree;
pub mod wire;

#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod server;
