//! Property tests for `zabkeeper::wire::peer`, the codec of `PeerMsg` on the election and quorum
//! links.
//!
//! - Round trips: every variant of `PeerMsg` and every HELLO decodes to exactly what was encoded
//!   and consumes exactly the encoded bytes, also when a stream of frames arrives in arbitrary
//!   chunks.
//! - Strictness: every strict prefix of a payload fails to decode; every frame that decodes from
//!   arbitrary bytes re-encodes to exactly those bytes (the encoding is canonical).
//! - Robustness: decoding arbitrary bytes, and bit-flipped valid frames, never panics, and a frame
//!   is never taken whose declared length exceeds the limit.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use zabkeeper::protocol::{Epoch, PeerMsg, PeerState, Proposal, ServerId, SyncKind, Vote, Zxid};
use zabkeeper::wire::peer::{
    decode_frame, decode_payload, encode_hello, encode_msg, Frame, Hello, LearnerType,
    PeerDecodeError, ELECTION_FRAME_MAX, QUORUM_FRAME_MAX,
};
use zabkeeper::wire::DecodeError;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn zxid() -> impl Strategy<Value = Zxid> {
    any::<u64>().prop_map(Zxid)
}

fn epoch() -> impl Strategy<Value = Epoch> {
    any::<u32>().prop_map(Epoch)
}

fn data() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (zxid(), data()).prop_map(|(zxid, data)| Proposal { zxid, data })
}

fn state() -> impl Strategy<Value = PeerState> {
    prop_oneof![
        Just(PeerState::Looking),
        Just(PeerState::Following),
        Just(PeerState::Leading),
        Just(PeerState::Observing),
    ]
}

fn sync_kind() -> impl Strategy<Value = SyncKind> {
    prop_oneof![
        Just(SyncKind::Diff),
        zxid().prop_map(|to| SyncKind::Trunc { to }),
        (zxid(), data()).prop_map(|(base, snapshot)| SyncKind::Snap { base, snapshot }),
    ]
}

