//! Quotas: the `/zookeeper/quota` bookkeeping every server does while applying txns, and the
//! leader's hard-limit check.
//!
//! A quota on path P is two znodes a client (zkCli's `setquota`) creates:
//! `/zookeeper/quota<P>/zookeeper_limits` (the limits, StatsTrack text) and
//! `/zookeeper/quota<P>/zookeeper_stats` (the usage). The server never creates them; it keeps
//! the set of quota roots (ZooKeeper's `PathTrie pTrie`) and the usage text up to date as part
//! of applying each txn, so every replica applying the same txns writes the same stats bytes
//! (there is no separate stats txn). Mirrors ZooKeeper 3.8's `DataTree` (`createNode`,
//! `deleteNode`, `setData`, `updateQuotaStat`, `updateQuotaForPath`, `getMaxPrefixWithQuota`,
//! `setupQuota`), `StatsTrack`, `PathTrie` and `ZooKeeperServer.checkQuota`:
//!
//! - create of a child `zookeeper_limits` of a node whose path starts with `/zookeeper/quota`
//!   adds the rest of the parent path as a quota root; create of `zookeeper_stats` there
//!   overwrites the new node's data with `count=<nodes>,bytes=<data bytes>` of that subtree;
//! - delete of a child `zookeeper_limits` of a node under `/zookeeper` removes the root;
//! - every create, delete and setData then adds (+1, +len), (−1, −len) or (0, new − old) to the
//!   stats of the *longest* quota root that is a prefix of the path (none for `/`), keeping
//!   every other StatsTrack key of the stats node. The stats node's Stat does not change and
//!   no watch fires for it.
//! - loading a snapshot rebuilds the roots from the leaf `zookeeper_limits` nodes and recomputes
//!   each root's stats from its whole subtree (`DataTree::setup_quota`, called by the loader).
//!
//! Where ZooKeeper throws a runtime exception (an unparseable or null stats text in apply, an
//! empty quota root), the update is skipped instead; the node change itself still applies.
//! Spec: `spec/data-tree.md` §6.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound::{Excluded, Included};

use crate::tree::error::ZkError;
use crate::tree::{node_size, path, DataTree, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER};

/// `Quotas.limitNode`.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// `Quotas.statNode`.
pub const STAT_NODE: &str = "zookeeper_stats";

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD_LIMIT: &str = "countHardLimit";
const BYTE_HARD_LIMIT: &str = "byteHardLimit";

/// Why a StatsTrack text could not be read (where ZooKeeper's parser throws).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatsTrackError {
    /// The node has null data.
    #[error("null StatsTrack data")]
    Null,
    /// A `key=value` pair without a value.
    #[error("StatsTrack pair {0:?} has no value")]
    MissingValue(String),
    /// A value that is not a decimal `long`.
    #[error("StatsTrack value {0:?} is not a number")]
    BadNumber(String),
}

