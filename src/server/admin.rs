//! Four-letter words on the client port, in ZooKeeper 3.8's output formats (reference A.17).
//!
//! Role: `client.rs` recognises a word in the first four bytes of a fresh connection
//! (`wire::fourlw`), calls [`four_letter_word`], writes the text and closes. A word not in
//! `4lw.commands.whitelist` gets ZooKeeper's "is not executed because it is not in the
//! whitelist." line. The AdminServer (HTTP) is not implemented; `admin.enableServer` is accepted
//! and ignored (logged at start-up).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::server::conn::ConnHandle;
use crate::server::ops::{tree_facts, TreeFacts};
use crate::server::shared::{Mode, Shared};
use crate::wire::fourlw::FourLetterWord;

/// The version string clients see (`srvr`, `envi`, `mntr`). kazoo's `server_version()` parses
/// the leading digits of `zookeeper.version`.
pub const ZK_VERSION: &str = concat!(
    "3.8.0-zabkeeper-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
);

/// Runs one four-letter word and returns its text (empty for `TelnetClose`).
pub async fn four_letter_word(shared: &Shared, word: FourLetterWord, arg: &[u8]) -> String {
    let name = word.name();
    if word == FourLetterWord::TelnetClose {
        return String::new();
    }
    if !shared.config.four_letter_whitelist.allows(name) {
        return format!("{name} is not executed because it is not in the whitelist.\n");
    }
    let not_serving = matches!(
        word,
        FourLetterWord::Srvr | FourLetterWord::Stat | FourLetterWord::Mntr
    ) && shared.config.is_ensemble()
        && !shared.role().serving;
    if not_serving {
        // ZooKeeper's answer while an ensemble member has no running ZooKeeperServer (electing,
        // syncing). A standalone server answers during its instant self-election too.
        return "This ZooKeeper instance is not currently serving requests\n".to_string();
    }
    match word {
        FourLetterWord::Ruok => "imok".to_string(),
        FourLetterWord::Isro => "rw".to_string(),
        FourLetterWord::Srvr => srvr(shared, &facts(shared).await, false),
        FourLetterWord::Stat => srvr(shared, &facts(shared).await, true),
        FourLetterWord::Mntr => mntr(shared, &facts(shared).await),
        FourLetterWord::Conf => conf(shared),
        FourLetterWord::Cons => cons(shared),
        FourLetterWord::Envi => envi(shared),
        FourLetterWord::Wchs => wchs(&facts(shared).await),
        FourLetterWord::Wchc => wchc(shared, &facts(shared).await),
        FourLetterWord::Wchp => wchp(shared, &facts(shared).await),
        FourLetterWord::Dump => dump(shared, &facts(shared).await),
        FourLetterWord::Crst => {
            for c in shared.conns.all() {
                reset_conn(&c);
            }
            "Connection stats reset.\n".to_string()
        }
        FourLetterWord::Srst => {
            shared.stats.reset();
            "Server stats reset.\n".to_string()
        }
        FourLetterWord::Dirs => {
            let data = crate::config::dir_size_bytes(&shared.config.data_dir.join("version-2"));
            let log = crate::config::dir_size_bytes(&shared.config.data_log_dir.join("version-2"));
            format!("datadir_size: {data}\nlogdir_size: {log}\n")
        }
        FourLetterWord::Gtmk => "306".to_string(),
        FourLetterWord::Stmk => {
            let mask = arg.try_into().map(i64::from_be_bytes).unwrap_or(306);
            format!("{mask}")
        }
        FourLetterWord::Hash => String::new(),
        FourLetterWord::TelnetClose => String::new(),
    }
}

async fn facts(shared: &Shared) -> TreeFacts {
    let tree = shared.tree.read().await;
    tree_facts(&tree)
}

fn reset_conn(c: &ConnHandle) {
    let s = &c.stats;
    for a in [
        &s.received,
        &s.sent,
        &s.latency_min_ms,
        &s.latency_max_ms,
        &s.latency_total_ms,
    ] {
        a.store(0, Ordering::Relaxed);
    }
    s.latency_count.store(0, Ordering::Relaxed);
}