/// Every variant of `PeerMsg`, with every field drawn from its whole domain.
fn peer_msg() -> impl Strategy<Value = PeerMsg> {
    prop_oneof![
        (state(), epoch(), zxid(), any::<u64>(), any::<u64>()).prop_map(
            |(state, epoch, zxid, sid, round)| PeerMsg::Notification {
                state,
                vote: Vote {
                    epoch,
                    zxid,
                    sid: ServerId(sid)
                },
                round,
            }
        ),
        (epoch(), any::<bool>()).prop_map(|(accepted_epoch, observer)| PeerMsg::FollowerInfo {
            accepted_epoch,
            observer
        }),
        epoch().prop_map(|epoch| PeerMsg::LeaderInfo { epoch }),
        (proptest::option::of(epoch()), zxid()).prop_map(|(current_epoch, last_zxid)| {
            PeerMsg::AckEpoch {
                current_epoch,
                last_zxid,
            }
        }),
        (sync_kind(), vec(proposal(), 0..6), zxid()).prop_map(|(kind, proposals, committed)| {
            PeerMsg::Sync {
                kind,
                proposals,
                committed,
            }
        }),
        epoch().prop_map(|epoch| PeerMsg::NewLeader { epoch }),
        Just(PeerMsg::UpToDate),
        proposal().prop_map(PeerMsg::Propose),
        zxid().prop_map(|zxid| PeerMsg::Ack { zxid }),
        zxid().prop_map(|zxid| PeerMsg::Commit { zxid }),
        proposal().prop_map(PeerMsg::Inform),
        any::<u64>().prop_map(|round| PeerMsg::Ping { round }),
        data().prop_map(|payload| PeerMsg::Request { payload }),
        any::<u64>().prop_map(|id| PeerMsg::SyncRequest { id }),
        (any::<u64>(), zxid()).prop_map(|(id, zxid)| PeerMsg::SyncReply { id, zxid }),
        (any::<i64>(), any::<i32>()).prop_map(|(session, timeout_ms)| PeerMsg::Revalidate {
            session,
            timeout_ms
        }),
        (any::<i64>(), any::<bool>())
            .prop_map(|(session, valid)| PeerMsg::RevalidateReply { session, valid }),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    prop_oneof![
        any::<u64>().prop_map(|sid| Hello::Election { sid: ServerId(sid) }),
        (any::<u64>(), any::<bool>()).prop_map(|(sid, observer)| Hello::Quorum {
            sid: ServerId(sid),
            learner: if observer {
                LearnerType::Observer
            } else {
                LearnerType::Participant
            },
        }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![1 => hello().prop_map(Frame::Hello), 6 => peer_msg().prop_map(Frame::Msg)]
}

fn encode(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Hello(h) => encode_hello(out, h),
        Frame::Msg(m) => encode_msg(out, m, QUORUM_FRAME_MAX).expect("small frame"),
    }
}

fn encoded(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(frame, &mut out);
    out.to_vec()
}

/// Decodes every whole frame at the front of `bytes`; the frames and the bytes each consumed.
fn decode_all(bytes: &[u8], max: usize) -> (Vec<(Frame, Vec<u8>)>, Option<PeerDecodeError>) {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        let before = buf.clone();
        match decode_frame(&mut buf, max) {
            Ok(Some(f)) => {
                let used = before.len() - buf.len();
                out.push((f, before[..used].to_vec()));
            }
            Ok(None) => {
                assert_eq!(buf.len(), before.len(), "Ok(None) consumes nothing");
                return (out, None);
            }
            Err(e) => return (out, Some(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_frame_round_trips(f in frame()) {
        let bytes = encoded(&f);
        let mut buf = BytesMut::from(&bytes[..]);
        let got = decode_frame(&mut buf, QUORUM_FRAME_MAX).expect("decodes");
        prop_assert_eq!(got, Some(f));
        prop_assert!(buf.is_empty(), "consumed exactly the frame");
    }

    #[test]
    fn a_stream_of_frames_decodes_in_order_whatever_the_chunking(
        frames in vec(frame(), 0..12),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = BytesMut::new();
        for f in &frames {
            encode(f, &mut stream);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut fed = 0;
        for cut in cuts {
            buf.extend_from_slice(&stream[fed..cut]);
            fed = cut;
            while let Some(f) = decode_frame(&mut buf, QUORUM_FRAME_MAX).expect("valid stream") {
                got.push(f);
            }
        }
        prop_assert_eq!(got, frames);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn every_strict_prefix_of_a_payload_fails(f in frame()) {
        let bytes = encoded(&f);
        let payload = &bytes[4..];
        for cut in 0..payload.len() {
            let got = decode_payload(&Bytes::copy_from_slice(&payload[..cut]));
            prop_assert!(got.is_err(), "prefix of {} bytes decoded: {:?}", cut, got);
        }
    }
}

#[test]
fn one_of_each_variant_round_trips() {
    let p = Proposal {
        zxid: Zxid(0x2_0000_0001),
        data: Bytes::from_static(b"txn"),
    };
    let msgs = [
        PeerMsg::Notification {
            state: PeerState::Looking,
            vote: Vote {
                epoch: Epoch(1),
                zxid: Zxid(2),
                sid: ServerId(3),
            },
            round: 4,
        },
        PeerMsg::FollowerInfo {
            accepted_epoch: Epoch(1),
            observer: false,
        },
        PeerMsg::FollowerInfo {
            accepted_epoch: Epoch(1),
            observer: true,
        },
        PeerMsg::LeaderInfo { epoch: Epoch(2) },
        PeerMsg::AckEpoch {
            current_epoch: None,
            last_zxid: Zxid(7),
        },
        PeerMsg::AckEpoch {
            current_epoch: Some(Epoch(0)),
            last_zxid: Zxid(7),
        },
        PeerMsg::Sync {
            kind: SyncKind::Diff,
            proposals: vec![p.clone(), p.clone()],
            committed: Zxid(1),
        },
        PeerMsg::Sync {
            kind: SyncKind::Trunc { to: Zxid(5) },
            proposals: vec![],
            committed: Zxid(1),
        },
        PeerMsg::Sync {
            kind: SyncKind::Snap {
                base: Zxid(3),
                snapshot: Bytes::from_static(b"tree"),
            },
            proposals: vec![p.clone()],
            committed: Zxid(1),
        },
        PeerMsg::NewLeader { epoch: Epoch(2) },
        PeerMsg::UpToDate,
        PeerMsg::Propose(p.clone()),
        PeerMsg::Ack { zxid: Zxid(9) },
        PeerMsg::Commit { zxid: Zxid(9) },
        PeerMsg::Inform(p),
        PeerMsg::Ping { round: u64::MAX },
        PeerMsg::Request {
            payload: Bytes::from_static(b"req"),
        },
        PeerMsg::SyncRequest { id: 7 },
        PeerMsg::SyncReply {
            id: 7,
            zxid: Zxid(9),
        },
        PeerMsg::Revalidate {
            session: -2,
            timeout_ms: 30_000,
        },
        PeerMsg::RevalidateReply {
            session: 0x1234,
            valid: false,
        },
    ];
    let mut names: Vec<&str> = msgs.iter().map(PeerMsg::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 20, "every ZooKeeper packet name is covered");
    let mut kinds = Vec::new();
    for m in msgs {
        let bytes = encoded(&Frame::Msg(m.clone()));
        kinds.push(bytes[5]);
        let (frames, err) = decode_all(&bytes, ELECTION_FRAME_MAX);
        assert_eq!(err, None);
        assert_eq!(frames, vec![(Frame::Msg(m), bytes)]);
    }
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 20, "one kind byte per packet");
}

// ---------------------------------------------------------------------------------------------
// Robustness and canonical form
// ---------------------------------------------------------------------------------------------

/// A valid-looking frame header (version 1, a kind that exists or not) then random bytes, so that
/// the field decoders are reached often, not only the prefix checks.
fn plausible_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        0u32..80,
        prop_oneof![1u8..19, 64u8..68, any::<u8>()],
        vec(any::<u8>(), 0..80),
    )
        .prop_map(|(len, kind, rest)| {
            let mut out = len.to_be_bytes().to_vec();
            out.push(1);
            out.push(kind);
            out.extend(rest);
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_is_canonical(
        bytes in prop_oneof![vec(any::<u8>(), 0..200), plausible_bytes()],
        max in prop_oneof![Just(ELECTION_FRAME_MAX), 0usize..64],
    ) {
        let (frames, _err) = decode_all(&bytes, max);
        let mut consumed = 0;
        for (f, used) in &frames {
            prop_assert!(used.len() - 4 <= max, "a frame above the limit was taken");
            prop_assert_eq!(&encoded(f), used, "re-encoding gives the same bytes");
            consumed += used.len();
        }
        prop_assert!(consumed <= bytes.len());
    }

    #[test]
    fn flipped_bits_in_valid_frames_never_panic(
        f in frame(),
        flips in vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let mut bytes = encoded(&f);
        for (i, bit) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        let (frames, _err) = decode_all(&bytes, QUORUM_FRAME_MAX);
        for (f, used) in &frames {
            prop_assert_eq!(&encoded(f), used);
        }
    }
}

#[test]
fn a_length_above_the_limit_is_refused_whatever_follows() {
    let mut bytes = ((ELECTION_FRAME_MAX + 1) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&[1, 5]);
    let (frames, err) = decode_all(&bytes, ELECTION_FRAME_MAX);
    assert!(frames.is_empty());
    assert_eq!(
        err,
        Some(PeerDecodeError::Jute(DecodeError::FrameTooLarge {
            len: ELECTION_FRAME_MAX + 1,
            max: ELECTION_FRAME_MAX
        }))
    );
    let (_, err) = decode_all(&(-1i32).to_be_bytes(), ELECTION_FRAME_MAX);
    assert_eq!(
        err,
        Some(PeerDecodeError::Jute(DecodeError::NegativeFrameLength(-1)))
    );
}
