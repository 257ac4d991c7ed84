//! Loopback smoke tests of the real `zabkeeper` binary with a small client over the wire codecs:
//! CRUD, multi, watches (and their order relative to replies), ephemerals, session expiry on the
//! server clock, four-letter words, and bad input that must cost only the offending connection.

#![cfg(feature = "server")]

mod server_support;

use server_support::{four_letter, temp_dir, Client, ServerProcess};
use zabkeeper::wire::client::{
    AddWatchRequest, AuthPacket, CreateRequest, MultiOp, MultiRequest, OpResult, PathRecord,
    PathVersion, PathWatch, ReconfigRequest, Request, Response, SetDataRequest, WatchesRequest,
};
use zabkeeper::wire::records::Acl;

const OK: i32 = 0;

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        flags,
    })
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData(PathWatch {
        path: path.into(),
        watch,
    })
}

fn set(path: &str, data: &[u8], version: i32) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        version,
    })
}

fn delete(path: &str, version: i32) -> Request {
    Request::Delete(PathVersion {
        path: path.into(),
        version,
    })
}

fn server(name: &str, tick_ms: u32) -> ServerProcess {
    ServerProcess::start(&temp_dir(name), tick_ms, &["extendedTypesEnabled=true"])
}

#[test]
fn create_get_set_delete_with_stats() {
    let s = server("smoke-crud", 2000);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    assert_eq!(c.timeout_ms, 30_000);
    let r = c.call(&create("/a", b"one", 0)).expect("create");
    assert_eq!(r.header.err, OK);
    let create_zxid = r.header.zxid;
    assert!(matches!(r.body, Some(Response::Create(ref p)) if p.path == "/a"));
    let r = c.call(&get("/a", false)).expect("get");
    let Some(Response::GetData(d)) = r.body else {
        panic!("no data: {r:?}")
    };
    assert_eq!(d.data.as_deref(), Some(&b"one"[..]));
    assert_eq!(
        (d.stat.czxid, d.stat.mzxid, d.stat.version),
        (create_zxid, create_zxid, 0)
    );
    let r = c.call(&set("/a", b"two", 0)).expect("set");
    let Some(Response::Stat(st)) = r.body else {
        panic!("no stat")
    };
    assert_eq!(st.stat.version, 1);
    assert_eq!(st.stat.mzxid, r.header.zxid);
    assert_eq!(c.call(&set("/a", b"x", 0)).expect("set").header.err, -103);
    assert_eq!(c.call(&create("/a", b"", 0)).expect("dup").header.err, -110);
    assert_eq!(
        c.call(&create("/no/parent", b"", 0))
            .expect("orphan")
            .header
            .err,
        -101
    );
    let r = c.call(&delete("/a", 1)).expect("delete");
    assert_eq!(r.header.err, OK);
    assert_eq!(c.call(&get("/a", false)).expect("get").header.err, -101);
}

#[test]
fn multi_is_all_or_nothing() {
    let s = server("smoke-multi", 2000);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    let ok = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(CreateRequest {
                path: "/m".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: 0,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: Some(b"x".to_vec()),
                version: 0,
            }),
        ],
    });
    let r = c.call(&ok).expect("multi");
    let Some(Response::Multi(m)) = r.body else {
        panic!("no multi body: {r:?}")
    };
    assert!(matches!(&m.results[0], OpResult::Create { path } if path == "/m"));
    assert!(matches!(&m.results[1], OpResult::SetData { stat } if stat.version == 1));
    let bad = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: None,
                version: -1,
            }),
            MultiOp::Check(PathVersion {
                path: "/m".into(),
                version: 7,
            }),
            MultiOp::Delete(PathVersion {
                path: "/zzz".into(),
                version: -1,
            }),
        ],
    });
    let r = c.call(&bad).expect("multi");
    assert_eq!(r.header.err, OK, "a failed multi still has header err 0");
    let Some(Response::Multi(m)) = r.body else {
        panic!("no multi body")
    };
    let errs: Vec<i32> = m
        .results
        .iter()
        .map(|r| match r {
            OpResult::Error { err } => *err,
            other => panic!("expected errors, got {other:?}"),
        })
        .collect();
    assert_eq!(errs, vec![0, -103, -2]);
    assert_eq!(c.call(&get("/m", false)).expect("get").header.err, OK);
}

