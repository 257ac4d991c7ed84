//! Loopback tests of the real `zabkeeper` binary on what a connection is owed whatever client
//! drives it: every reply carries the xid of the request it answers (auth and setWatches
//! included, as ZooKeeper's `processPacket` and FinalRequestProcessor; a ping is answered with
//! -2), digest credentials are never refused (DigestAuthenticationProvider), and a connection
//! that never finishes its handshake is closed after `nio.sessionlessCnxnTimeout` and holds a
//! `maxClientCnxns` slot until then.

#![cfg(feature = "server")]

mod server_support;

use std::io::Write;

use server_support::{closed_by_server, connect_from, temp_dir, Client, ServerProcess};
use zabkeeper::wire::client::{
    AuthPacket, CreateRequest, OpCode, PathRecord, PathWatch, Request, Response, SetDataRequest,
    SetWatches, AUTH_XID, PING_XID, SET_WATCHES_XID,
};
use zabkeeper::wire::records::{perms, Acl, Id};

fn digest_auth(credentials: &str) -> Request {
    Request::Auth(AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: credentials.as_bytes().to_vec(),
    })
}

fn acl(scheme: &str, id: &str) -> Acl {
    Acl {
        perms: perms::ALL,
        id: Id {
            scheme: scheme.into(),
            id: id.into(),
        },
    }
}

fn exists_root() -> Request {
    Request::Exists(PathWatch {
        path: "/".into(),
        watch: false,
    })
}

#[test]
fn auth_replies_carry_the_request_xid() {
    let s = ServerProcess::start(&temp_dir("conn-auth-xid"), 2000, &[]);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    // go-zookeeper's AddAuth: an ordinary xid.
    c.send(7, &digest_auth("user:pass")).expect("send");
    let r = c.wait_reply(7, OpCode::Auth).expect("auth reply on xid 7");
    assert_eq!((r.header.zxid, r.header.err), (0, 0));
    // The Java client's and kazoo's xid is answered with itself.
    c.send(AUTH_XID, &digest_auth("user:pass")).expect("send");
    assert_eq!(
        c.wait_reply(AUTH_XID, OpCode::Auth)
            .expect("auth")
            .header
            .err,
        0
    );
    // In step: the next reply is the next request's.
    assert_eq!(c.call(&exists_root()).expect("exists").header.err, 0);
    // AUTHFAILED is answered on the request's xid too, then the connection closes.
    let mut bad = Client::connect(s.port, 30_000).expect("connect");
    bad.send(
        11,
        &Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "nope".into(),
            auth: b"x".to_vec(),
        }),
    )
    .expect("send");
    let r = bad
        .wait_reply(11, OpCode::Auth)
        .expect("AUTHFAILED on xid 11");
    assert_eq!((r.header.zxid, r.header.err), (0, -115));
    assert!(bad.closed_by_server());
}

#[test]
fn digest_credentials_without_a_colon_are_all_user_name() {
    let s = ServerProcess::start(&temp_dir("conn-digest-blah"), 2000, &[]);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    for credentials in ["user:pass", "blah"] {
        let r = c.call(&digest_auth(credentials)).expect("auth");
        assert_eq!(r.header.err, 0, "digest {credentials:?} refused");
    }
    // An `auth` ACL expands to both ids; kazoo on ZooKeeper 3.8 reads
    // digest:blah:W/H9kn37hnlJai5s8Ay+UMHIcUU= (base64 of sha1("blah")) for "blah".
    let r = c
        .call(&Request::Create(CreateRequest {
            path: "/guarded".into(),
            data: None,
            acl: vec![acl("auth", "")],
            flags: 0,
        }))
        .expect("create");
    assert_eq!(r.header.err, 0);
    let r = c
        .call(&Request::GetAcl(PathRecord {
            path: "/guarded".into(),
        }))
        .expect("getACL");
    let Some(Response::GetAcl(got)) = r.body else {
        panic!("no ACL: {r:?}")
    };
    // In ZooKeeper's order: its `authInfo` set (a ConcurrentHashMap on jute `Id.hashCode`)
    // iterates {ip:127.0.0.1, digest:user:…, digest:blah:…} as blah, ip, user (Java 17).
    assert_eq!(
        got.acl,
        vec![
            acl("digest", "blah:W/H9kn37hnlJai5s8Ay+UMHIcUU="),
            acl("digest", "user:smGaoVKd/cQkjm7b88GyorAUz20="),
        ]
    );
}

#[test]
fn set_watches_reply_carries_the_request_xid_and_the_watch_fires() {
    let s = ServerProcess::start(&temp_dir("conn-setwatches-xid"), 2000, &[]);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    let r = c
        .call(&Request::Create(CreateRequest {
            path: "/w".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 0,
        }))
        .expect("create");
    assert_eq!(r.header.err, 0);
    let watches = Request::SetWatches(SetWatches {
        relative_zxid: r.header.zxid,
        data_watches: vec!["/w".into()],
        exist_watches: vec![],
        child_watches: vec![],
    });
    // go-zookeeper re-registers watches after a reconnect on an ordinary xid.
    c.send(9, &watches).expect("send");
    let r = c
        .wait_reply(9, OpCode::SetWatches)
        .expect("setWatches reply on xid 9");
    assert_eq!(r.header.err, 0);
    // The Java client's and kazoo's -8 is answered with itself.
    c.send(SET_WATCHES_XID, &watches).expect("send");
    let r = c
        .wait_reply(SET_WATCHES_XID, OpCode::SetWatches)
        .expect("setWatches -8");
    assert_eq!(r.header.err, 0);
    let set = Request::SetData(SetDataRequest {
        path: "/w".into(),
        data: Some(b"v1".to_vec()),
        version: -1,
    });
    assert_eq!(c.call(&set).expect("setData").header.err, 0);
    c.wait_events(1).expect("NodeDataChanged");
    assert_eq!(
        (c.events[0].event_type, c.events[0].path.as_str()),
        (3, "/w")
    );
}

#[test]
fn a_ping_is_answered_with_the_ping_xid_whatever_its_xid() {
    // ZooKeeper's FinalRequestProcessor answers every ping with PING_XID (3.8.0 and master);
    // tests/clients/test_differential.py checks the same frame against ZooKeeper itself.
    let s = ServerProcess::start(&temp_dir("conn-ping-xid"), 2000, &[]);
    let mut c = Client::connect(s.port, 30_000).expect("connect");
    for xid in [10, PING_XID] {
        c.send(xid, &Request::Ping).expect("send");
        let r = c.wait_reply(PING_XID, OpCode::Ping).expect("ping reply");
        assert_eq!(r.header.err, 0);
    }
    assert_eq!(c.call(&exists_root()).expect("exists").header.err, 0);
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
