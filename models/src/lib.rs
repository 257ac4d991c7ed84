//! Stateright models of zabkeeper's protocol core, and the `zabkeeper-check` command.
//!
//! The models make no protocol decision of their own: every transition of a server is a call to
//! [`zabkeeper::protocol::Node::step`]. What the models add is the *world*: FIFO links that can
//! break, disks that acknowledge writes later (or never, if the server crashes first), crashes and
//! restarts from durable state, nondeterministic timers, bounded client writes, and ghost state to
//! check properties that span a whole history.
//!
//! - [`cluster`]: the world and the adapter (`ClusterModel`, a `stateright::Model`), one file
//!   per seam (bounds, state, events, runtime, ghost, branch classification, `Model` glue).
//! - [`properties`]: the `Always` and `Sometimes` properties, by spec ID, each able to say in
//!   words what is wrong with a state.
//! - [`reach`]: which protocol branches and bounds each run reached.
//! - [`profile`]: the CI profile, the one list of runs `zabkeeper-check ci` and `.ci/run` make.
//! - [`args`]: the bounds of a run as command-line flags.
//! - [`run`]: the checker driver shared by the CLI and the tests.
//! - [`schedule`]: a recorded schedule of actions replayed in a model's world, every property
//!   checked in every state (the profile's schedule runs).
//! - [`trace`]: a counterexample as text, JSON and a Mermaid sequence diagram.
//! - [`panics`]: panics in a step of the world become counterexamples; others are printed.

pub mod args;
pub mod cluster;
pub mod panics;
pub mod profile;
pub mod properties;
pub mod reach;
pub mod run;
pub mod schedule;
pub mod trace;

pub use cluster::{Action, ClusterModel, ClusterState, ModelConfig, ModelKind};
