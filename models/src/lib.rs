//! Stateright models of zabkeeper's protocol core, and the `zabkeeper-check` command.
//!
//! The models make no protocol decision of their own: every transition of a server is a call to
//! [`zabkeeper::protocol::Node::step`]. What the models add is the *world*: FIFO links that can
//! break, disks that acknowledge writes later (or never, if the server crashes first), crashes and
//! restarts from durable state, nondeterministic timers, bounded client writes, and ghost state to
//! check properties that span a whole history.
//!
//! - [`cluster`]: the world and the adapter (`ClusterModel`, a `stateright::Model`).
//! - [`properties`]: the `Always` and `Sometimes` properties, by spec ID.
//! - [`mutants`]: the seeded historical bugs and the bounds under which CI must catch each.
//! - [`trace`]: a counterexample as text, JSON and a Mermaid sequence diagram.
//! - [`run`]: the checker driver shared by the CLI and the tests.

pub mod cluster;
pub mod mutants;
pub mod properties;
pub mod run;
pub mod trace;

pub use cluster::{Action, ClusterModel, ClusterState, ModelConfig, ModelKind};
