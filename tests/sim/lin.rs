//! A linearizability checker for one znode's history (Wing & Gong's search with Lowe's
//! memoisation of (linearized set, state)), independent of the server: its model of a znode is
//! the few lines of [`step`], not the server's data tree.
//!
//! An operation whose outcome the client never learned (timeout, connection loss) may have taken
//! effect at any instant after its invocation, or never: it is given no return bound and need
//! not be linearized. Reads with an unknown outcome are dropped before checking.

use std::collections::HashSet;

/// What a client asked of the znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `create` with data `value`.
    Create { value: u64 },
    /// `setData` with data `value` at `version` (-1: any).
    Set { value: u64, version: i32 },
    /// `delete` (any version).
    Delete,
    /// `sync` then `getData`.
    Read,
}

/// What the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// create / delete succeeded.
    Ok,
    /// setData succeeded; the node's new version.
    Version(i32),
    /// NoNode.
    NoNode,
    /// NodeExists.
    NodeExists,
    /// BadVersion.
    BadVersion,
    /// getData: the value and version.
    Value { value: u64, version: i32 },
    /// No answer: the outcome is unknown.
    Unknown,
}

/// One operation: invoked and returned at points of one global order of events.
#[derive(Clone, Debug)]
pub struct Op {
    pub call: Call,
    pub ret: Ret,
    pub invoke: u64,
    /// `None`: never returned (outcome unknown).
    pub returned: Option<u64>,
}

/// The znode: absent, or data and version.
pub type State = Option<(u64, i32)>;

/// The znode model: the state after `call` if answering `ret` is possible from `state`. An
/// unknown outcome matches only the effectful answer (an attempt without effect is the same as
/// not linearizing it).
pub fn step(state: State, call: &Call, ret: &Ret) -> Option<State> {
    let unknown = *ret == Ret::Unknown;
    match (call, state) {
        (Call::Create { value }, None) => (unknown || *ret == Ret::Ok).then_some(Some((*value, 0))),
        (Call::Create { .. }, Some(_)) => (*ret == Ret::NodeExists).then_some(state),
        (Call::Set { .. }, None) => (*ret == Ret::NoNode).then_some(None),
        (Call::Set { value, version }, Some((_, v))) => {
            if *version == -1 || *version == v {
                (unknown || *ret == Ret::Version(v + 1)).then_some(Some((*value, v + 1)))
            } else {
                (*ret == Ret::BadVersion).then_some(state)
            }
        }
        (Call::Delete, None) => (*ret == Ret::NoNode).then_some(None),
        (Call::Delete, Some(_)) => (unknown || *ret == Ret::Ok).then_some(None),
        (Call::Read, None) => (*ret == Ret::NoNode).then_some(None),
        (Call::Read, Some((value, version))) => {
            (*ret == Ret::Value { value, version }).then_some(state)
        }
    }
}

/// Whether `ops` (one znode's, starting absent) is linearizable.
pub fn linearizable(ops: &[Op]) -> bool {
    check(ops) == Some(true)
}

/// Whether `ops` is linearizable; `None` when the search ran out of its step budget (reported
/// by the simulation as a failure of its own, never as a pass).
pub fn check(ops: &[Op]) -> Option<bool> {
    let ops: Vec<&Op> = ops
        .iter()
        .filter(|op| !(op.call == Call::Read && op.returned.is_none()))
        .collect();
    let words = ops.len().div_ceil(64).max(1);
    let mut search = Search {
        ops: &ops,
        seen: HashSet::new(),
        budget: 2_000_000,
    };
    let found = search.dfs(&mut vec![0u64; words], None);
    if found {
        Some(true)
    } else if search.budget == 0 {
        None
    } else {
        Some(false)
    }
}

struct Search<'a> {
    ops: &'a [&'a Op],
    seen: HashSet<(Vec<u64>, State)>,
    /// Search steps left; at 0 the search gives up.
    budget: u64,
}

