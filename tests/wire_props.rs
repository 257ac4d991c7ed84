//! Property and golden-byte tests for `zabkeeper::wire` (spec/wire.md; reference part A).
//!
//! - Round trips: every record, request and response decodes to exactly what was encoded, and
//!   consumes exactly the encoded bytes.
//! - Strictness: every strict prefix of an encoded request body fails to decode (no field is
//!   silently skipped).
//! - Robustness: decoding arbitrary bytes — and truncated or bit-flipped valid frames — never
//!   panics, for the request decoder, the handshake decoders and the response decoder.
//! - Golden bytes: frames spelled out byte by byte from reference A.3, A.4, A.7, A.11.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use zabkeeper::wire::client::*;
use zabkeeper::wire::fourlw::FourLetterWord;
use zabkeeper::wire::jute::{JuteReader, JuteWriter, Record};
use zabkeeper::wire::records::{Acl, Id, Stat};
use zabkeeper::wire::{split_frame, DecodeError, JUTE_MAX_BUFFER_DEFAULT};

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn name() -> impl Strategy<Value = String> {
    // Any Unicode, including multi-byte characters and the empty string.
    ".{0,12}"
}

fn names() -> impl Strategy<Value = Vec<String>> {
    vec(name(), 0..5)
}

fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    option::of(vec(any::<u8>(), 0..48))
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(
            |(
                (czxid, mzxid, ctime, mtime),
                (version, cversion, aversion),
                (ephemeral_owner, data_length, num_children, pzxid),
            )| Stat {
                czxid,
                mzxid,
                ctime,
                mtime,
                version,
                cversion,
                aversion,
                ephemeral_owner,
                data_length,
                num_children,
                pzxid,
            },
        )
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), name(), name()).prop_map(|(perms, scheme, id)| Acl {
        perms,
        id: Id { scheme, id },
    })
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..4)
}