#[test]
fn watch_event_is_queued_before_the_reply_that_caused_it() {
    let s = server("smoke-watch", 2000);
    let mut a = Client::connect(s.port, 30_000).expect("connect");
    let mut b = Client::connect(s.port, 30_000).expect("connect");
    a.call(&create("/w", b"", 0)).expect("create");
    assert_eq!(a.call(&get("/w", true)).expect("get").header.err, OK);
    // The writer itself holds the watch: its event must come before its own setData reply.
    a.arrivals.clear();
    let set_xid = 100;
    a.send(set_xid, &set("/w", b"1", -1)).expect("send");
    a.wait_reply(set_xid, zabkeeper::wire::client::OpCode::SetData)
        .expect("reply");
    assert_eq!(a.arrivals, vec![-1, set_xid]);
    assert_eq!(a.events[0].event_type, 3);
    assert_eq!(a.events[0].path, "/w");
    // One-shot: b watches children, a creates a child, b gets NodeChildrenChanged once.
    let r = b
        .call(&Request::GetChildren(PathWatch {
            path: "/w".into(),
            watch: true,
        }))
        .expect("ls");
    assert_eq!(r.header.err, OK);
    a.call(&create("/w/c1", b"", 0)).expect("create");
    a.call(&create("/w/c2", b"", 0)).expect("create");
    b.wait_events(1).expect("event");
    assert_eq!(
        (b.events[0].event_type, b.events[0].path.as_str()),
        (4, "/w")
    );
    // A later call's reply comes after any event; no second child event was queued.
    b.call(&Request::Exists(PathWatch {
        path: "/w".into(),
        watch: false,
    }))
    .expect("exists");
    assert_eq!(b.events.len(), 1);
}

#[test]
fn persistent_recursive_watch_and_remove_watches() {
    let s = server("smoke-addwatch", 2000);
    let mut a = Client::connect(s.port, 30_000).expect("connect");
    let mut b = Client::connect(s.port, 30_000).expect("connect");
    a.call(&create("/r", b"", 0)).expect("create");
    let r = b
        .call(&Request::AddWatch(AddWatchRequest {
            path: "/r".into(),
            mode: 1,
        }))
        .expect("addWatch");
    assert_eq!(r.header.err, OK);
    a.call(&create("/r/x", b"", 0)).expect("create");
    a.call(&set("/r/x", b"1", -1)).expect("set");
    b.wait_events(2).expect("events");
    assert_eq!(
        (b.events[0].event_type, b.events[0].path.as_str()),
        (1, "/r/x")
    );
    assert_eq!(
        (b.events[1].event_type, b.events[1].path.as_str()),
        (3, "/r/x")
    );
    // removeWatches of a data watch that does not exist → NoWatcher (-121).
    let rm = Request::RemoveWatches(WatchesRequest {
        path: "/nothing".into(),
        watcher_type: 2,
    });
    assert_eq!(b.call(&rm).expect("remove").header.err, -121);
}

#[test]
fn ephemerals_belong_to_their_session() {
    let s = server("smoke-eph", 2000);
    let mut owner = Client::connect(s.port, 30_000).expect("connect");
    let mut other = Client::connect(s.port, 30_000).expect("connect");
    owner.call(&create("/e1", b"", 1)).expect("create");
    owner.call(&create("/e2", b"", 1)).expect("create");
    let r = owner
        .call(&Request::GetEphemerals(PathRecord { path: "/".into() }))
        .expect("eph");
    let Some(Response::GetEphemerals(e)) = r.body else {
        panic!("no ephemerals")
    };
    assert_eq!(e.names, vec!["/e1".to_string(), "/e2".to_string()]);
    let r = other
        .call(&Request::Exists(PathWatch {
            path: "/e1".into(),
            watch: true,
        }))
        .expect("exists");
    let Some(Response::Stat(st)) = r.body else {
        panic!("no stat")
    };
    assert_eq!(st.stat.ephemeral_owner, owner.session_id);
    // Ephemerals cannot have children.
    assert_eq!(
        other
            .call(&create("/e1/c", b"", 0))
            .expect("create")
            .header
            .err,
        -108
    );
    let r = owner.call(&Request::CloseSession).expect("close");
    assert_eq!(r.header.err, OK);
    assert!(owner.closed_by_server());
    other.wait_events(1).expect("deleted event");
    assert_eq!(
        (other.events[0].event_type, other.events[0].path.as_str()),
        (2, "/e1")
    );
    assert_eq!(
        other.call(&get("/e2", false)).expect("get").header.err,
        -101
    );
}

