//! Loopback tests of the real `zabkeeper` binary on what a connection is owed whatever client
//! drives it: a connection that never finishes its handshake is closed after
//! `nio.sessionlessCnxnTimeout` and holds a `maxClientCnxns` slot until then.

#![cfg(feature = "server")]

mod server_support;

use std::io::Write;

use server_support::{closed_by_server, connect_from, temp_dir, Client, ServerProcess};
use zabkeeper::wire::client::{PathWatch, Request};

fn exists_root() -> Request {
    Request::Exists(PathWatch {
        path: "/".into(),
        watch: false,
    })
}

#[test]
fn unfinished_handshakes_are_closed_after_the_sessionless_timeout() {
    let s = ServerProcess::start(
        &temp_dir("conn-sessionless"),
        2000,
        &["nio.sessionlessCnxnTimeout=300"],
    );
    let mut established = Client::connect(s.port, 30_000).expect("connect");
    let mut silent = connect_from("127.0.0.1", s.port).expect("silent");
    let mut partial = connect_from("127.0.0.1", s.port).expect("partial");
    // A 45-byte ConnectRequest announced, 10 bytes of it sent.
    let mut bytes = 45i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 10]);
    partial.write_all(&bytes).expect("send");
    // A four-letter word whose 8-byte argument never comes.
    let mut stmk = connect_from("127.0.0.1", s.port).expect("stmk");
    stmk.write_all(b"stmk").expect("send");
    // Each read ends at EOF once the server closes; the socket timeout (30 s) bounds the wait.
    assert!(closed_by_server(&mut silent), "silent connection left open");
    assert!(
        closed_by_server(&mut partial),
        "half-sent ConnectRequest left open"
    );
    assert!(
        closed_by_server(&mut stmk),
        "half-sent four-letter word left open"
    );
    // A connection with a session is not subject to it: older than the bound, still served.
    let r = established
        .call(&exists_root())
        .expect("exists on the established connection");
    assert_eq!(r.header.err, 0);
}

#[test]
fn connections_without_a_session_count_against_max_client_cnxns() {
    let s = ServerProcess::start(&temp_dir("conn-idle-limit"), 2000, &["maxClientCnxns=3"]);
    // 127.0.0.2: an address no other connection of this test (readiness probes included) uses.
    let idle: Vec<_> = (0..3)
        .map(|_| connect_from("127.0.0.2", s.port).expect("idle connection"))
        .collect();
    let mut over = connect_from("127.0.0.2", s.port).expect("connect");
    assert!(
        closed_by_server(&mut over),
        "fourth connection from one IP accepted"
    );
    // The three idle ones were kept: each can still finish its handshake and get a session.
    for sock in idle {
        let c = Client::handshake(sock, 30_000, 0, [0; 16]).expect("handshake on an idle one");
        assert_ne!(c.session_id, 0);
    }
    // Another IP has its own count.
    Client::connect(s.port, 30_000).expect("connect from 127.0.0.1");
}
