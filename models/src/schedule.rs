//! Schedule runs: a recorded schedule of model actions replayed in a model's world. The CI
//! profile's second kind of run (`profile::SCHEDULES`), beside the searches of `run.rs`.
//!
//! A replay starts from the model's first initial state and takes the schedule's actions in
//! order. Before each step it asks the model which actions are enabled (`Model::actions`, the
//! list the checker expands) and stops with an error at a step that is not one of them; after
//! each step the state must be inside the model's boundary (`Model::within_boundary`: the
//! checker would not expand it otherwise). Every property of the run's bounds
//! (`Model::properties`: the list a search of the same bounds checks, through the same
//! conditions) is evaluated in the initial state and in every state the replay reaches. An
//! `always` property that fails ends the replay there, with the path to that state as the
//! counterexample, printed and summarised as a search's is.
//!
//! A schedule run is a regression check of one known behaviour, not exploration: it proves the
//! properties fail on that path with a seeded bug and hold on it with the core, and says nothing
//! about the other behaviours of its bounds.

use std::time::Instant;

use serde_json::{json, Value};
use stateright::{Expectation, Model, Path};

use crate::cluster::{Action, ClusterModel, ClusterState, ModelConfig};

/// How a replay ended.
pub enum Outcome {
    /// Every step was taken and every `always` property held in every state.
    Completed,
    /// `always` properties failed in the last state of `path` (the state after step
    /// `path.len() - 1`; the initial state if the path has no step).
    Violated {
        /// The properties that failed there, in catalogue order.
        properties: Vec<&'static str>,
        /// From the initial state to the violating one.
        path: Path<ClusterState, Action>,
    },
    /// Step `step` (1-based) could not be taken; `reason` says why.
    Stuck {
        /// The step that could not be taken (0: the replay could not start).
        step: usize,
        /// Why, in words.
        reason: String,
    },
}

/// What a replay found.
pub struct ScheduleResult {
    /// The model the schedule was replayed in.
    pub model: ClusterModel,
    /// Steps in the schedule.
    pub steps: usize,
    /// Steps taken.
    pub taken: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// The last state reached.
    pub last: ClusterState,
    /// `sometimes` properties that held in some state of the replay.
    pub examples: Vec<&'static str>,
    /// `sometimes` properties that held in none.
    pub missing_examples: Vec<&'static str>,
    /// Branches and maxima the replay's steps reached (`reach.rs`), by name.
    pub reach: Value,
    /// Wall time.
    pub seconds: f64,
}

impl ScheduleResult {
    /// The `always` properties that failed (none unless `Outcome::Violated`).
    pub fn violations(&self) -> &[&'static str] {
        match &self.outcome {
            Outcome::Violated { properties, .. } => properties,
            _ => &[],
        }
    }

    /// Every step taken, no property failed.
    pub fn complete(&self) -> bool {
        matches!(self.outcome, Outcome::Completed)
    }

    /// The error of a replay that could not take a step.
    pub fn error(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Stuck { step, reason } => Some(format!("step {step}: {reason}")),
            _ => None,
        }
    }

    /// The one-line JSON summary of the replay (the keys of `RunResult::summary` that apply,
    /// and the schedule's own).
    pub fn summary(&self) -> Value {
        let trace_steps = match &self.outcome {
            Outcome::Violated { path, .. } => Some(path.clone().into_actions().len()),
            _ => None,
        };
        json!({
            "kind": "schedule",
            "model": self.model.cfg.kind.name(),
            "bounds": self.model.cfg.bounds(),
            "steps": self.steps,
            "steps_taken": self.taken,
            "seconds": (self.seconds * 100.0).round() / 100.0,
            "complete": self.complete(),
            "violations": self.violations(),
            "error": self.error(),
            "examples": self.examples,
            "missing_examples": self.missing_examples,
            "reached": self.reach,
            "trace_steps": trace_steps,
        })
    }
}

/// Replays `steps` from the first initial state of the model `cfg` describes.
pub fn replay(cfg: ModelConfig, steps: &[Action]) -> ScheduleResult {
    let start = Instant::now();
    let model = ClusterModel::new(cfg);
    let properties = model.properties();
    let mut state = model.init_states().remove(0);
    let mut examples = Vec::new();
    let mut taken = 0;
    let mut outcome = Outcome::Completed;
    if properties
        .iter()
        .any(|p| p.expectation == Expectation::Eventually)
    {
        // The catalogue has none; checking one needs the whole path, which this loop does not keep.
        outcome = Outcome::Stuck {
            step: 0,
            reason: "the model has an eventually-property, which a replay cannot check".into(),
        };
    }
    let mut failed = check(&model, &properties, &state, &mut examples);
    while matches!(outcome, Outcome::Completed) && failed.is_empty() && taken < steps.len() {
        let action = &steps[taken];
        match take(&model, &state, action) {
            Ok(next) => {
                state = next;
                taken += 1;
                failed = check(&model, &properties, &state, &mut examples);
            }
            Err(reason) => {
                outcome = Outcome::Stuck {
                    step: taken + 1,
                    reason,
                }
            }
        }
    }
    // Taken before the path is rebuilt: rebuilding computes every enabled step again.
    let reach = model.reach.to_json();
    if !failed.is_empty() {
        let init = model.init_states().remove(0);
        outcome = match Path::from_actions(&model, init, &steps[..taken]) {
            Some(path) => Outcome::Violated {
                properties: failed,
                path,
            },
            None => Outcome::Stuck {
                step: taken,
                reason: "the path to the violating state could not be rebuilt".into(),
            },
        };
    }
    let missing_examples = properties
        .iter()
        .filter(|p| p.expectation == Expectation::Sometimes && !examples.contains(&p.name))
        .map(|p| p.name)
        .collect();
    ScheduleResult {
        steps: steps.len(),
        taken,
        outcome,
        last: state,
        examples,
        missing_examples,
        reach,
        seconds: start.elapsed().as_secs_f64(),
        model,
    }
}

/// The state after `action`, or why the model does not take it here.
fn take(
    model: &ClusterModel,
    state: &ClusterState,
    action: &Action,
) -> Result<ClusterState, String> {
    let mut enabled = Vec::new();
    model.actions(state, &mut enabled);
    if !enabled.contains(action) {
        let listed: Vec<String> = enabled.iter().map(|a| format!("{a:?}")).collect();
        return Err(format!(
            "{action:?} is not enabled; enabled: [{}]",
            listed.join(", ")
        ));
    }
    let next = model
        .next_state(state, action.clone())
        .ok_or_else(|| format!("{action:?} has no next state"))?;
    if !model.within_boundary(&next) {
        return Err(format!("{action:?} leaves the bounds"));
    }
    Ok(next)
}

/// Evaluates every property in `state`: returns the `always` ones that fail and adds the
/// `sometimes` ones that hold to `examples`.
fn check(
    model: &ClusterModel,
    properties: &[stateright::Property<ClusterModel>],
    state: &ClusterState,
    examples: &mut Vec<&'static str>,
) -> Vec<&'static str> {
    let mut failed = Vec::new();
    for p in properties {
        let holds = (p.condition)(model, state);
        match p.expectation {
            Expectation::Always if !holds => failed.push(p.name),
            Expectation::Sometimes if holds && !examples.contains(&p.name) => examples.push(p.name),
            _ => {}
        }
    }
    failed
}