/// ZooKeeper's `StatsTrack`: `key=long` pairs; an absent key reads as -1.
///
/// Text form (3.7+): `count=C,bytes=B`, then, only if other keys exist, `=` and `;key=value`
/// for each in key order — the stray `=` keeps 3.4 parsers happy. For example
/// `count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1`.
///
/// ```
/// use zabkeeper::tree::quota::StatsTrack;
///
/// let mut s = StatsTrack::parse(Some(b"count=-1,bytes=-1=;countHardLimit=2")).unwrap();
/// assert_eq!((s.count(), s.count_hard_limit(), s.byte_hard_limit()), (-1, 2, -1));
/// s.set_count(5);
/// assert_eq!(s.to_string(), "count=5,bytes=-1=;countHardLimit=2");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// `new StatsTrack(byte[])`: UTF-8 text split on runs of `,`/`;`, each piece split on `=`
    /// with trailing empty pieces dropped (Java `String.split`); `k==v` gives -1; later
    /// duplicates win. Errors where Java throws (null data, a piece without `=`, a value that
    /// is not a number).
    pub fn parse(data: Option<&[u8]>) -> Result<StatsTrack, StatsTrackError> {
        let data = data.ok_or(StatsTrackError::Null)?;
        let text = String::from_utf8_lossy(data);
        let mut values = BTreeMap::new();
        if text.is_empty() {
            return Ok(StatsTrack { values });
        }
        for pair in split_pairs(&text) {
            let kv = split_key_value(pair);
            let (Some(key), Some(value)) = (kv.first(), kv.get(1)) else {
                return Err(StatsTrackError::MissingValue(pair.to_string()));
            };
            let value = if value.is_empty() {
                -1
            } else {
                value
                    .parse::<i64>()
                    .map_err(|_| StatsTrackError::BadNumber(value.to_string()))?
            };
            values.insert(key.to_string(), value);
        }
        Ok(StatsTrack { values })
    }

    /// A track with only `count` and `bytes` (what `updateQuotaForPath` writes).
    pub fn usage(count: i64, bytes: i64) -> StatsTrack {
        let mut s = StatsTrack::default();
        s.set_count(count);
        s.set_bytes(bytes);
        s
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    /// `count` (soft node-count limit in a limits node, usage in a stats node).
    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }

    /// `bytes` (soft byte limit, or usage).
    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }

    /// `countHardLimit`.
    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD_LIMIT)
    }

    /// `byteHardLimit`.
    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTE_HARD_LIMIT)
    }

    /// Sets `count`.
    pub fn set_count(&mut self, v: i64) {
        self.values.insert(COUNT.into(), v);
    }

    /// Sets `bytes`.
    pub fn set_bytes(&mut self, v: i64) {
        self.values.insert(BYTES.into(), v);
    }

    /// `getStatsBytes`: the text form as UTF-8.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COUNT}={},{BYTES}={}", self.count(), self.bytes())?;
        let mut rest = self
            .values
            .iter()
            .filter(|(k, _)| k.as_str() != COUNT && k.as_str() != BYTES)
            .peekable();
        if rest.peek().is_some() {
            f.write_str("=")?;
        }
        for (k, v) in rest {
            write!(f, ";{k}={v}")?;
        }
        Ok(())
    }
}

/// Java `Pattern.compile("[,;]+").split(text)`: a run of separators is one match, a leading
/// empty piece is kept, trailing empty pieces are dropped.
fn split_pairs(text: &str) -> Vec<&str> {
    let mut pieces: Vec<&str> = text
        .split([',', ';'])
        .enumerate()
        .filter(|(i, piece)| *i == 0 || !piece.is_empty())
        .map(|(_, piece)| piece)
        .collect();
    drop_trailing_empty(&mut pieces);
    pieces
}

/// Java `pair.split("=")`: every `=` splits, trailing empty pieces are dropped.
fn split_key_value(pair: &str) -> Vec<&str> {
    let mut pieces: Vec<&str> = pair.split('=').collect();
    drop_trailing_empty(&mut pieces);
    pieces
}

fn drop_trailing_empty(pieces: &mut Vec<&str>) {
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
}

/// The quota roots (ZooKeeper's `PathTrie`), each kept as its path components.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct QuotaRoots {
    roots: BTreeSet<Vec<String>>,
}

impl QuotaRoots {
    /// `PathTrie.addPath`; an empty path (ZooKeeper: IllegalArgumentException) or one with no
    /// components (marks the trie root, which `findMaxPrefix` never reports) changes nothing.
    fn add(&mut self, raw: &str) {
        let components = components(raw);
        if !components.is_empty() {
            self.roots.insert(components);
        }
    }

    /// `PathTrie.deletePath`.
    fn remove(&mut self, raw: &str) {
        self.roots.remove(&components(raw));
    }

    /// `PathTrie.findMaxPrefix` minus its `/` answer: the longest root whose components start
    /// the components of `p`, as `/c1/c2…`.
    fn longest_prefix(&self, p: &str) -> Option<String> {
        if self.roots.is_empty() {
            return None;
        }
        let components = components(p);
        (1..=components.len())
            .rev()
            .find(|&k| self.roots.contains(&components[..k]))
            .map(|k| format!("/{}", components[..k].join("/")))
    }
}