#[test]
fn session_expires_on_the_server_clock_when_pings_stop() {
    let s = server("smoke-expiry", 100);
    let mut quiet = Client::connect(s.port, 300).expect("connect");
    assert_eq!(quiet.timeout_ms, 300);
    quiet.call(&create("/ephemeral", b"", 1)).expect("create");
    let mut watcher = Client::connect(s.port, 30_000).expect("connect");
    let r = watcher
        .call(&Request::Exists(PathWatch {
            path: "/ephemeral".into(),
            watch: true,
        }))
        .expect("exists");
    assert_eq!(r.header.err, OK);
    // `quiet` sends nothing more: the server expires it, deleting the ephemeral in the
    // CloseSession txn, which fires the watch. The watcher keeps its session alive by
    // waiting on its socket only (30 s timeout, far longer than this takes).
    watcher.wait_events(1).expect("NodeDeleted");
    assert_eq!(
        (
            watcher.events[0].event_type,
            watcher.events[0].path.as_str()
        ),
        (2, "/ephemeral")
    );
    assert!(
        quiet.closed_by_server(),
        "the expired session's connection is closed"
    );
    // Resuming the expired session is refused with timeout 0 / session 0, then close.
    let again = Client::resume(s.port, 300, quiet.session_id, quiet.passwd).expect("resume");
    assert_eq!((again.timeout_ms, again.session_id), (0, 0));
}

#[test]
fn session_resume_and_bad_password() {
    let s = server("smoke-resume", 2000);
    let first = Client::connect(s.port, 10_000).expect("connect");
    let mut resumed =
        Client::resume(s.port, 10_000, first.session_id, first.passwd).expect("resume");
    assert_eq!(resumed.session_id, first.session_id);
    assert_eq!(resumed.call(&get("/", false)).expect("get").header.err, OK);
    let mut wrong = first.passwd;
    wrong[0] ^= 1;
    let mut bad = Client::resume(s.port, 10_000, first.session_id, wrong).expect("resume");
    assert_eq!((bad.timeout_ms, bad.session_id), (0, 0));
    assert!(bad.closed_by_server());
}

#[test]
fn four_letter_words() {
    let s = server("smoke-4lw", 2000);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    c.call(&get("/zookeeper", true)).expect("watch");
    assert_eq!(four_letter(s.port, "ruok").expect("ruok"), "imok");
    assert_eq!(four_letter(s.port, "isro").expect("isro"), "rw");
    let srvr = four_letter(s.port, "srvr").expect("srvr");
    let lines: Vec<&str> = srvr
        .lines()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        vec![
            "Zookeeper version",
            "Latency min/avg/max",
            "Received",
            "Sent",
            "Connections",
            "Outstanding",
            "Zxid",
            "Mode",
            "Node count"
        ]
    );
    assert!(srvr.contains("Mode: standalone\n"));
    let stat = four_letter(s.port, "stat").expect("stat");
    assert!(stat.contains("Clients:\n /127.0.0.1:"), "{stat}");
    assert!(four_letter(s.port, "mntr")
        .expect("mntr")
        .contains("zk_server_state\tstandalone\n"));
    assert!(four_letter(s.port, "conf")
        .expect("conf")
        .contains(&format!("clientPort={}\n", s.port)));
    let cons = four_letter(s.port, "cons").expect("cons");
    assert!(cons.contains(&format!("sid={:#x}", c.session_id)), "{cons}");
    assert!(four_letter(s.port, "envi")
        .expect("envi")
        .starts_with("Environment:\nzookeeper.version=3.8"));
    assert_eq!(
        four_letter(s.port, "wchs").expect("wchs"),
        "1 connections watching 1 paths\nTotal watches:1\n"
    );
    assert_eq!(
        four_letter(s.port, "wchc").expect("wchc"),
        format!("{:#x}\n\t/zookeeper\n\n", c.session_id)
    );
    assert_eq!(
        four_letter(s.port, "wchp").expect("wchp"),
        format!("/zookeeper\n\t{:#x}\n\n", c.session_id)
    );
    assert!(four_letter(s.port, "dump")
        .expect("dump")
        .starts_with("SessionTracker dump:\n"));
}

