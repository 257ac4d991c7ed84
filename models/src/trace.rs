//! A path through the model, as a reader wants it: which server received what, and what changed
//! (role, epochs, zxids, log) — as text, as JSON, and as a Mermaid sequence diagram. Each ends
//! with what the violated property says is wrong, in words (`properties::explain`).

use std::fmt::Write as _;

use serde_json::{json, Value};
use stateright::Path;
use zabkeeper::protocol::{LeaderPhase, PeerMsg, Proposal, SyncKind};

use crate::cluster::{state_name, Action, ClusterModel, ClusterState, Server};
use crate::properties;

fn zxids(ps: &[Proposal]) -> String {
    let v: Vec<String> = ps.iter().map(|p| p.zxid.to_string()).collect();
    format!("[{}]", v.join(","))
}

/// `[1:1,1:2]`: the zxids of a history.
pub fn zxid_list(ps: &[Proposal]) -> String {
    zxids(ps)
}

/// One message, with the fields that matter: the core's packet name (`PeerMsg::name`, ZooKeeper's
/// names) and its arguments.
pub fn describe_msg(m: &PeerMsg) -> String {
    let name = m.name();
    match m {
        PeerMsg::Notification { state, vote, round } => format!(
            "{name}({} vote=s{}(epoch {}, zxid {}) round {})",
            state_name(*state),
            vote.sid.0,
            vote.epoch,
            vote.zxid,
            round
        ),
        PeerMsg::FollowerInfo { accepted_epoch, .. } => {
            format!("{name}(acceptedEpoch {accepted_epoch})")
        }
        PeerMsg::LeaderInfo { epoch } | PeerMsg::NewLeader { epoch } => {
            format!("{name}(epoch {epoch})")
        }
        PeerMsg::AckEpoch {
            current_epoch,
            last_zxid,
        } => format!(
            "{name}(currentEpoch {}, lastZxid {last_zxid})",
            current_epoch.map_or("-1".to_string(), |e| e.to_string())
        ),
        PeerMsg::Sync {
            kind,
            proposals,
            committed,
        } => {
            let head = match kind {
                SyncKind::Diff => name.to_string(),
                SyncKind::Trunc { to } => format!("{name}(to {to})"),
                SyncKind::Snap { base, snapshot } => format!(
                    "{name}(base {base}, snapshot {})",
                    zxids(&crate::cluster::decode_history(snapshot))
                ),
            };
            format!("{head} + {} committed {committed}", zxids(proposals))
        }
        PeerMsg::UpToDate | PeerMsg::Request { .. } => name.into(),
        PeerMsg::Propose(p) | PeerMsg::Inform(p) => format!("{name}({})", p.zxid),
        PeerMsg::Ack { zxid } | PeerMsg::Commit { zxid } => format!("{name}({zxid})"),
        PeerMsg::Ping { round } => format!("{name}(round {round})"),
        PeerMsg::SyncRequest { id } => format!("{name} #{id}"),
        PeerMsg::SyncReply { id, zxid } => format!("{name}(#{id}, read index {zxid})"),
        PeerMsg::Revalidate {
            session,
            timeout_ms,
        } => format!("{name}({session:#x}, {timeout_ms} ms)"),
        PeerMsg::RevalidateReply { session, valid } => format!("{name}({session:#x}, {valid})"),
    }
}