/// `PathTrie.split`: the `/`-separated pieces that are not blank after Java's `trim` (which
/// strips every character up to U+0020).
fn components(p: &str) -> Vec<String> {
    p.split('/')
        .filter(|piece| !piece.chars().all(|c| c <= ' '))
        .map(str::to_string)
        .collect()
}

/// `Quotas.limitPath`.
fn limit_path(prefix: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{prefix}/{LIMIT_NODE}")
}

/// `Quotas.statPath`.
fn stat_path(prefix: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{prefix}/{STAT_NODE}")
}

/// `Quotas.trimQuotaPath(p)` = Java `p.substring(16)` (16 = `/zookeeper/quota`'s length in
/// UTF-16 units); `None` where Java throws (a shorter string).
fn trim_quota_path(p: &str) -> Option<String> {
    let units: Vec<u16> = p.encode_utf16().collect();
    let cut = QUOTA_ZOOKEEPER.len();
    (units.len() >= cut).then(|| String::from_utf16_lossy(&units[cut..]))
}

impl DataTree {
    /// `DataTree.getMaxPrefixWithQuota`: the longest quota root that is a prefix of `path`,
    /// `None` when there is none (a quota on `/` never counts).
    pub fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        self.quota_roots.longest_prefix(path)
    }

    /// Quota effects of creating `node_path` (child `child` of `parent_path`) with `data_len`
    /// bytes, run after the node is in the tree (`DataTree.createNode`).
    pub(super) fn quota_on_create(
        &mut self,
        node_path: &str,
        parent_path: &str,
        child: &str,
        data_len: i64,
    ) {
        if let Some(real) = parent_path.strip_prefix(QUOTA_ZOOKEEPER) {
            if child == LIMIT_NODE {
                self.quota_roots.add(real);
            }
            if child == STAT_NODE {
                self.update_quota_for_path(real);
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(node_path) {
            self.update_quota_stat(&prefix, data_len, 1);
        }
    }

    /// Quota effects of deleting `node_path` that held `data_len` bytes, run after the node
    /// left the tree (`DataTree.deleteNode`). ZooKeeper tests the parent against `/zookeeper`
    /// here, not `/zookeeper/quota`, and trims 16 characters all the same.
    pub(super) fn quota_on_delete(
        &mut self,
        node_path: &str,
        parent_path: &str,
        child: &str,
        data_len: i64,
    ) {
        if parent_path.starts_with(PROC_ZOOKEEPER) && child == LIMIT_NODE {
            if let Some(real) = trim_quota_path(parent_path) {
                self.quota_roots.remove(&real);
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(node_path) {
            self.update_quota_stat(&prefix, -data_len, -1);
        }
    }

    /// Quota effect of a setData that changed the data length by `bytes_diff`.
    pub(super) fn quota_on_set_data(&mut self, node_path: &str, bytes_diff: i64) {
        if let Some(prefix) = self.max_prefix_with_quota(node_path) {
            self.update_quota_stat(&prefix, bytes_diff, 0);
        }
    }

    /// `DataTree.updateQuotaStat`: adds the differences to the stats node's `count` and
    /// `bytes`, keeping its other keys. A missing node or unreadable text is left alone.
    fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let stat_path = stat_path(prefix);
        let Some(node) = self.nodes.get(stat_path.as_str()) else {
            return;
        };
        let Ok(mut usage) = StatsTrack::parse(node.data.as_deref()) else {
            return;
        };
        usage.set_count(usage.count().wrapping_add(count_diff));
        usage.set_bytes(usage.bytes().wrapping_add(bytes_diff));
        self.replace_stats_data(&stat_path, usage.to_bytes());
    }

    /// `DataTree.updateQuotaForPath`: writes `count=<nodes>,bytes=<data bytes>` of the subtree
    /// at `real` (`""` = the root) into its stats node, if that exists.
    fn update_quota_for_path(&mut self, real: &str) {
        let (count, bytes) = self.subtree_usage(real);
        let stat_path = stat_path(real);
        if self.nodes.contains_key(stat_path.as_str()) {
            self.replace_stats_data(&stat_path, StatsTrack::usage(count, bytes).to_bytes());
        }
    }

    /// `DataTree.getCounts`: the node itself plus every descendant, and their data bytes.
    fn subtree_usage(&self, real: &str) -> (i64, i64) {
        let top = if real.is_empty() { path::ROOT } else { real };
        let Some(node) = self.nodes.get(top) else {
            return (0, 0);
        };
        // '0' is the character after '/': each range holds exactly the paths below `top`
        // (every path, the root included, below `/`).
        let (lo, hi, own) = if top == path::ROOT {
            ("/".to_string(), "0".to_string(), (0, 0))
        } else {
            (
                format!("{top}/"),
                format!("{top}0"),
                (1, node.data_length() as i64),
            )
        };
        self.nodes
            .range::<_, str>((Included(lo.as_str()), Excluded(hi.as_str())))
            .fold(own, |(count, bytes), (_, n)| {
                (count + 1, bytes + n.data_length() as i64)
            })
    }

    /// Sets a stats node's data without touching its Stat (ZooKeeper assigns `node.data`).
    fn replace_stats_data(&mut self, stat_path: &str, data: Vec<u8>) {
        if let Some(node) = self.node_mut(stat_path) {
            let old = node_size(stat_path, node.data.as_deref());
            node.data = Some(data);
            self.data_size += node_size(stat_path, node.data.as_deref()) - old;
        }
    }

    /// `DataTree.setupQuota`, run after a snapshot is loaded: rebuilds the roots from every
    /// leaf node under `/zookeeper/quota` whose path ends in `/zookeeper_limits` (the root is
    /// the part before the first `/zookeeper_limits`) and recomputes each root's stats from
    /// its whole subtree, in path order.
    pub(crate) fn setup_quota(&mut self) {
        self.quota_roots = QuotaRoots::default();
        let suffix = format!("/{LIMIT_NODE}");
        let roots: Vec<String> = self
            .nodes
            .range::<_, str>((
                Included(format!("{QUOTA_ZOOKEEPER}/").as_str()),
                Excluded(format!("{QUOTA_ZOOKEEPER}0").as_str()),
            ))
            .filter(|(p, n)| n.children.is_empty() && p.ends_with(&suffix))
            .filter_map(|(p, _)| {
                p.find(&suffix)
                    .map(|end| p[QUOTA_ZOOKEEPER.len()..end].to_string())
            })
            .collect();
        for real in roots {
            self.update_quota_for_path(&real);
            self.quota_roots.add(&real);
        }
    }

    /// `ZooKeeperServer.checkQuota` (with `zookeeper.enforceQuota`), against this applied tree
    /// as ZooKeeper reads its `ZKDatabase`, not the outstanding changes: a create is
    /// `(data_len, 1)`, a setData `(new_len − old_len, 0)`. Only hard limits refuse
    /// (QuotaExceeded, -125); a soft limit is advisory. An unreadable limits or stats text is
    /// MarshallingError, the code ZooKeeper gives the runtime exception its parser throws.
    pub(crate) fn check_quota(
        &self,
        path: &str,
        bytes_diff: i64,
        count_diff: i64,
    ) -> Result<(), ZkError> {
        let Some(prefix) = self.max_prefix_with_quota(path) else {
            return Ok(());
        };
        let Some(limit_node) = self.nodes.get(limit_path(&prefix).as_str()) else {
            return Ok(());
        };
        let limits =
            StatsTrack::parse(limit_node.data.as_deref()).map_err(|_| ZkError::MarshallingError)?;
        let check_count =
            count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
        let check_bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
        if !check_count && !check_bytes {
            return Ok(());
        }
        let Some(stat_node) = self.nodes.get(stat_path(&prefix).as_str()) else {
            return Ok(());
        };
        let usage =
            StatsTrack::parse(stat_node.data.as_deref()).map_err(|_| ZkError::MarshallingError)?;
        let hard =
            |limit: i64, current: i64, diff: i64| limit > -1 && current.wrapping_add(diff) > limit;
        if check_count && hard(limits.count_hard_limit(), usage.count(), count_diff) {
            return Err(ZkError::QuotaExceeded);
        }
        if check_bytes && hard(limits.byte_hard_limit(), usage.bytes(), bytes_diff) {
            return Err(ZkError::QuotaExceeded);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StatsTrack, StatsTrackError> {
        StatsTrack::parse(Some(text.as_bytes()))
    }

    #[test]
    fn stats_track_text_forms() {
        // The forms zkCli 3.8 writes and ZooKeeper 3.8 prints (listquota).
        let limits = parse("count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1").unwrap();
        assert_eq!(limits.count(), 2);
        assert_eq!(limits.bytes(), -1);
        assert_eq!(limits.count_hard_limit(), -1);
        assert_eq!(
            limits.to_string(),
            "count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        assert_eq!(StatsTrack::usage(5, 8).to_string(), "count=5,bytes=8");
        // 3.4-era text with ',' only; absent keys read -1 but count and bytes always print.
        assert_eq!(parse("count=3,bytes=7").unwrap().count_hard_limit(), -1);
        assert_eq!(parse("").unwrap().to_string(), "count=-1,bytes=-1");
        assert_eq!(
            parse("countHardLimit=4").unwrap().to_string(),
            "count=-1,bytes=-1=;countHardLimit=4"
        );
    }

    #[test]
    fn stats_track_parses_like_java_split() {
        // Runs of separators are one; trailing ones vanish; `k==v` reads -1; later keys win.
        let s = parse("count=1,,;bytes=2;;").unwrap();
        assert_eq!((s.count(), s.bytes()), (1, 2));
        assert_eq!(parse("count==9").unwrap().count(), -1);
        assert_eq!(parse("count=1,count=4").unwrap().count(), 4);
        assert_eq!(parse(",").unwrap(), StatsTrack::default());
        // Where Java throws.
        assert_eq!(StatsTrack::parse(None), Err(StatsTrackError::Null));
        assert!(matches!(
            parse(",count=1"),
            Err(StatsTrackError::MissingValue(_))
        ));
        assert!(matches!(
            parse("count="),
            Err(StatsTrackError::MissingValue(_))
        ));
        assert!(matches!(
            parse("count=x"),
            Err(StatsTrackError::BadNumber(_))
        ));
    }

    #[test]
    fn roots_use_the_longest_component_prefix() {
        let mut roots = QuotaRoots::default();
        assert_eq!(roots.longest_prefix("/a/b"), None);
        roots.add("/a");
        roots.add("/a/b/c");
        roots.add("");
        assert_eq!(roots.longest_prefix("/a"), Some("/a".into()));
        assert_eq!(roots.longest_prefix("/a/b"), Some("/a".into()));
        assert_eq!(roots.longest_prefix("/a/b/c/d"), Some("/a/b/c".into()));
        // Components, not string prefixes.
        assert_eq!(roots.longest_prefix("/ab"), None);
        assert_eq!(roots.longest_prefix("/"), None);
        roots.remove("/a/b/c");
        assert_eq!(roots.longest_prefix("/a/b/c/d"), Some("/a".into()));
        // Blank components do not count, as in PathTrie.split.
        roots.add("/x/ /y");
        assert_eq!(roots.longest_prefix("/x/y/z"), Some("/x/y".into()));
    }

    #[test]
    fn trim_quota_path_cuts_sixteen_utf16_units() {
        assert_eq!(
            trim_quota_path("/zookeeper/quota/a/b").as_deref(),
            Some("/a/b")
        );
        assert_eq!(trim_quota_path("/zookeeper/quota").as_deref(), Some(""));
        assert_eq!(
            trim_quota_path("/zookeeper/abcdefgh").as_deref(),
            Some("fgh")
        );
        assert_eq!(trim_quota_path("/zookeeper/a"), None);
    }
}