fn create() -> impl Strategy<Value = CreateRequest> {
    (name(), data(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

fn create_ttl() -> impl Strategy<Value = CreateTtlRequest> {
    (name(), data(), acls(), any::<i32>(), any::<i64>()).prop_map(
        |(path, data, acl, flags, ttl_ms)| CreateTtlRequest {
            path,
            data,
            acl,
            flags,
            ttl_ms,
        },
    )
}

fn path_version() -> impl Strategy<Value = PathVersion> {
    (name(), any::<i32>()).prop_map(|(path, version)| PathVersion { path, version })
}

fn path_watch() -> impl Strategy<Value = PathWatch> {
    (name(), any::<bool>()).prop_map(|(path, watch)| PathWatch { path, watch })
}

fn path() -> impl Strategy<Value = PathRecord> {
    name().prop_map(|path| PathRecord { path })
}

fn set_data() -> impl Strategy<Value = SetDataRequest> {
    (name(), data(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

fn set_acl() -> impl Strategy<Value = SetAclRequest> {
    (name(), acls(), any::<i32>()).prop_map(|(path, acl, version)| SetAclRequest {
        path,
        acl,
        version,
    })
}

fn reconfig() -> impl Strategy<Value = ReconfigRequest> {
    (
        option::of(name()),
        option::of(name()),
        option::of(name()),
        any::<i64>(),
    )
        .prop_map(
            |(joining_servers, leaving_servers, new_members, cur_config_id)| ReconfigRequest {
                joining_servers,
                leaving_servers,
                new_members,
                cur_config_id,
            },
        )
}

fn watches_request() -> impl Strategy<Value = WatchesRequest> {
    (name(), any::<i32>()).prop_map(|(path, watcher_type)| WatchesRequest { path, watcher_type })
}

fn add_watch() -> impl Strategy<Value = AddWatchRequest> {
    (name(), any::<i32>()).prop_map(|(path, mode)| AddWatchRequest { path, mode })
}

fn set_watches() -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), names(), names(), names()).prop_map(
        |(relative_zxid, data_watches, exist_watches, child_watches)| SetWatches {
            relative_zxid,
            data_watches,
            exist_watches,
            child_watches,
        },
    )
}

fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (any::<i64>(), names(), names(), names(), names(), names()).prop_map(
        |(relative_zxid, data, exist, child, persistent, recursive)| SetWatches2 {
            relative_zxid,
            data_watches: data,
            exist_watches: exist,
            child_watches: child,
            persistent_watches: persistent,
            persistent_recursive_watches: recursive,
        },
    )
}

fn auth() -> impl Strategy<Value = AuthPacket> {
    (any::<i32>(), name(), vec(any::<u8>(), 0..32)).prop_map(|(auth_type, scheme, auth)| {
        AuthPacket {
            auth_type,
            scheme,
            auth,
        }
    })
}

fn sasl() -> impl Strategy<Value = SaslToken> {
    vec(any::<u8>(), 0..32).prop_map(|token| SaslToken { token })
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create().prop_map(MultiOp::Create),
        create().prop_map(MultiOp::Create2),
        create().prop_map(MultiOp::CreateContainer),
        create_ttl().prop_map(MultiOp::CreateTtl),
        path_version().prop_map(MultiOp::Delete),
        set_data().prop_map(MultiOp::SetData),
        path_version().prop_map(MultiOp::Check),
        path_watch().prop_map(MultiOp::GetChildren),
        path_watch().prop_map(MultiOp::GetData),
    ]
}

fn multi() -> impl Strategy<Value = MultiRequest> {
    vec(multi_op(), 0..5).prop_map(|ops| MultiRequest { ops })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        create().prop_map(Request::Create),
        create().prop_map(Request::Create2),
        create().prop_map(Request::CreateContainer),
        create_ttl().prop_map(Request::CreateTtl),
        path_version().prop_map(Request::Delete),
        path().prop_map(Request::DeleteContainer),
        path_watch().prop_map(Request::Exists),
        path_watch().prop_map(Request::GetData),
        set_data().prop_map(Request::SetData),
        path().prop_map(Request::GetAcl),
        set_acl().prop_map(Request::SetAcl),
        path_watch().prop_map(Request::GetChildren),
        path_watch().prop_map(Request::GetChildren2),
        path().prop_map(Request::GetAllChildrenNumber),
        path().prop_map(Request::GetEphemerals),
        path().prop_map(Request::Sync),
        path_version().prop_map(Request::Check),
        multi().prop_map(Request::Multi),
        multi().prop_map(Request::MultiRead),
        add_watch().prop_map(Request::AddWatch),
        watches_request().prop_map(Request::RemoveWatches),
        watches_request().prop_map(Request::CheckWatches),
        set_watches().prop_map(Request::SetWatches),
        set_watches2().prop_map(Request::SetWatches2),
        auth().prop_map(Request::Auth),
        Just(Request::Ping),
        Just(Request::CloseSession),
        Just(Request::WhoAmI),
        reconfig().prop_map(Request::Reconfig),
        sasl().prop_map(Request::Sasl),
    ]
}

fn op_result() -> impl Strategy<Value = OpResult> {
    prop_oneof![
        name().prop_map(|path| OpResult::Create { path }),
        (name(), stat()).prop_map(|(path, stat)| OpResult::Create2 { path, stat }),
        Just(OpResult::Delete),
        stat().prop_map(|stat| OpResult::SetData { stat }),
        Just(OpResult::Check),
        names().prop_map(|children| OpResult::GetChildren { children }),
        (data(), stat()).prop_map(|(data, stat)| OpResult::GetData { data, stat }),
        any::<i32>().prop_map(|err| OpResult::Error { err }),
    ]
}

fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(op_result(), 0..5).prop_map(|results| MultiResponse { results })
}