/// What the action was, read off the state it was taken from.
pub fn describe_action(before: &ClusterState, action: &Action) -> String {
    let s = |i: &usize| format!("s{}", i + 1);
    match action {
        Action::Deliver { from, to } => match before.link(*from, *to).front() {
            Some(m) => format!("{} receives {} from {}", s(to), describe_msg(m), s(from)),
            None => format!("{} receives nothing from {}", s(to), s(from)),
        },
        Action::Timeout { server, timer } => format!("{}: timer {timer:?} fires", s(server)),
        Action::FlushLog { server } => {
            format!("{}: oldest txn-log write reaches the disk", s(server))
        }
        Action::FlushEpoch { server } => format!("{}: epoch files reach the disk", s(server)),
        Action::Write { server } => format!(
            "client writes txn #{} to leader {}",
            before.writes + 1,
            s(server)
        ),
        Action::Forward { server } => format!(
            "client writes txn #{} to {} (not a serving leader)",
            before.writes + 1,
            s(server)
        ),
        Action::Propose { server } => format!(
            "{}: the runtime feeds a prepared forwarded request as a write",
            s(server)
        ),
        Action::Crash { server } => format!(
            "{} CRASHES (volatile state and unflushed writes lost)",
            s(server)
        ),
        Action::Restart { server } => format!("{} restarts from its disk", s(server)),
        Action::BreakLink { a, b } => {
            format!("link {}–{} breaks (in-flight messages lost)", s(a), s(b))
        }
        Action::Elect => {
            "election runs to quiescence (all notifications delivered, finalize timers fired)"
                .into()
        }
        Action::Sync { server } => {
            format!("client issues sync #{} at {}", before.syncs + 1, s(server))
        }
        Action::Isolate { server } => format!(
            "{} is cut off silently (in-flight messages lost, nobody is told)",
            s(server)
        ),
        Action::Snapshot { server } => format!(
            "{} writes a snapshot at its committed zxid (durable) and compacts",
            s(server)
        ),
        Action::Compact { server } => format!(
            "{} drops its log up to its committed zxid from memory (no snapshot; the disk keeps it)",
            s(server)
        ),
    }
}

/// A one-line summary of a server.
pub fn summary(server: &Server) -> String {
    let snap = if server.disk.log_base == zabkeeper::protocol::Zxid::ZERO {
        String::new()
    } else {
        format!(" snapshot {}", zxids(&server.snapshot))
    };
    let disk = format!(
        "disk: acc {} cur {}{snap} log {} wm {}",
        server.disk.accepted_epoch,
        server.disk.current_epoch,
        zxids(&server.disk.log),
        server.disk.committed
    );
    let Some(node) = &server.node else {
        return format!("CRASHED; {disk}");
    };
    let phase = match node.role() {
        zabkeeper::protocol::Role::Looking(_) => format!("round {}", node.round()),
        zabkeeper::protocol::Role::Leading(l) => format!(
            "{:?}{}",
            l.phase,
            l.epoch.map_or(String::new(), |e| format!(" epoch {e}"))
        ),
        zabkeeper::protocol::Role::Following(l) => format!("{:?} leader s{}", l.phase, l.leader.0),
    };
    let panic = server
        .panic
        .as_ref()
        .map_or(String::new(), |p| format!(" PANIC: {p}"));
    format!(
        "{} ({phase}) acc {} cur {} log {}{} durable {} committed {}; {disk}{panic}",
        state_name(node.state()),
        node.accepted_epoch(),
        node.current_epoch(),
        zxids(node.log()),
        if node.log_base() == zabkeeper::protocol::Zxid::ZERO {
            String::new()
        } else {
            format!(" over base {}", node.log_base())
        },
        node.durable_zxid(),
        node.committed_zxid()
    )
}

fn server_json(server: &Server) -> Value {
    let disk = json!({
        "accepted_epoch": server.disk.accepted_epoch.0, "current_epoch": server.disk.current_epoch.0,
        "log": server.disk.log.iter().map(|p| p.zxid.to_string()).collect::<Vec<_>>(),
        "commit_watermark": server.disk.committed.to_string(),
    });
    match &server.node {
        None => json!({"state": "CRASHED", "disk": disk}),
        Some(node) => json!({
            "state": state_name(node.state()),
            "leader": node.leader().map(|l| l.0),
            "phase": node.leading().map(|l| format!("{:?}", l.phase)).or_else(|| node.learning().map(|l| format!("{:?}", l.phase))),
            "established": node.leading().is_some_and(|l| l.phase != LeaderPhase::Discovery),
            "round": node.round(),
            "accepted_epoch": node.accepted_epoch().0, "current_epoch": node.current_epoch().0,
            "log": node.log().iter().map(|p| p.zxid.to_string()).collect::<Vec<_>>(),
            "durable": node.durable_zxid().to_string(), "committed": node.committed_zxid().to_string(),
            "panic": server.panic,
            "disk": disk,
        }),
    }
}

