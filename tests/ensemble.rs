//! A 3-server ensemble of real `zabkeeper serve` processes on 127.0.0.1, each started from its
//! own zoo.cfg and `myid`: an election, writes through the leader and through a follower
//! (forwarded), a session that moves between servers, `kill -9` of the leader, a new leader,
//! writes that go on, and the killed server catching up when it restarts. Every wait polls a
//! condition with a deadline; no test sleeps for a fixed time to let something happen.

#![cfg(feature = "server")]

mod server_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use server_support::{four_letter, free_port, temp_dir, Client, ServerProcess, WAIT};
use zabkeeper::wire::client::{CreateRequest, PathWatch, Request, Response};
use zabkeeper::wire::records::Acl;

const OK: i32 = 0;
/// ZooKeeper's NONODE.
const NO_NODE: i32 = -101;
/// ZooKeeper's NODEEXISTS.
const NODE_EXISTS: i32 = -110;

/// One member: its id and its process (`server_support`'s, which waits for `ruok` at start).
struct Member {
    id: u64,
    server: ServerProcess,
}

impl Member {
    fn client_port(&self) -> u16 {
        self.server.port
    }

    fn log(&self) -> String {
        self.server.log()
    }

    /// `srvr`'s `Mode:` value, if the server answers and serves.
    fn mode(&self) -> Option<String> {
        let text = four_letter(self.client_port(), "srvr").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_owned)
    }

    fn mntr(&self, key: &str) -> Option<String> {
        let text = four_letter(self.client_port(), "mntr").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}\t")))
            .map(str::to_owned)
    }
}

struct Ensemble {
    root: PathBuf,
    members: Vec<Member>,
}

impl Ensemble {
    /// Writes three zoo.cfg files and myid files and starts the three servers.
    fn start(name: &str) -> Ensemble {
        Ensemble::start_with(name, None)
    }

    /// As `start`, with server `observer` (if any) an observer: `:observer` on its `server.N`
    /// line and `peerType=observer` in its own zoo.cfg.
    fn start_with(name: &str, observer: Option<u64>) -> Ensemble {
        let root = temp_dir(name);
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut lines = String::new();
        for (i, (quorum, election, client)) in ports.iter().enumerate() {
            let role = if observer == Some(i as u64 + 1) {
                ":observer"
            } else {
                ""
            };
            lines.push_str(&format!(
                "server.{}=127.0.0.1:{quorum}:{election}{role};127.0.0.1:{client}\n",
                i + 1
            ));
        }
        let mut members = Vec::new();
        for (i, &(_, _, client_port)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let dir = root.join(format!("s{id}"));
            let data = dir.join("data");
            std::fs::create_dir_all(&data).expect("create dataDir");
            std::fs::write(data.join("myid"), format!("{id}\n")).expect("write myid");
            let peer_type = if observer == Some(id) {
                "peerType=observer\n"
            } else {
                ""
            };
            let cfg = format!(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
                 4lw.commands.whitelist=*\nmaxClientCnxns=0\n{peer_type}{lines}",
                data.display()
            );
            let server = ServerProcess::start_with_config(&dir, client_port, cfg);
            members.push(Member { id, server });
        }
        Ensemble { root, members }
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("---- server {} ----\n{}", m.id, m.log()))
            .collect()
    }

    /// Polls until `cond` holds; fails with every server's log at the deadline.
    fn until<T>(&self, what: &str, mut cond: impl FnMut(&Ensemble) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = cond(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the running members are one leader and followers, all serving; returns the
    /// leader's index.
    fn settled(&self) -> usize {
        self.until("a leader and serving followers", |e| {
            let modes: Vec<Option<String>> = e
                .members
                .iter()
                .filter(|m| m.server.is_running())
                .map(Member::mode)
                .collect();
            let leaders = modes
                .iter()
                .filter(|m| m.as_deref() == Some("leader"))
                .count();
            let followers = modes
                .iter()
                .filter(|m| m.as_deref() == Some("follower"))
                .count();
            (leaders == 1 && leaders + followers == modes.len()).then(|| {
                e.members
                    .iter()
                    .position(|m| m.server.is_running() && m.mode().as_deref() == Some("leader"))
            })?
        })
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.server.kill9();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        flags,
    })
}

