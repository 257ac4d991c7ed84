//! Crash recovery of the real binary: every acknowledged write survives `kill -9` with an
//! identical Stat, through snapshots taken in the background (small snapCount) and log replay;
//! sessions survive a restart with their timeouts and their ephemerals.

#![cfg(feature = "server")]

mod server_support;

use std::collections::BTreeMap;

use server_support::{temp_dir, Client, ServerProcess};
use zabkeeper::wire::client::{
    CreateRequest, MultiOp, MultiRequest, PathWatch, Request, Response, SetDataRequest,
};
use zabkeeper::wire::records::{Acl, Stat};

fn create2(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create2(CreateRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        flags,
    })
}

fn stat_of(c: &mut Client, path: &str) -> Option<(Option<Vec<u8>>, Stat)> {
    let r = c
        .call(&Request::GetData(PathWatch {
            path: path.into(),
            watch: false,
        }))
        .expect("get");
    match r.body {
        Some(Response::GetData(d)) => Some((d.data, d.stat)),
        _ => None,
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_with_identical_stat() {
    let dir = temp_dir("crash-writes");
    // snapCount 50: several background snapshots and log rolls happen during the run.
    let mut s = ServerProcess::start(&dir, 2000, &["snapCount=50"]);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    let mut acked: BTreeMap<String, (Vec<u8>, Stat)> = BTreeMap::new();
    assert_eq!(
        c.call(&create2("/crash", b"root", 0))
            .expect("create")
            .header
            .err,
        0
    );
    for i in 0..300 {
        let path = format!("/crash/n{i:04}");
        let data = format!("value-{i}").into_bytes();
        let r = c.call(&create2(&path, &data, 0)).expect("create");
        assert_eq!(r.header.err, 0);
        let Some(Response::Create2(cr)) = r.body else {
            panic!("no create2 body")
        };
        acked.insert(path, (data, cr.stat));
    }
    // Updates and a multi, so replay covers setData and multi txns too.
    for i in (0..300).step_by(7) {
        let path = format!("/crash/n{i:04}");
        let data = format!("updated-{i}").into_bytes();
        let r = c
            .call(&Request::SetData(SetDataRequest {
                path: path.clone(),
                data: Some(data.clone()),
                version: 0,
            }))
            .expect("set");
        let Some(Response::Stat(st)) = r.body else {
            panic!("no stat")
        };
        acked.insert(path, (data, st.stat));
    }
    let r = c
        .call(&Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(CreateRequest {
                    path: "/crash/multi".into(),
                    data: Some(b"m".to_vec()),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                }),
                MultiOp::Delete(zabkeeper::wire::client::PathVersion {
                    path: "/crash/n0001".into(),
                    version: -1,
                }),
            ],
        }))
        .expect("multi");
    assert_eq!(r.header.err, 0);
    acked.remove("/crash/n0001");
    let multi_stat = stat_of(&mut c, "/crash/multi").expect("multi node");
    acked.insert("/crash/multi".into(), (b"m".to_vec(), multi_stat.1));
    let parent_before = stat_of(&mut c, "/crash").expect("parent").1;

    s.kill9();
    s.restart();

    let mut c = Client::connect(s.port, 30_000).expect("reconnect");
    for (path, (data, stat)) in &acked {
        let (got_data, got_stat) = stat_of(&mut c, path).unwrap_or_else(|| panic!("{path} lost"));
        assert_eq!(got_data.as_deref(), Some(&data[..]), "{path} data");
        assert_eq!(&got_stat, stat, "{path} stat");
    }
    assert!(
        stat_of(&mut c, "/crash/n0001").is_none(),
        "deleted node came back"
    );
    assert_eq!(stat_of(&mut c, "/crash").expect("parent").1, parent_before);
    let snapshots = std::fs::read_dir(dir.join("data/version-2"))
        .expect("version-2")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot."))
        .count();
    assert!(
        snapshots >= 2,
        "background snapshots were taken ({snapshots})"
    );
}

#[test]
fn sessions_and_their_ephemerals_survive_a_restart() {
    let dir = temp_dir("crash-sessions");
    let mut s = ServerProcess::start(&dir, 2000, &[]);
    let mut c = Client::connect(s.port, 20_000).expect("connect");
    assert_eq!(
        c.call(&create2("/mine", b"", 1))
            .expect("create")
            .header
            .err,
        0
    );
    let (session_id, passwd) = (c.session_id, c.passwd);
    s.kill9();
    s.restart();
    let mut again = Client::resume(s.port, 20_000, session_id, passwd).expect("resume");
    assert_eq!(
        again.session_id, session_id,
        "the recovered session is still valid"
    );
    assert_eq!(again.timeout_ms, 20_000);
    let (_, stat) = stat_of(&mut again, "/mine").expect("ephemeral survived");
    assert_eq!(stat.ephemeral_owner, session_id);
}