/// The steps of a path: `(state before, action)` plus the final state.
fn steps(path: &Path<ClusterState, Action>) -> (Vec<(ClusterState, Action)>, ClusterState) {
    let v = path.clone().into_vec();
    let last = v.last().expect("non-empty path").0.clone();
    let steps = v
        .into_iter()
        .filter_map(|(s, a)| a.map(|a| (s, a)))
        .collect();
    (steps, last)
}

/// Every server, every non-empty link and every recorded violation, one per line.
pub fn describe_state(state: &ClusterState) -> String {
    let mut out = String::new();
    for (i, s) in state.servers.iter().enumerate() {
        let _ = writeln!(out, "s{}: {}", i + 1, summary(s));
    }
    for from in 0..state.n() {
        for to in 0..state.n() {
            let link = state.link(from, to);
            if !link.is_empty() {
                let msgs: Vec<String> = link.iter().map(describe_msg).collect();
                let _ = writeln!(out, "s{}→s{}: {}", from + 1, to + 1, msgs.join(" | "));
            }
        }
    }
    let isolated: Vec<String> = (0..state.n())
        .filter(|i| state.isolated[*i])
        .map(|i| format!("s{}", i + 1))
        .collect();
    if !isolated.is_empty() {
        let _ = writeln!(out, "silently isolated: {}", isolated.join(", "));
    }
    for (id, detail) in &state.ghost.violations {
        let _ = writeln!(out, "!! {id}: {detail}");
    }
    out
}

/// What the property says is wrong in the last state of the path.
fn verdict(model: &ClusterModel, property: &str, last: &ClusterState) -> String {
    properties::explain(model, property, last)
        .unwrap_or_else(|| format!("{property} does not hold in the last state"))
}

/// The path as numbered text: each step's event, then each server whose summary changed, then
/// what is wrong.
pub fn text(model: &ClusterModel, property: &str, path: &Path<ClusterState, Action>) -> String {
    let (steps, last) = steps(path);
    let mut out = String::new();
    let first = steps.first().map_or(&last, |(s, _)| s);
    let _ = writeln!(
        out,
        "Counterexample to {property} in {} steps.",
        steps.len()
    );
    let _ = writeln!(out, "Initial state:");
    for (i, s) in first.servers.iter().enumerate() {
        let _ = writeln!(out, "  s{}: {}", i + 1, summary(s));
    }
    for (k, (before, action)) in steps.iter().enumerate() {
        let after = steps.get(k + 1).map_or(&last, |(s, _)| s);
        let _ = writeln!(out, "{:>3}. {}", k + 1, describe_action(before, action));
        for i in 0..before.n() {
            let (b, a) = (summary(&before.servers[i]), summary(&after.servers[i]));
            if a != b {
                let _ = writeln!(out, "       s{}: {a}", i + 1);
            }
        }
        let new: Vec<_> = after
            .ghost
            .violations
            .iter()
            .filter(|(k, _)| !before.ghost.violations.contains_key(*k))
            .collect();
        for (id, detail) in new {
            let _ = writeln!(out, "       !! {id}: {detail}");
        }
    }
    let _ = writeln!(
        out,
        "Violated {property}: {}",
        verdict(model, property, &last)
    );
    out
}