#[test]
fn four_letter_words_outside_the_whitelist_are_refused() {
    let dir = temp_dir("smoke-4lw-default");
    let s = ServerProcess::start(&dir, 2000, &["4lw.commands.whitelist=ruok, srvr"]);
    assert!(four_letter(s.port, "srvr")
        .expect("srvr")
        .starts_with("Zookeeper version: "));
    assert_eq!(
        four_letter(s.port, "mntr").expect("mntr"),
        "mntr is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn bad_input_costs_only_the_offending_connection() {
    let s = server("smoke-bad", 2000);
    let mut good = Client::connect(s.port, 30_000).expect("connect");
    // Oversized frame: closed without a reply.
    let mut big = Client::connect(s.port, 30_000).expect("connect");
    big.send_raw(&0x0010_0000i32.to_be_bytes()).expect("send");
    assert!(big.closed_by_server());
    // Unknown opcode: {xid, -1, -6} then close.
    let mut unk = Client::connect(s.port, 30_000).expect("connect");
    let mut frame = 8i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&999i32.to_be_bytes());
    unk.send_raw(&frame).expect("send");
    let r = unk
        .wait_reply(7, zabkeeper::wire::client::OpCode::Ping)
        .expect("reply");
    assert_eq!((r.header.zxid, r.header.err), (-1, -6));
    assert!(unk.closed_by_server());
    // Malformed record: MarshallingError, the connection stays usable.
    let mut mal = Client::connect(s.port, 30_000).expect("connect");
    let mut frame = 12i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&3i32.to_be_bytes()); // xid
    frame.extend_from_slice(&4i32.to_be_bytes()); // getData
    frame.extend_from_slice(&1000i32.to_be_bytes()); // path length beyond the frame
    mal.send_raw(&frame).expect("send");
    let r = mal
        .wait_reply(3, zabkeeper::wire::client::OpCode::GetData)
        .expect("reply");
    assert_eq!(r.header.err, -5);
    assert_eq!(mal.call(&get("/", false)).expect("get").header.err, OK);
    // Invalid path: BadArguments (the parent is looked up first, as ZooKeeper: "/no//x" is
    // NoNode, "/." under the existing root is BadArguments).
    assert_eq!(
        mal.call(&create("/no//x", b"", 0))
            .expect("create")
            .header
            .err,
        -101
    );
    assert_eq!(
        mal.call(&create("/.", b"", 0)).expect("create").header.err,
        -8
    );
    assert_eq!(
        mal.call(&create("relative", b"", 0))
            .expect("create")
            .header
            .err,
        -8
    );
    // Unknown auth scheme: AUTHFAILED on xid -4, then close.
    let mut auth = Client::connect(s.port, 30_000).expect("connect");
    let r = auth
        .call(&Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "nope".into(),
            auth: b"x".to_vec(),
        }))
        .expect("auth");
    assert_eq!(r.header.err, -115);
    assert!(auth.closed_by_server());
    // Reconfig when disabled (the default): ReconfigDisabled, and it consumed a zxid.
    let r = good
        .call(&Request::Reconfig(ReconfigRequest {
            joining_servers: None,
            leaving_servers: None,
            new_members: None,
            cur_config_id: -1,
        }))
        .expect("reconfig");
    assert_eq!(r.header.err, -123);
    assert!(r.header.zxid > 0);
    // The well-behaved client never noticed.
    assert_eq!(
        good.call(&create("/fine", b"", 0))
            .expect("create")
            .header
            .err,
        OK
    );
    assert_eq!(four_letter(s.port, "ruok").expect("ruok"), "imok");
}

#[test]
fn graceful_shutdown_exits_zero() {
    let mut s = server("smoke-term", 2000);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    c.call(&create("/before-term", b"x", 0)).expect("create");
    assert!(s.terminate(), "SIGTERM exits 0");
    s.restart();
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    assert_eq!(
        c.call(&get("/before-term", false)).expect("get").header.err,
        OK
    );
}

#[test]
fn max_client_cnxns_limits_connections_per_ip() {
    let dir = temp_dir("smoke-maxcnxns");
    let s = ServerProcess::start(&dir, 2000, &["maxClientCnxns=2"]);
    let mut a = Client::connect(s.port, 30_000).expect("first");
    let _b = Client::connect(s.port, 30_000).expect("second");
    // The third connection from 127.0.0.1 is closed right after accept.
    assert!(Client::connect(s.port, 30_000).is_err());
    assert_eq!(a.call(&get("/", false)).expect("get").header.err, OK);
}

