//! Local invariants every node keeps after every step (TigerBeetle's `invariants()`), and the
//! cluster-wide ones the models and simulations check over several nodes.
//!
//! spec/invariants.md lists each ID with its wording, where it is asserted and which model
//! property checks it.

use std::fmt;

use super::{Node, Proposal, Role, Zxid};

/// A broken invariant: its spec ID and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Spec ID, e.g. `INV-LOG-ORDER`.
    pub id: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id, self.detail)
    }
}

fn fail(id: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { id, detail })
}

/// Checks one node: called at the end of every `Node::step`.
pub fn check_local(node: &Node) -> Result<(), Violation> {
    let me = node.config().my_id;
    if node.current_epoch() > node.accepted_epoch() {
        return fail(
            "INV-EPOCH",
            format!(
                "{me}: currentEpoch {} > acceptedEpoch {}",
                node.current_epoch(),
                node.accepted_epoch()
            ),
        );
    }
    // The whole log is ordered if every append was (asserted in `Node::append`); re-checking
    // every pair is O(log) per step, so release builds check the newest pair only.
    let log = node.log();
    let pairs = if cfg!(debug_assertions) {
        log
    } else {
        &log[log.len().saturating_sub(2)..]
    };
    if let Some(pair) = pairs.windows(2).find(|w| w[0].zxid >= w[1].zxid) {
        return fail(
            "INV-LOG-ORDER",
            format!("{me}: log has {} before {}", pair[0].zxid, pair[1].zxid),
        );
    }
    if node
        .log()
        .first()
        .is_some_and(|p| p.zxid <= node.log_base())
    {
        return fail(
            "INV-LOG-ORDER",
            format!("{me}: log starts at or below its snapshot base"),
        );
    }
    if node.durable_zxid() > node.last_zxid() {
        return fail(
            "INV-DURABLE",
            format!(
                "{me}: durable {} beyond last {}",
                node.durable_zxid(),
                node.last_zxid()
            ),
        );
    }
    if node.committed_zxid() > node.durable_zxid() {
        return fail(
            "INV-COMMIT-DURABLE",
            format!(
                "{me}: committed {} beyond durable {}",
                node.committed_zxid(),
                node.durable_zxid()
            ),
        );
    }
    if let Role::Leading(l) = node.role() {
        if let Some(epoch) = l.epoch {
            if node.last_zxid().epoch() > epoch {
                return fail(
                    "INV-LEADER-EPOCH",
                    format!("{me}: leader of {epoch} holds {}", node.last_zxid()),
                );
            }
        }
    }
    Ok(())
}

/// Checks what must hold between live nodes at any instant: at most one established leader per
/// epoch (ZAB-LEADER-UNIQUE) and committed prefixes that agree above both log bases
/// (ZAB-PREFIX). The models check
/// the history-wide versions of these with ghost state.
pub fn check_cluster(nodes: &[&Node]) -> Result<(), Violation> {
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            if let (Some(ea), Some(eb)) = (a.established_epoch(), b.established_epoch()) {
                if ea == eb {
                    return fail(
                        "ZAB-LEADER-UNIQUE",
                        format!(
                            "{} and {} both lead epoch {ea}",
                            a.config().my_id,
                            b.config().my_id
                        ),
                    );
                }
            }
            // Compared above the higher log base: below it one of them holds a snapshot only
            // (`Input::Compacted`, recovery).
            let base = a.log_base().max(b.log_base());
            fn above(log: &[Proposal], base: Zxid) -> &[Proposal] {
                &log[log.partition_point(|p| p.zxid <= base)..]
            }
            let (ca, cb) = (
                above(a.committed_log(), base),
                above(b.committed_log(), base),
            );
            let n = ca.len().min(cb.len());
            if ca[..n] != cb[..n] {
                return fail(
                    "ZAB-PREFIX",
                    format!(
                        "{} and {} committed different prefixes",
                        a.config().my_id,
                        b.config().my_id
                    ),
                );
            }
        }
    }
    Ok(())
}