/// The path as JSON.
pub fn json(model: &ClusterModel, property: &str, path: &Path<ClusterState, Action>) -> Value {
    let (steps, last) = steps(path);
    let mut out = Vec::new();
    for (k, (before, action)) in steps.iter().enumerate() {
        let after = steps.get(k + 1).map_or(&last, |(s, _)| s);
        let msg = match action {
            Action::Deliver { from, to } => before.link(*from, *to).front().map(describe_msg),
            _ => None,
        };
        out.push(json!({
            "step": k + 1,
            "action": format!("{action:?}"),
            "event": describe_action(before, action),
            "message": msg,
            "servers": after.servers.iter().map(|s| server_json(s)).collect::<Vec<_>>(),
        }));
    }
    let first = steps.first().map_or(&last, |(s, _)| s);
    json!({
        "property": property,
        "explanation": verdict(model, property, &last),
        "initial": first.servers.iter().map(|s| server_json(s)).collect::<Vec<_>>(),
        "steps": out,
        "violations": last.ghost.violations.iter().map(|(k, v)| json!({"id": k, "detail": v})).collect::<Vec<_>>(),
    })
}

/// A server's role and epochs, as the Mermaid notes show them.
fn role_line(server: &Server) -> String {
    match &server.node {
        None => "CRASHED".into(),
        Some(node) => {
            let phase = node
                .leading()
                .map(|l| format!(" {:?}", l.phase))
                .or_else(|| node.learning().map(|l| format!(" {:?}", l.phase)))
                .unwrap_or_default();
            format!(
                "{}{phase} acc {} cur {}",
                state_name(node.state()),
                node.accepted_epoch(),
                node.current_epoch()
            )
        }
    }
}

fn mermaid_text(s: &str) -> String {
    s.replace(';', ",").replace('#', "no. ")
}

/// The path as a Mermaid sequence diagram: messages as arrows, other events and every change of
/// a server's role or epochs as notes, and the violation at the end.
pub fn mermaid(model: &ClusterModel, property: &str, path: &Path<ClusterState, Action>) -> String {
    let (steps, last) = steps(path);
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(out, "    %% counterexample to {property}");
    for i in 0..last.n() {
        let _ = writeln!(out, "    participant s{}", i + 1);
    }
    if let Some((first, _)) = steps.first() {
        for (i, server) in first.servers.iter().enumerate() {
            let _ = writeln!(out, "    Note over s{}: {}", i + 1, role_line(server));
        }
    }
    for (k, (before, action)) in steps.iter().enumerate() {
        let after = steps.get(k + 1).map_or(&last, |(s, _)| s);
        let line = match action {
            Action::Deliver { from, to } => {
                let m = before
                    .link(*from, *to)
                    .front()
                    .map(describe_msg)
                    .unwrap_or_default();
                format!("s{}->>s{}: {}", from + 1, to + 1, mermaid_text(&m))
            }
            Action::BreakLink { a, b } => format!("Note over s{},s{}: link breaks", a + 1, b + 1),
            Action::Elect => format!("Note over s1,s{}: election runs to quiescence", last.n()),
            other => {
                let server = match other {
                    Action::Timeout { server, .. }
                    | Action::FlushLog { server }
                    | Action::FlushEpoch { server }
                    | Action::Write { server }
                    | Action::Forward { server }
                    | Action::Propose { server }
                    | Action::Crash { server }
                    | Action::Restart { server }
                    | Action::Sync { server }
                    | Action::Isolate { server }
                    | Action::Snapshot { server }
                    | Action::Compact { server } => *server,
                    _ => 0,
                };
                format!(
                    "Note over s{}: {}",
                    server + 1,
                    mermaid_text(&describe_action(before, other))
                )
            }
        };
        let _ = writeln!(out, "    {line}");
        for i in 0..before.n() {
            let (b, a) = (role_line(&before.servers[i]), role_line(&after.servers[i]));
            if a != b {
                let _ = writeln!(out, "    Note over s{}: {}", i + 1, a);
            }
        }
    }
    let _ = writeln!(
        out,
        "    Note over s1,s{}: VIOLATED {property}: {}",
        last.n(),
        mermaid_text(&verdict(model, property, &last))
    );
    out
}