#[test]
fn ttl_and_container_nodes_are_reaped_on_the_server_clock() {
    let dir = temp_dir("smoke-reaper");
    let s = ServerProcess::start(
        &dir,
        100,
        &[
            "extendedTypesEnabled=true",
            "znode.container.checkIntervalMs=50",
            "maxSessionTimeout=30000",
        ],
    );
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    let ttl = Request::CreateTtl(zabkeeper::wire::client::CreateTtlRequest {
        path: "/ttl".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl_ms: 100,
    });
    assert_eq!(c.call(&ttl).expect("createTTL").header.err, OK);
    let container = Request::CreateContainer(CreateRequest {
        path: "/box".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 4,
    });
    assert_eq!(c.call(&container).expect("createContainer").header.err, OK);
    assert_eq!(
        c.call(&create("/box/item", b"", 0))
            .expect("create")
            .header
            .err,
        OK
    );
    for p in ["/ttl", "/box"] {
        let r = c
            .call(&Request::Exists(PathWatch {
                path: p.into(),
                watch: true,
            }))
            .expect("exists");
        assert_eq!(r.header.err, OK);
    }
    assert_eq!(
        c.call(&delete("/box/item", -1)).expect("delete").header.err,
        OK
    );
    // Both go: the TTL node after its TTL, the container once it had a child and is empty.
    c.wait_events(2).expect("events");
    let mut deleted: Vec<(i32, String)> = c
        .events
        .iter()
        .filter(|e| e.event_type == 2)
        .map(|e| (e.event_type, e.path.clone()))
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        vec![(2, "/box".to_string()), (2, "/ttl".to_string())]
    );
}

#[test]
fn garbage_on_many_connections_never_stops_the_server() {
    use std::io::Write;
    let s = server("smoke-garbage", 2000);
    let mut good = Client::connect(s.port, 30_000).expect("connect");
    // Seeded xorshift: the same garbage every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..40 {
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        let len = (next() % 200) as usize + 1;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 1 {
            // A valid handshake first, then garbage as requests.
            let mut c = Client::connect(s.port, 30_000).expect("connect");
            let mut frame = (bytes.len() as i32).to_be_bytes().to_vec();
            frame.append(&mut bytes);
            let _ = c.send_raw(&frame);
            continue;
        }
        let _ = sock.write_all(&bytes);
    }
    assert_eq!(
        good.call(&create("/survivor", b"", 0))
            .expect("create")
            .header
            .err,
        OK
    );
    assert_eq!(four_letter(s.port, "ruok").expect("ruok"), "imok");
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

#[test]
fn pipelined_large_reads_are_paced_not_dropped() {
    // 120 pipelined reads of a 512 KiB node (60 MiB of replies, above the 16 MiB soft limit):
    // the server stops serving reads while the replies wait in its queue, and every reply
    // still arrives, in order, once the client reads.
    let s = server("smoke-pacing", 2000);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    let big = vec![7u8; 512 * 1024];
    assert_eq!(
        c.call(&create("/big", &big, 0)).expect("create").header.err,
        OK
    );
    for xid in 1000..1120 {
        c.send(xid, &get("/big", false)).expect("send");
    }
    for xid in 1000..1120 {
        let r = c
            .wait_reply(xid, zabkeeper::wire::client::OpCode::GetData)
            .expect("reply");
        let Some(Response::GetData(d)) = r.body else {
            panic!("no data for {xid}")
        };
        assert_eq!(d.data.map(|d| d.len()), Some(big.len()));
    }
}

/// The driver runs on a thread of its own in the server (`DriverPlacement::OwnThread`,
/// benches/README.md "Write path: where a write waited"), not as a task of the connections'
/// worker pool: the binary has a thread named `zk-driver` once it serves.
#[cfg(target_os = "linux")]
#[test]
fn the_driver_runs_on_its_own_thread() {
    let s = server("smoke-driver-thread", 2000);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    assert_eq!(
        c.call(&create("/t", b"x", 0)).expect("create").header.err,
        OK
    );
    let pid = s.pid().expect("running");
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == zabkeeper::server::DRIVER_THREAD)
            .count(),
        1,
        "threads: {names:?}"
    );
}