fn client_info() -> impl Strategy<Value = ClientInfo> {
    (name(), name()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
}

fn watcher_event() -> impl Strategy<Value = WatcherEvent> {
    (any::<i32>(), any::<i32>(), name()).prop_map(|(event_type, state, path)| WatcherEvent {
        event_type,
        state,
        path,
    })
}

/// A response paired with an opcode whose reply it is.
fn response() -> impl Strategy<Value = (OpCode, Response)> {
    prop_oneof![
        path().prop_map(|r| (OpCode::Create, Response::Create(r))),
        (
            name(),
            stat(),
            prop::sample::select(vec![
                OpCode::Create2,
                OpCode::CreateContainer,
                OpCode::CreateTtl
            ])
        )
            .prop_map(|(path, stat, op)| (op, Response::Create2(Create2Response { path, stat }))),
        (
            stat(),
            prop::sample::select(vec![OpCode::Exists, OpCode::SetData, OpCode::SetAcl])
        )
            .prop_map(|(stat, op)| (op, Response::Stat(StatResponse { stat }))),
        (
            data(),
            stat(),
            prop::sample::select(vec![OpCode::GetData, OpCode::Reconfig])
        )
            .prop_map(|(data, stat, op)| (op, Response::GetData(GetDataResponse { data, stat }))),
        (acls(), stat()).prop_map(|(acl, stat)| (
            OpCode::GetAcl,
            Response::GetAcl(GetAclResponse { acl, stat })
        )),
        names().prop_map(|names| (
            OpCode::GetChildren,
            Response::GetChildren(StringsResponse { names })
        )),
        (names(), stat()).prop_map(|(children, stat)| (
            OpCode::GetChildren2,
            Response::GetChildren2(GetChildren2Response { children, stat })
        )),
        path().prop_map(|r| (OpCode::Sync, Response::Sync(r))),
        any::<i32>().prop_map(|total_number| (
            OpCode::GetAllChildrenNumber,
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total_number })
        )),
        names().prop_map(|names| (
            OpCode::GetEphemerals,
            Response::GetEphemerals(StringsResponse { names })
        )),
        vec(client_info(), 0..4).prop_map(|client_info| (
            OpCode::WhoAmI,
            Response::WhoAmI(WhoAmIResponse { client_info })
        )),
        (
            multi_response(),
            prop::sample::select(vec![OpCode::Multi, OpCode::MultiRead])
        )
            .prop_map(|(resp, op)| (op, Response::Multi(resp))),
        sasl().prop_map(|token| (OpCode::Sasl, Response::Sasl(token))),
        any::<i32>().prop_map(|err| (OpCode::AddWatch, Response::AddWatch(ErrorResponse { err }))),
        watcher_event().prop_map(|event| (OpCode::Notification, Response::Notification(event))),
        prop::sample::select(vec![
            OpCode::Delete,
            OpCode::Check,
            OpCode::CheckWatches,
            OpCode::RemoveWatches,
            OpCode::Ping,
            OpCode::SetWatches,
            OpCode::SetWatches2,
            OpCode::Auth,
            OpCode::CloseSession,
            OpCode::DeleteContainer,
        ])
        .prop_map(|op| (op, Response::Empty)),
    ]
}

fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        vec(any::<u8>(), 0..24),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, timeout_ms, session_id, passwd, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    timeout_ms,
                    session_id,
                    passwd,
                    read_only,
                }
            },
        )
}

fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        any::<[u8; 16]>(),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, timeout_ms, session_id, passwd, read_only)| ConnectResponse {
                protocol_version,
                timeout_ms,
                session_id,
                passwd,
                read_only,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Encodes, decodes, and checks identity and that decoding consumed exactly the encoding.
fn assert_round_trip<R: Record + PartialEq + std::fmt::Debug>(value: &R) {
    let bytes = value.to_bytes();
    let mut r = JuteReader::new(&bytes);
    let back = R::decode(&mut r).expect("encoding decodes");
    assert_eq!(&back, value);
    assert_eq!(r.remaining(), 0, "decode left bytes of {value:?}");
}

fn request_body(req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    req.encode(&mut JuteWriter::new(&mut out));
    out
}

fn response_body(resp: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    resp.encode(&mut JuteWriter::new(&mut out));
    out
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(text, 16).expect("hex digit pair")
        })
        .collect()
}