fn latency_line(shared: &Shared) -> String {
    let s = &shared.stats;
    let count = s.latency_count.load(Ordering::Relaxed);
    let total = s.latency_total_ms.load(Ordering::Relaxed);
    let avg = if count == 0 {
        0.0
    } else {
        total as f64 / count as f64
    };
    let min = if count == 0 {
        0
    } else {
        s.latency_min_ms.load(Ordering::Relaxed)
    };
    format!(
        "Latency min/avg/max: {}/{:?}/{}\n",
        min,
        avg,
        s.latency_max_ms.load(Ordering::Relaxed)
    )
}

fn outstanding(shared: &Shared) -> usize {
    shared
        .conns
        .all()
        .iter()
        .map(|c| c.outstanding.load(Ordering::Relaxed))
        .sum()
}

/// `srvr`, or `stat` when `with_clients`.
fn srvr(shared: &Shared, facts: &TreeFacts, with_clients: bool) -> String {
    let mut out = format!("Zookeeper version: {ZK_VERSION}\n");
    if with_clients {
        out.push_str("Clients:\n");
        for c in shared.conns.all() {
            let _ = writeln!(
                out,
                " /{}[{}](queued={},recved={},sent={})",
                c.peer,
                u8::from(c.session_id() != 0),
                c.outstanding.load(Ordering::Relaxed),
                c.stats.received.load(Ordering::Relaxed),
                c.stats.sent.load(Ordering::Relaxed)
            );
        }
        out.push('\n');
    }
    out.push_str(&latency_line(shared));
    let _ = writeln!(
        out,
        "Received: {}",
        shared.stats.received.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "Sent: {}", shared.stats.sent.load(Ordering::Relaxed));
    let _ = writeln!(out, "Connections: {}", shared.conns.len());
    let _ = writeln!(out, "Outstanding: {}", outstanding(shared));
    let _ = writeln!(out, "Zxid: {:#x}", shared.last_zxid());
    let _ = writeln!(out, "Mode: {}", shared.role().mode.name());
    let _ = writeln!(out, "Node count: {}", facts.node_count);
    out
}

