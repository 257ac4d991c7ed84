//! The bounds and world options of a run.

use std::collections::BTreeSet;

use zabkeeper::protocol::{Bug, Timer};

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Fast Leader Election alone: only notifications are delivered; servers start from
    /// arbitrary `(currentEpoch, last zxid)`.
    Election,
    /// Election + discovery + sync + broadcast from empty servers.
    Zab,
    /// `Zab` with each election run to quiescence as one step (`Action::Elect`): the same
    /// `Node::step` calls in one canonical order, so the vote order is honoured, but elections no
    /// longer interleave with each other or with ZAB traffic. Reaches deeper bounds; it cannot
    /// produce split elections (two servers deciding differently in one round), which `zab` does.
    Sync,
}

impl ModelKind {
    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Election => "election",
            ModelKind::Zab => "zab",
            ModelKind::Sync => "sync",
        }
    }

    /// Parses a CLI name.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            "election" => Some(ModelKind::Election),
            "zab" => Some(ModelKind::Zab),
            "sync" => Some(ModelKind::Sync),
            _ => None,
        }
    }
}

/// Bounds and world options.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Which model.
    pub kind: ModelKind,
    /// Number of voters (ids 1..=servers).
    pub servers: usize,
    /// Number of observers (ids servers+1..=servers+observers): non-voting learners.
    pub observers: usize,
    /// Client writes the whole run may issue.
    pub txns: u8,
    /// Crashes the whole run may have.
    pub crashes: u8,
    /// Link breaks the whole run may have.
    pub link_faults: u8,
    /// Client `sync`s the whole run may issue.
    pub syncs: u8,
    /// Silent isolations the whole run may have (each also makes `SyncLimit` fire).
    pub isolations: u8,
    /// Snapshots (`Action::Snapshot`) the whole run may take.
    pub snapshots: u8,
    /// In-memory compactions (`Action::Compact`) the whole run may take.
    pub compactions: u8,
    /// No state with an acceptedEpoch above this is explored.
    pub max_epoch: u32,
    /// No state with an election round above this is explored.
    pub max_round: u64,
    /// Timers the world fires.
    pub fire: BTreeSet<Timer>,
    /// Firings of timers other than `FinalizeWait` the whole run may have (`None`: no limit).
    /// Heartbeat, SyncLimit and Notify re-arm themselves, so without a budget the state space is
    /// unbounded.
    pub timer_fires: Option<u8>,
    /// Client requests also reach servers that are not serving leaders: a learner forwards them
    /// as REQUEST (`Input::Forward`), the leader's `Effect::Prepare` is prepared by the runtime
    /// and fed back later as `Input::Write` (`Action::Propose`), by which time the leader may
    /// have lost its role; a LOOKING server refuses them. They share the `txns` budget.
    pub forward: bool,
    /// Election model: the `(currentEpoch, last zxid)` each server may start from.
    pub initial_histories: Vec<(u32, Vec<(u32, u32)>)>,
    /// A seeded bug.
    pub bug: Option<Bug>,
}

impl ModelConfig {
    /// The defaults of `zabkeeper-check run MODEL`.
    pub fn new(kind: ModelKind) -> ModelConfig {
        let (fire, histories) = match kind {
            ModelKind::Election => (
                [Timer::FinalizeWait].into_iter().collect(),
                vec![
                    (0, vec![]),
                    (1, vec![(1, 1)]),
                    (2, vec![(1, 1)]),
                    (2, vec![(1, 1), (2, 1)]),
                ],
            ),
            ModelKind::Zab | ModelKind::Sync => (
                [Timer::FinalizeWait].into_iter().collect(),
                vec![(0, vec![])],
            ),
        };
        ModelConfig {
            kind,
            servers: 3,
            observers: 0,
            txns: if kind == ModelKind::Election { 0 } else { 1 },
            crashes: if kind == ModelKind::Election { 0 } else { 1 },
            link_faults: 0,
            syncs: 0,
            isolations: 0,
            snapshots: 0,
            compactions: 0,
            // `zab` interleaves every election message with everything else; at one epoch and
            // one round it completes in seconds, at two it does not finish in CI time
            // (verification.md). `sync` reaches three epochs.
            max_epoch: if kind == ModelKind::Zab { 1 } else { 3 },
            max_round: if kind == ModelKind::Zab { 1 } else { 3 },
            fire,
            timer_fires: None,
            forward: false,
            initial_histories: histories,
            bug: None,
        }
    }

    /// A one-line summary of the bounds (for reports).
    pub fn bounds(&self) -> serde_json::Value {
        serde_json::json!({
            "servers": self.servers, "observers": self.observers, "txns": self.txns,
            "crashes": self.crashes, "link_faults": self.link_faults, "syncs": self.syncs,
            "isolations": self.isolations, "snapshots": self.snapshots,
            "compactions": self.compactions,
            "max_epoch": self.max_epoch, "max_round": self.max_round,
            "timers": self.fire.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>(),
            "timer_fires": self.timer_fires, "forward": self.forward,
            "bug": self.bug.map(|b| b.name()),
            "initial_histories": self.initial_histories.len(),
        })
    }
}