/// Every decoder the server or the bench client may run on untrusted bytes. Must not panic.
fn decode_everything(bytes: &[u8]) {
    let _ = decode_request(bytes);
    let _ = ConnectRequest::from_bytes(bytes);
    let _ = ConnectResponse::from_bytes(bytes);
    let _ = ReplyHeader::from_bytes(bytes);
    let _ = split_frame(bytes, JUTE_MAX_BUFFER_DEFAULT);
    let _ = FourLetterWord::from_prefix(bytes);
    for op in OpCode::ALL {
        let _ = Request::decode(op.as_i32(), bytes);
        let _ = Response::decode(op, bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn shared_records_round_trip(s in stat(), a in acl()) {
        assert_round_trip(&s);
        assert_round_trip(&a);
        assert_round_trip(&a.id);
        prop_assert_eq!(s.to_bytes().len(), 68);
    }

    #[test]
    fn handshake_round_trips(req in connect_request(), resp in connect_response()) {
        assert_round_trip(&req);
        assert_round_trip(&resp);
        let expected_len = 36 + usize::from(resp.read_only.is_some());
        prop_assert_eq!(resp.to_bytes().len(), expected_len);
    }

    #[test]
    fn headers_round_trip(xid in any::<i32>(), opcode in any::<i32>(), zxid in any::<i64>(),
                          err in any::<i32>(), done in any::<bool>()) {
        assert_round_trip(&RequestHeader { xid, opcode });
        assert_round_trip(&ReplyHeader { xid, zxid, err });
        assert_round_trip(&MultiHeader { op_type: opcode, done, err });
    }

    #[test]
    fn request_records_round_trip(
        c in create(), t in create_ttl(), pv in path_version(), pw in path_watch(), p in path(),
        sd in set_data(), sa in set_acl(), rc in reconfig(), wr in watches_request(),
        aw in add_watch(), sw in set_watches(), sw2 in set_watches2(), au in auth(), sl in sasl(),
        m in multi(),
    ) {
        assert_round_trip(&c);
        assert_round_trip(&t);
        assert_round_trip(&pv);
        assert_round_trip(&pw);
        assert_round_trip(&p);
        assert_round_trip(&sd);
        assert_round_trip(&sa);
        assert_round_trip(&rc);
        assert_round_trip(&wr);
        assert_round_trip(&aw);
        assert_round_trip(&sw);
        assert_round_trip(&sw2);
        assert_round_trip(&au);
        assert_round_trip(&sl);
        assert_round_trip(&m);
    }

    #[test]
    fn response_records_round_trip(
        path in name(), s in stat(), d in data(), a in acls(), n in names(), total in any::<i32>(),
        infos in vec(client_info(), 0..4), ev in watcher_event(), err in any::<i32>(),
        mr in multi_response(),
    ) {
        assert_round_trip(&Create2Response { path, stat: s });
        assert_round_trip(&StatResponse { stat: s });
        assert_round_trip(&GetDataResponse { data: d, stat: s });
        assert_round_trip(&GetAclResponse { acl: a, stat: s });
        assert_round_trip(&StringsResponse { names: n.clone() });
        assert_round_trip(&GetChildren2Response { children: n, stat: s });
        assert_round_trip(&GetAllChildrenNumberResponse { total_number: total });
        assert_round_trip(&WhoAmIResponse { client_info: infos });
        assert_round_trip(&ev);
        assert_round_trip(&ErrorResponse { err });
        assert_round_trip(&mr);
    }

    #[test]
    fn requests_round_trip_through_frames(req in request(), xid in any::<i32>()) {
        let body = request_body(&req);
        prop_assert_eq!(Request::decode(req.opcode().as_i32(), &body), Ok(req.clone()));

        let mut frame = Vec::new();
        write_request(&mut frame, xid, &req);
        let payload = split_frame(&frame, usize::MAX).expect("legal length").expect("complete");
        prop_assert_eq!(payload.len() + 4, frame.len());
        let (header, back) = decode_request(payload).expect("frame decodes");
        prop_assert_eq!(header, RequestHeader { xid, opcode: req.opcode().as_i32() });
        prop_assert_eq!(back, req);
    }

    #[test]
    fn every_strict_prefix_of_a_request_body_is_rejected(req in request()) {
        let has_fixed_end = !matches!(
            req,
            Request::Ping | Request::CloseSession | Request::WhoAmI | Request::DeleteContainer(_)
        );
        prop_assume!(has_fixed_end);
        let body = request_body(&req);
        for cut in 0..body.len() {
            let got = Request::decode(req.opcode().as_i32(), &body[..cut]);
            prop_assert!(got.is_err(), "prefix {} of {:?} decoded as {:?}", cut, req, got);
        }
    }

    #[test]
    fn responses_round_trip_through_frames((op, resp) in response(), xid in any::<i32>(),
                                           zxid in any::<i64>()) {
        let body = response_body(&resp);
        prop_assert_eq!(Response::decode(op, &body), Ok(resp.clone()));

        let mut frame = Vec::new();
        write_reply(&mut frame, &ReplyHeader { xid, zxid, err: 0 }, Some(&resp));
        let payload = split_frame(&frame, usize::MAX).expect("legal length").expect("complete");
        let mut r = JuteReader::new(payload);
        prop_assert_eq!(ReplyHeader::decode(&mut r), Ok(ReplyHeader { xid, zxid, err: 0 }));
        prop_assert_eq!(Response::decode(op, r.rest()), Ok(resp));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
    }

    #[test]
    fn decoding_arbitrary_request_bodies_never_panics(opcode in prop::sample::select(
        OpCode::ALL.iter().map(|op| op.as_i32()).collect::<Vec<_>>()
    ), body in vec(any::<u8>(), 0..256)) {
        let _ = Request::decode(opcode, &body);
    }

    #[test]
    fn decoding_damaged_frames_never_panics(req in request(), xid in any::<i32>(),
                                            cut in any::<prop::sample::Index>(),
                                            flip in any::<prop::sample::Index>(),
                                            bit in 0u8..8) {
        let mut frame = Vec::new();
        write_request(&mut frame, xid, &req);
        let payload = &frame[4..];
        decode_everything(&payload[..cut.index(payload.len() + 1)]);
        if !payload.is_empty() {
            let mut damaged = payload.to_vec();
            let at = flip.index(damaged.len());
            damaged[at] ^= 1 << bit;
            decode_everything(&damaged);
            // Whatever still decodes re-encodes to a frame that decodes to the same request
            // (the fuzz target's check).
            if let Ok((header, decoded)) = decode_request(&damaged) {
                let mut again = Vec::new();
                write_request(&mut again, header.xid, &decoded);
                prop_assert_eq!(decode_request(&again[4..]), Ok((header, decoded)));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Golden bytes (reference A.3, A.4, A.7, A.11)
// ---------------------------------------------------------------------------------------------

#[test]
fn golden_connect_request_45_bytes() {
    // A new session from a current client: version 0, lastZxidSeen 0, timeOut 10000, session 0,
    // 16 zero password bytes, readOnly false (A.3).
    let frame = hex(
        "0000002d 00000000 0000000000000000 00002710 0000000000000000
         00000010 00000000000000000000000000000000 00",
    );
    assert_eq!(frame.len(), 4 + 45);
    let payload = split_frame(&frame, JUTE_MAX_BUFFER_DEFAULT)
        .unwrap()
        .unwrap();
    let req = ConnectRequest::from_bytes(payload).unwrap();
    assert_eq!(
        req,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    );
    let mut out = Vec::new();
    write_connect_request(&mut out, &req);
    assert_eq!(out, frame);

    // The 44-byte form of a client that predates readOnly.
    let old = ConnectRequest::from_bytes(&payload[..44]).unwrap();
    assert_eq!(old.read_only, None);
    assert_eq!(old.reply_read_only(false), None);
    assert_eq!(old.to_bytes(), &payload[..44]);
}

#[test]
fn golden_connect_response_37_bytes() {
    // Session 0x010000C043670000 (A.15 live example), negotiated 4000 ms, readOnly false.
    let frame = hex("00000025 00000000 00000fa0 010000c043670000
         00000010 0102030405060708090a0b0c0d0e0f10 00");
    assert_eq!(frame.len(), 4 + 37);
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 4000,
        session_id: 0x0100_00C0_4367_0000,
        passwd: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        read_only: Some(false),
    };
    let mut out = Vec::new();
    write_connect_response(&mut out, &resp);
    assert_eq!(out, frame);
    assert_eq!(ConnectResponse::from_bytes(&frame[4..]), Ok(resp.clone()));

    // To an old client: 36 bytes, no readOnly byte.
    let old = ConnectResponse {
        read_only: None,
        ..resp
    };
    assert_eq!(old.to_bytes(), &frame[4..40]);
    assert_eq!(ConnectResponse::from_bytes(&frame[4..40]), Ok(old));
}

#[test]
fn golden_stat_68_bytes() {
    let stat = Stat {
        czxid: 0x1_0000_0002,
        mzxid: 0x1_0000_0003,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 1,
        cversion: 6,
        aversion: -1,
        ephemeral_owner: 0x0100_00C0_4367_0000,
        data_length: 5,
        num_children: 2,
        pzxid: 0x1_0000_0004,
    };
    let expected = hex(
        "0000000100000002 0000000100000003 0000018bcfe56800 0000018bcfe56801
         00000001 00000006 ffffffff 010000c043670000 00000005 00000002 0000000100000004",
    );
    assert_eq!(expected.len(), 68);
    assert_eq!(stat.to_bytes(), expected);
    assert_eq!(Stat::from_bytes(&expected), Ok(stat));
}

#[test]
fn golden_get_data_request_and_null_data_reply() {
    // getData("/a", watch=true), xid 1.
    let frame = hex("0000000f 00000001 00000004 00000002 2f61 01");
    let (header, req) = decode_request(&frame[4..]).unwrap();
    assert_eq!(header, RequestHeader { xid: 1, opcode: 4 });
    assert_eq!(
        req,
        Request::GetData(PathWatch {
            path: "/a".into(),
            watch: true
        })
    );

    // A node created with null data comes back with data length -1 (A.2 live).
    let reply = Response::GetData(GetDataResponse {
        data: None,
        stat: Stat::default(),
    });
    let mut out = Vec::new();
    write_reply(
        &mut out,
        &ReplyHeader {
            xid: 1,
            zxid: 0x10,
            err: 0,
        },
        Some(&reply),
    );
    assert_eq!(out.len(), 4 + 16 + 4 + 68);
    assert_eq!(
        &out[4..24],
        &hex("00000001 0000000000000010 00000000 ffffffff")[..]
    );
}

#[test]
fn golden_ping_reply_is_header_only() {
    let ping = hex("00000008 fffffffe 0000000b");
    assert_eq!(
        decode_request(&ping[4..]),
        Ok((
            RequestHeader {
                xid: -2,
                opcode: 11
            },
            Request::Ping
        ))
    );
    let mut out = Vec::new();
    write_reply(
        &mut out,
        &ReplyHeader {
            xid: PING_XID,
            zxid: 0x2a,
            err: 0,
        },
        None,
    );
    assert_eq!(out, hex("00000010 fffffffe 000000000000002a 00000000"));
}

#[test]
fn golden_failed_multi_response() {
    // [RolledBack, BadVersion, RuntimeInconsistency] (A.11 live), outer err 0.
    let body = hex("ffffffff 00 00000000 00000000
         ffffffff 00 ffffff99 ffffff99
         ffffffff 00 fffffffe fffffffe
         ffffffff 01 ffffffff");
    let resp = MultiResponse {
        results: vec![
            OpResult::Error { err: 0 },
            OpResult::Error { err: -103 },
            OpResult::Error { err: -2 },
        ],
    };
    assert_eq!(resp.to_bytes(), body);
    assert_eq!(
        Response::decode(OpCode::Multi, &body),
        Ok(Response::Multi(resp))
    );
}

#[test]
fn golden_multi_request_create_then_check() {
    let req = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(CreateRequest {
                path: "/m".into(),
                data: Some(b"x".to_vec()),
                acl: Acl::open_unsafe(),
                flags: 0,
            }),
            MultiOp::Check(PathVersion {
                path: "/m".into(),
                version: 0,
            }),
        ],
    });
    let body = hex("00000001 00 ffffffff  00000002 2f6d  00000001 78
         00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65  00000000
         0000000d 00 ffffffff  00000002 2f6d 00000000
         ffffffff 01 ffffffff");
    assert_eq!(request_body(&req), body);
    assert_eq!(Request::decode(14, &body), Ok(req));
}

#[test]
fn huge_counts_and_lengths_are_rejected_without_allocating() {
    // getChildren2 reply claiming 2^31-1 children in an 8-byte body.
    let body = hex("7fffffff 00000000");
    assert!(matches!(
        Response::decode(OpCode::GetChildren2, &body),
        Err(DecodeError::Truncated { .. })
    ));
    // create with a path length of 2^31-1.
    let body = hex("7fffffff 2f");
    assert!(matches!(
        Request::decode(1, &body),
        Err(DecodeError::Truncated { .. })
    ));
    // SetWatches with a -2 count.
    let body = hex("0000000000000000 fffffffe");
    assert_eq!(
        Request::decode(101, &body),
        Err(DecodeError::InvalidLength(-2))
    );
}

#[test]
fn null_path_is_a_decode_error() {
    let body = hex("ffffffff 00");
    assert_eq!(
        Request::decode(3, &body),
        Err(DecodeError::UnexpectedNull("path"))
    );
}

#[test]
fn four_letter_words_precede_frame_length_checks() {
    // `ruok` read as a length is 0x72756f6b > jute.maxbuffer: the word must be checked first.
    assert_eq!(
        FourLetterWord::from_prefix(b"ruok"),
        Some(FourLetterWord::Ruok)
    );
    assert!(split_frame(b"ruok", JUTE_MAX_BUFFER_DEFAULT).is_err());
}