fn mntr(shared: &Shared, facts: &TreeFacts) -> String {
    let s = &shared.stats;
    let count = s.latency_count.load(Ordering::Relaxed);
    let total = s.latency_total_ms.load(Ordering::Relaxed);
    let avg = if count == 0 {
        0.0
    } else {
        total as f64 / count as f64
    };
    let ephemerals: usize = facts.ephemerals.values().map(|s| s.len()).sum();
    let watching_conns: BTreeSet<u64> = facts
        .watches_by_path
        .values()
        .flat_map(|s| s.iter().copied())
        .collect();
    let role = shared.role();
    let mut rows: Vec<(&str, String)> = vec![
        ("zk_version", ZK_VERSION.to_string()),
        ("zk_server_state", role.mode.name().to_string()),
        ("zk_ephemerals_count", ephemerals.to_string()),
        ("zk_num_alive_connections", shared.conns.len().to_string()),
        ("zk_avg_latency", format!("{avg:?}")),
        (
            "zk_min_latency",
            (if count == 0 {
                0
            } else {
                s.latency_min_ms.load(Ordering::Relaxed)
            })
            .to_string(),
        ),
        (
            "zk_max_latency",
            s.latency_max_ms.load(Ordering::Relaxed).to_string(),
        ),
        ("zk_outstanding_requests", outstanding(shared).to_string()),
        ("zk_znode_count", facts.node_count.to_string()),
        (
            "zk_global_sessions",
            shared.with_sessions(|t| t.len()).to_string(),
        ),
        ("zk_local_sessions", "0".to_string()),
        ("zk_watch_count", facts.watch_count.to_string()),
        ("zk_watching_connections", watching_conns.len().to_string()),
        (
            "zk_approximate_data_size",
            facts.approximate_data_size.to_string(),
        ),
        (
            "zk_packets_received",
            s.received.load(Ordering::Relaxed).to_string(),
        ),
        (
            "zk_packets_sent",
            s.sent.load(Ordering::Relaxed).to_string(),
        ),
        ("zk_open_file_descriptor_count", open_fds().to_string()),
        ("zk_max_file_descriptor_count", max_fds().to_string()),
        ("zk_uptime", shared.now_ms().to_string()),
        ("zk_last_zxid", format!("{:#x}", shared.last_zxid())),
    ];
    if role.mode != Mode::Standalone {
        let state = match role.mode {
            Mode::Leader => "leading",
            Mode::Follower => "following",
            Mode::Observer => "observing",
            _ => "looking",
        };
        rows.push(("zk_peer_state", format!("{state} - {}", role.phase)));
        // Ours: the epochs (ZooKeeper shows them only inside the zxid).
        rows.push(("zk_current_epoch", role.current_epoch.to_string()));
        rows.push(("zk_accepted_epoch", role.accepted_epoch.to_string()));
        // Ours: the protocol core's in-memory log (about commitLogCount committed txns, plus
        // those in flight).
        let stats = &shared.stats;
        rows.push((
            "zk_core_log_entries",
            stats
                .core_log_entries
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        ));
        rows.push((
            "zk_core_log_base",
            format!(
                "0x{:x}",
                stats
                    .core_log_base
                    .load(std::sync::atomic::Ordering::Relaxed)
            ),
        ));
    }
    if role.mode == Mode::Leader {
        rows.push(("zk_learners", role.learners.to_string()));
        rows.push(("zk_synced_followers", role.synced_followers.to_string()));
        rows.push(("zk_synced_non_voting_followers", "0".to_string()));
        rows.push(("zk_synced_observers", role.synced_observers.to_string()));
        rows.push(("zk_pending_syncs", role.pending_syncs.to_string()));
        let quorum = shared.config.servers.values();
        let voters = quorum
            .filter(|s| s.role == crate::config::PeerRole::Participant)
            .count();
        rows.push(("zk_quorum_size", (voters / 2 + 1).to_string()));
    }
    let counts = [
        ("zk_diff_count", &s.diff_count),
        ("zk_snap_count", &s.snap_count),
        ("zk_trunc_count", &s.trunc_count),
    ];
    for (key, counter) in counts {
        rows.push((key, counter.load(Ordering::Relaxed).to_string()));
    }
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k}\t{v}");
    }
    out
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn max_fds() -> u64 {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return 0;
    };
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn conf(shared: &Shared) -> String {
    let mut out = String::new();
    for (k, v) in shared.config.conf_lines() {
        let _ = writeln!(out, "{k}={v}");
    }
    if shared.config.is_ensemble() {
        out.push_str("membership: \n");
        for line in shared.config.membership_lines() {
            let _ = writeln!(out, "{line}");
        }
        out.push_str("version=0\n");
    }
    out
}

fn cons(shared: &Shared) -> String {
    let mut out = String::new();
    for c in shared.conns.all() {
        let st = &c.stats;
        let count = st.latency_count.load(Ordering::Relaxed);
        let avg = st
            .latency_total_ms
            .load(Ordering::Relaxed)
            .checked_div(count)
            .unwrap_or(0);
        let _ = write!(
            out,
            " /{}[{}](queued={},recved={},sent={}",
            c.peer,
            u8::from(c.session_id() != 0),
            c.outstanding.load(Ordering::Relaxed),
            st.received.load(Ordering::Relaxed),
            st.sent.load(Ordering::Relaxed)
        );
        if c.session_id() != 0 {
            let lop = st.last_op.lock().map(|s| s.clone()).unwrap_or_default();
            let _ = write!(
                out,
                ",sid={:#x},lop={},est={},to={},lcxid={:#x},lzxid={:#x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                c.session_id(),
                if lop.is_empty() { "NA" } else { &lop },
                c.established_ms,
                c.timeout_ms.load(Ordering::Relaxed),
                st.last_cxid.load(Ordering::Relaxed),
                st.last_zxid.load(Ordering::Relaxed),
                st.last_response_ms.load(Ordering::Relaxed),
                st.last_latency_ms.load(Ordering::Relaxed),
                st.latency_min_ms.load(Ordering::Relaxed),
                avg,
                st.latency_max_ms.load(Ordering::Relaxed)
            );
        }
        out.push_str(")\n");
    }
    out.push('\n');
    out
}

