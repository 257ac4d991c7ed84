//! Quorum rules: which sets of servers form a quorum.
//!
//! spec/zab.md §Quorums. ZooKeeper's `QuorumMaj`: more than half of the voters. Observers never
//! count. Hierarchical quorums (`QuorumHierarchical`) plug in here later.

use std::collections::BTreeSet;

use super::ids::ServerId;

/// Majority quorums over a fixed voter set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuorumVerifier {
    voters: BTreeSet<ServerId>,
}

impl QuorumVerifier {
    /// Majority of `voters`.
    pub fn majority(voters: BTreeSet<ServerId>) -> QuorumVerifier {
        assert!(
            !voters.is_empty(),
            "QUORUM: a quorum needs at least one voter"
        );
        QuorumVerifier { voters }
    }

    /// Do the voters among `ids` form a majority? Non-voters are ignored.
    pub fn contains_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a ServerId>) -> bool {
        let votes = ids
            .into_iter()
            .filter(|id| self.voters.contains(id))
            .count();
        2 * votes > self.voters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<ServerId> {
        v.iter().copied().map(ServerId).collect()
    }

    #[test]
    fn majority_table() {
        let q = QuorumVerifier::majority(ids(&[1, 2, 3]).into_iter().collect());
        assert!(!q.contains_quorum(&ids(&[1])));
        assert!(q.contains_quorum(&ids(&[1, 3])));
        assert!(
            !q.contains_quorum(&ids(&[1, 9, 8])),
            "non-voters never count"
        );
        let q4 = QuorumVerifier::majority(ids(&[1, 2, 3, 4]).into_iter().collect());
        assert!(!q4.contains_quorum(&ids(&[1, 2])));
        assert!(q4.contains_quorum(&ids(&[1, 2, 4])));
    }
}