impl Search<'_> {
    fn dfs(&mut self, done: &mut Vec<u64>, state: State) -> bool {
        let is_done = |done: &[u64], i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        // Every completed operation linearized: the rest may stay unapplied.
        let pending_ret = self
            .ops
            .iter()
            .enumerate()
            .filter(|(i, _)| !is_done(done, *i))
            .filter_map(|(_, op)| op.returned)
            .min();
        let Some(bound) = pending_ret else {
            return true;
        };
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        for i in 0..self.ops.len() {
            let op = self.ops[i];
            if is_done(done, i) || op.invoke > bound {
                continue;
            }
            let Some(next) = step(state, &op.call, &op.ret) else {
                continue;
            };
            done[i / 64] |= 1 << (i % 64);
            if self.seen.insert((done.clone(), next)) && self.dfs(done, next) {
                return true;
            }
            done[i / 64] &= !(1 << (i % 64));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, ret: Ret, invoke: u64, returned: Option<u64>) -> Op {
        Op {
            call,
            ret,
            invoke,
            returned,
        }
    }

    #[test]
    fn a_sequential_history_is_linearizable() {
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(1)),
            op(
                Call::Set {
                    value: 2,
                    version: 0,
                },
                Ret::Version(1),
                2,
                Some(3),
            ),
            op(
                Call::Read,
                Ret::Value {
                    value: 2,
                    version: 1,
                },
                4,
                Some(5),
            ),
            op(Call::Delete, Ret::Ok, 6, Some(7)),
            op(Call::Read, Ret::NoNode, 8, Some(9)),
        ];
        assert!(linearizable(&h));
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_not() {
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(1)),
            op(
                Call::Set {
                    value: 2,
                    version: -1,
                },
                Ret::Version(1),
                2,
                Some(3),
            ),
            op(
                Call::Read,
                Ret::Value {
                    value: 1,
                    version: 0,
                },
                4,
                Some(5),
            ),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn a_lost_acknowledged_create_is_not() {
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(1)),
            op(Call::Read, Ret::NoNode, 2, Some(3)),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn two_creates_cannot_both_succeed() {
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(3)),
            op(Call::Create { value: 2 }, Ret::Ok, 1, Some(2)),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn two_cas_on_one_version_cannot_both_succeed() {
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(1)),
            op(
                Call::Set {
                    value: 2,
                    version: 0,
                },
                Ret::Version(1),
                2,
                Some(5),
            ),
            op(
                Call::Set {
                    value: 3,
                    version: 0,
                },
                Ret::Version(1),
                3,
                Some(4),
            ),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn overlapping_operations_may_take_either_order() {
        // The read overlaps the set: it may see the old or the new value.
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(1)),
            op(
                Call::Set {
                    value: 2,
                    version: -1,
                },
                Ret::Version(1),
                2,
                Some(5),
            ),
            op(
                Call::Read,
                Ret::Value {
                    value: 1,
                    version: 0,
                },
                3,
                Some(4),
            ),
            op(
                Call::Read,
                Ret::Value {
                    value: 2,
                    version: 1,
                },
                6,
                Some(7),
            ),
        ];
        assert!(linearizable(&h));
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened() {
        let seen = [
            op(Call::Create { value: 1 }, Ret::Unknown, 0, None),
            op(
                Call::Read,
                Ret::Value {
                    value: 1,
                    version: 0,
                },
                5,
                Some(6),
            ),
        ];
        assert!(linearizable(&seen));
        let unseen = [
            op(Call::Create { value: 1 }, Ret::Unknown, 0, None),
            op(Call::Read, Ret::NoNode, 5, Some(6)),
        ];
        assert!(linearizable(&unseen));
        // ...but not before it was invoked, and not undone once seen.
        let early = [
            op(
                Call::Read,
                Ret::Value {
                    value: 1,
                    version: 0,
                },
                0,
                Some(1),
            ),
            op(Call::Create { value: 1 }, Ret::Unknown, 2, None),
        ];
        assert!(!linearizable(&early));
        let undone = [
            op(Call::Create { value: 1 }, Ret::Unknown, 0, None),
            op(
                Call::Read,
                Ret::Value {
                    value: 1,
                    version: 0,
                },
                5,
                Some(6),
            ),
            op(Call::Read, Ret::NoNode, 7, Some(8)),
        ];
        assert!(!linearizable(&undone));
    }

    #[test]
    fn a_value_nobody_wrote_is_not() {
        let h = [
            op(Call::Create { value: 1 }, Ret::Ok, 0, Some(1)),
            op(
                Call::Read,
                Ret::Value {
                    value: 9,
                    version: 0,
                },
                2,
                Some(3),
            ),
        ];
        assert!(!linearizable(&h));
    }
}
