//! The standalone server's zxids come from the protocol core (`server/driver.rs`): a fresh data
//! directory is a one-voter ensemble that elects itself into epoch 1, so its first txn
//! (createSession) is 0x1_0000_0001 — not 0x1, as a runtime counter of its own would give — and
//! every restart is a new election into the next epoch, recorded in the `acceptedEpoch` and
//! `currentEpoch` files the core asked to persist. `srvr` reports the same zxid as the replies.

#![cfg(feature = "server")]

mod server_support;

use server_support::{four_letter, temp_dir, Client, ServerProcess};
use zabkeeper::wire::client::{CreateRequest, Request};
use zabkeeper::wire::records::Acl;

fn create(path: &str) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(b"x".to_vec()),
        acl: Acl::open_unsafe(),
        flags: 0,
    })
}

fn srvr_zxid(port: u16) -> i64 {
    let out = four_letter(port, "srvr").expect("srvr");
    assert!(out.contains("Mode: standalone"), "{out}");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .expect("Zxid line");
    i64::from_str_radix(line.trim(), 16).expect("hex zxid")
}

fn epoch_file(s: &ServerProcess, name: &str) -> String {
    std::fs::read_to_string(s.data_dir.join("data").join("version-2").join(name))
        .expect("epoch file")
}

const EPOCH: i64 = 1 << 32;

#[test]
fn zxids_are_the_cores_epoch_and_counter_across_restarts() {
    let mut s = ServerProcess::start(&temp_dir("zxid-core"), 2000, &[]);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    // createSession was txn 1 of epoch 1; the creates follow it.
    let a = c.call(&create("/a")).expect("create /a");
    assert_eq!(a.header.err, 0);
    assert_eq!(a.header.zxid, EPOCH | 2);
    let b = c.call(&create("/b")).expect("create /b");
    assert_eq!(b.header.zxid, EPOCH | 3);
    assert_eq!(srvr_zxid(s.port), EPOCH | 3);
    assert_eq!(epoch_file(&s, "acceptedEpoch"), "1");
    assert_eq!(epoch_file(&s, "currentEpoch"), "1");
    drop(c);

    // A restart (kill -9) is a new election: epoch 2, counter from 1 again.
    s.restart();
    assert_eq!(srvr_zxid(s.port), EPOCH | 3, "recovered zxid");
    let mut c = Client::connect(s.port, 30_000).expect("connect again");
    let d = c.call(&create("/d")).expect("create /d");
    assert_eq!(d.header.err, 0);
    assert_eq!(d.header.zxid, (2 * EPOCH) | 2);
    assert_eq!(srvr_zxid(s.port), (2 * EPOCH) | 2);
    assert_eq!(epoch_file(&s, "acceptedEpoch"), "2");
    assert_eq!(epoch_file(&s, "currentEpoch"), "2");
}