fn get(path: &str) -> Request {
    Request::GetData(PathWatch {
        path: path.into(),
        watch: false,
    })
}

/// The data of `path` on the server at `port` (a fresh session), or the error code.
fn data_on(port: u16, path: &str) -> Result<Vec<u8>, i32> {
    let mut c = Client::connect(port, 4000).map_err(|_| i32::MIN)?;
    let reply = c.call(&get(path)).map_err(|_| i32::MIN)?;
    match (reply.header.err, reply.body) {
        (OK, Some(Response::GetData(r))) => Ok(r.data.unwrap_or_default()),
        (err, _) => Err(err),
    }
}

fn others(leader: usize) -> Vec<usize> {
    (0..3).filter(|&i| i != leader).collect()
}

fn has_line(log: &str, text: &str) -> bool {
    log.lines().any(|l| l.contains(text))
}

#[test]
fn three_servers_elect_replicate_fail_over_and_catch_up() {
    let mut ens = Ensemble::start("ensemble-3");
    let leader = ens.settled();
    let followers = others(leader);
    let (lport, fport) = (
        ens.members[leader].client_port(),
        ens.members[followers[0]].client_port(),
    );

    // A write through the leader and one through a follower (forwarded to the leader).
    let mut via_leader = Client::connect(lport, 4000).expect("connect leader");
    let r = via_leader.call(&create("/a", b"1", 0)).expect("create /a");
    assert_eq!(r.header.err, OK);
    let mut via_follower = Client::connect(fport, 4000).expect("connect follower");
    assert_eq!(
        via_follower.session_id >> 56,
        ens.members[followers[0]].id as i64,
        "the follower allocates its clients' session ids"
    );
    let r = via_follower
        .call(&create("/b", b"2", 0))
        .expect("create /b");
    assert_eq!(r.header.err, OK, "a forwarded create succeeds");
    let r = via_follower
        .call(&create("/b", b"3", 0))
        .expect("create /b again");
    assert_eq!(
        r.header.err, NODE_EXISTS,
        "a forwarded failure is answered too"
    );
    // The follower applied its own write before answering: read-your-writes there.
    let r = via_follower.call(&get("/b")).expect("get /b");
    assert_eq!(r.header.err, OK);
    // Every server ends up with both (followers apply what they never prepared).
    for m in &ens.members {
        ens.until("both znodes everywhere", |_| {
            (data_on(m.client_port(), "/a") == Ok(b"1".to_vec())
                && data_on(m.client_port(), "/b") == Ok(b"2".to_vec()))
            .then_some(())
        });
    }

    // The follower's session moves to the leader, password and all, and keeps working there.
    let (sid, passwd) = (via_follower.session_id, via_follower.passwd);
    drop(via_follower);
    let mut moved = Client::resume(lport, 4000, sid, passwd).expect("resume on the leader");
    assert_eq!(moved.session_id, sid, "the session survives the move");
    let r = moved
        .call(&create("/moved", b"", 0))
        .expect("create /moved");
    assert_eq!(r.header.err, OK);
    drop(moved);
    drop(via_leader);

    // kill -9 the leader: the other two elect a new one and writes go on, through both.
    let old_leader = leader;
    ens.members[old_leader].server.kill9();
    let leader = ens.settled();
    assert_ne!(leader, old_leader);
    for &i in &others(old_leader) {
        let port = ens.members[i].client_port();
        let path = format!("/after-{}", ens.members[i].id);
        let mut c = ens.until("a session after fail-over", |_| {
            Client::connect(port, 4000).ok()
        });
        let r = c
            .call(&create(&path, b"x", 0))
            .expect("create after fail-over");
        assert_eq!(
            r.header.err, OK,
            "write through server {}",
            ens.members[i].id
        );
    }

    // The killed server restarts, syncs from the new leader and has every acknowledged write.
    ens.members[old_leader].server.restart();
    ens.settled();
    let port = ens.members[old_leader].client_port();
    for path in ["/a", "/b", "/moved"] {
        ens.until("the restarted server catches up", |_| {
            data_on(port, path).is_ok().then_some(())
        });
    }
    for &i in &others(old_leader) {
        let path = format!("/after-{}", ens.members[i].id);
        ens.until(
            "the restarted server has the writes made while it was down",
            |_| (data_on(port, &path) == Ok(b"x".to_vec())).then_some(()),
        );
    }
    assert_eq!(data_on(port, "/never"), Err(NO_NODE));
    let leader_log = ens.members[leader].log();
    let restarted_log = ens.members[old_leader].log();
    let synced = format!("synced with leader {}", ens.members[leader].id);
    assert!(
        has_line(
            &leader_log,
            &format!("to server {}", ens.members[old_leader].id)
        ) && has_line(&restarted_log, &synced),
        "sync not logged\n{}",
        ens.logs()
    );
    let diffs: u64 = ens.members[leader]
        .mntr("zk_diff_count")
        .and_then(|v| v.parse().ok())
        .expect("zk_diff_count");
    let truncs: u64 = ens.members[leader]
        .mntr("zk_trunc_count")
        .and_then(|v| v.parse().ok())
        .expect("zk_trunc_count");
    assert!(diffs + truncs >= 2, "the leader synced both learners");
    assert_eq!(
        ens.members[leader].mntr("zk_synced_followers").as_deref(),
        Some("2")
    );
}