fn envi(shared: &Shared) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let rows = [
        ("zookeeper.version", ZK_VERSION.to_string()),
        ("host.name", host),
        (
            "java.version",
            "none (zabkeeper is written in Rust)".to_string(),
        ),
        ("java.vendor", "none".to_string()),
        ("java.home", "none".to_string()),
        ("java.class.path", "none".to_string()),
        ("java.library.path", "none".to_string()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", "<NA>".to_string()),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("os.version", os_release()),
        ("user.name", user),
        ("user.home", home),
        ("user.dir", cwd),
        ("os.memory.free", "0MB".to_string()),
        ("os.memory.max", "0MB".to_string()),
        ("os.memory.total", "0MB".to_string()),
        (
            "zabkeeper.dataDir",
            shared.config.data_dir.display().to_string(),
        ),
    ];
    let mut out = "Environment:\n".to_string();
    for (k, v) in rows {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

fn os_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn wchs(facts: &TreeFacts) -> String {
    let conns: BTreeSet<u64> = facts
        .watches_by_path
        .values()
        .flat_map(|s| s.iter().copied())
        .collect();
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        conns.len(),
        facts.watches_by_path.len(),
        facts.data_watch_count
    )
}

/// Connection id → its session id, for the words that print sessions.
fn session_of(shared: &Shared) -> BTreeMap<u64, i64> {
    shared
        .conns
        .all()
        .iter()
        .map(|c| (c.conn_id, c.session_id()))
        .collect()
}

fn wchc(shared: &Shared, facts: &TreeFacts) -> String {
    let sessions = session_of(shared);
    let mut by_session: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for (path, conns) in &facts.watches_by_path {
        for conn in conns {
            let sid = sessions.get(conn).copied().unwrap_or(0);
            by_session.entry(sid).or_default().insert(path);
        }
    }
    let mut out = String::new();
    for (sid, paths) in by_session {
        let _ = writeln!(out, "{sid:#x}");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push('\n');
    out
}

fn wchp(shared: &Shared, facts: &TreeFacts) -> String {
    let sessions = session_of(shared);
    let mut out = String::new();
    for (path, conns) in &facts.watches_by_path {
        let _ = writeln!(out, "{path}");
        let sids: BTreeSet<i64> = conns
            .iter()
            .map(|c| sessions.get(c).copied().unwrap_or(0))
            .collect();
        for sid in sids {
            let _ = writeln!(out, "\t{sid:#x}");
        }
    }
    out.push('\n');
    out
}

fn dump(shared: &Shared, facts: &TreeFacts) -> String {
    let mut out = "SessionTracker dump:\n".to_string();
    let (count, buckets) = shared.with_sessions(|t| {
        let buckets: Vec<(u64, Vec<i64>)> = t
            .buckets()
            .map(|(at, ids)| (at, ids.iter().copied().collect()))
            .collect();
        (t.len(), buckets)
    });
    let _ = writeln!(out, "Session Sets ({})/({}):", buckets.len(), count);
    for (at, ids) in buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            ids.len(),
            java_date(shared.wall_ms_at(at))
        );
        for id in ids {
            let _ = writeln!(out, "\t{id:#x}");
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(
        out,
        "Sessions with Ephemerals ({}):",
        facts.ephemerals.len()
    );
    for (sid, paths) in &facts.ephemerals {
        let _ = writeln!(out, "{sid:#x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    let conns = shared.conns.all();
    let _ = writeln!(out, "Connections Sets (1)/({})", conns.len());
    let _ = writeln!(
        out,
        "{} expire at {} ms (server clock):",
        conns.len(),
        shared.now_ms()
    );
    for c in conns {
        let _ = writeln!(out, "\tip: /{} sessionId: {:#x}", c.peer, c.session_id());
    }
    out
}

/// `java.util.Date.toString()` in UTC: `Mon Nov 23 13:59:14 UTC 2026`.
pub fn java_date(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1).clamp(0, 11) as usize];
    format!("{weekday} {month_name} {day:02} {h:02}:{m:02}:{s:02} UTC {year}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_date_matches_java_util_date() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        // 2026-11-23T13:59:14Z, a Monday.
        assert_eq!(java_date(1_795_442_354_000), "Mon Nov 23 13:59:14 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
