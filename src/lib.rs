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
//! - `server` (feature `server`): the tokio runtime that drives `protocol::Node` and executes its
//!   effects: a standalone server as a one-voter ensemble, or a member of a replicated ensemble
//!   (peer links, forwarding, global sessions), through the same driver.
//! - `bench` (feature `server`): `zabkeeper bench`, a pipelining load generator; a client of
//!   the wire protocol, nothing of `server`.
//!
//! One write on a standalone server, top-down (`spec/server.md` "The write path"):
//!
//! 1. `server/client.rs` reads a frame; `wire::client` decodes the request; it goes to the
//!    driver's inbox as a `NodeMsg`.
//! 2. `server/driver` asks the core for the zxid the next write gets
//!    ([`protocol::Node::next_zxid`]); `server/pipeline.rs` prepares the request into a txn
//!    stamped with it ([`tree::prepare_logged`] against the tree plus the changes in flight).
//! 3. The driver feeds `Input::Write`; `protocol/leader.rs` logs it and emits `PersistTxns` and
//!    `Proposed { zxid }` (checked against the stamp).
//! 4. `server/storage_exec.rs` runs `PersistTxns` on [`storage::GroupCommit`] (append, one
//!    fdatasync per batch); the durable zxid comes back as `Input::Persisted`.
//! 5. With one voter the leader's own durable ACK is a quorum: the core emits `Commit { upto }`.
//! 6. `server/apply.rs` applies the committed txns in zxid order to [`tree::DataTree`], queues the
//!    watch events, then the reply to the waiter registered under that zxid.
//!
//! `spec/README.md` walks the same write through a three-server ensemble; in the runtime the
//! followers' durable ACKs join the leader's in step 5, and a follower's client write is
//! forwarded to the leader before step 2 (`spec/server.md` "The write path").

#![forbid(unsafe_code)]

pub mod protocol;
pub mod storage;
pub mod sync;
pub mod tree;
pub mod wire;

#[cfg(all(feature = "server", not(loom)))]
pub mod bench;
#[cfg(feature = "server")]
pub mod config;
#[cfg(all(feature = "server", not(loom)))]
pub mod server;
/// Under `cfg(loom)` (tests/loom, built without default features), only the server's modules a
/// loom model drives, which need no tokio: tokio configures its `net` module out under that cfg,
/// so the rest of the runtime cannot build there.
#[cfg(loom)]
pub mod server {
    pub mod outbound;
    pub mod sessions;
}