#[test]
fn an_observer_serves_reads_and_forwards_writes_but_never_votes() {
    // Two voters and an observer: the observer reports Mode: observer and its writes land.
    let ens = Ensemble::start_with("ensemble-observer", Some(3));
    ens.until("an observer in broadcast", |e| {
        (e.members[2].mode().as_deref() == Some("observer")).then_some(())
    });
    let mut c = Client::connect(ens.members[2].client_port(), 4000).expect("connect observer");
    let r = c.call(&create("/from-observer", b"o", 0)).expect("create");
    assert_eq!(r.header.err, OK);
    for m in &ens.members {
        ens.until("the observer's write everywhere", |_| {
            (data_on(m.client_port(), "/from-observer") == Ok(b"o".to_vec())).then_some(())
        });
    }
    let leader = ens.settled_with_observer();
    assert_eq!(
        ens.members[leader].mntr("zk_synced_observers").as_deref(),
        Some("1")
    );
}

impl Ensemble {
    /// The leader's index once the two voters settled and the observer observes.
    fn settled_with_observer(&self) -> usize {
        self.until("a leader, a follower and an observer", |e| {
            let modes: Vec<Option<String>> = e.members.iter().map(Member::mode).collect();
            let mut sorted: Vec<&str> = modes.iter().map(|m| m.as_deref().unwrap_or("")).collect();
            sorted.sort_unstable();
            (sorted == ["follower", "leader", "observer"])
                .then(|| modes.iter().position(|m| m.as_deref() == Some("leader")))?
        })
    }
}

#[test]
fn sessions_are_global_renewed_through_followers_and_expired_by_the_leader() {
    let ens = Ensemble::start("ensemble-sessions");
    let leader = ens.settled();
    let follower = others(leader)[0];
    let fport = ens.members[follower].client_port();
    // minSessionTimeout is 2 × tickTime = 400 ms.
    let mut c = Client::connect(fport, 400).expect("connect follower");
    assert_eq!(c.timeout_ms, 400);
    let r = c.call(&create("/eph", b"", 1)).expect("create ephemeral");
    assert_eq!(r.header.err, OK);
    for m in &ens.members {
        ens.until("the ephemeral everywhere", |_| {
            data_on(m.client_port(), "/eph").is_ok().then_some(())
        });
    }
    // Pings reach only the follower; the follower reports them, so the leader keeps the
    // session alive well past its timeout (the client pings at its usual third of it).
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2000) {
        let r = c.call(&Request::Ping).expect("ping");
        assert_eq!(r.header.err, OK, "session expired while pinging a follower");
        std::thread::sleep(Duration::from_millis(130));
    }
    let r = c.call(&get("/eph")).expect("get /eph");
    assert_eq!(
        r.header.err, OK,
        "the ephemeral outlived its timeout while renewed"
    );
    // The client goes silent: the leader expires the session, and the ephemeral goes on every
    // server, the one the client was connected to included.
    for m in &ens.members {
        ens.until("the ephemeral gone everywhere", |_| {
            (data_on(m.client_port(), "/eph") == Err(NO_NODE)).then_some(())
        });
    }
    assert!(
        c.closed_by_server(),
        "the follower closes the expired session's connection"
    );
}
