//! Sans-IO codec of [`PeerMsg`] for the election and quorum links: bytes in, frames out (check,
//! then parse).
//!
//! Role in the data flow: `server/peers` owns the peer sockets; it hands the bytes it has read
//! to [`decode_frame`] and writes what [`encode_hello`] and [`encode_msg`] append. The meaning of
//! each message is `protocol::message`; this module only spells it. The core never imports
//! `wire`, and nothing here performs IO, so ZooKeeper's own quorum packets (reference B.2, B.7)
//! can later be spoken by a second codec without touching the core.
//!
//! Every ensemble member speaks it on both peer ports (tests/ensemble.rs runs real servers);
//! tested by the unit tests below, tests/wire_peer_props.rs and tests/server_peers.rs.
//!
//! This is zabkeeper's own framing, not ZooKeeper's: a zabkeeper server talks to zabkeeper
//! servers only. Every frame is
//!
//! ```text
//! int   length        big-endian payload length, 1..=max (wire::frame_length; max per link)
//! byte  version       PEER_WIRE_VERSION (1)
//! byte  kind          which frame (table below)
//! ...   fields        jute encoding (reference A.2), big-endian, nothing after the last field
//! ```
//!
//! | kind | frame | fields |
//! |---|---|---|
//! | 1 | REQUEST | `buffer payload` |
//! | 2 | PROPOSAL | `long zxid`, `buffer data` |
//! | 3 | ACK | `long zxid` |
//! | 4 | COMMIT | `long zxid` |
//! | 5 | PING | `long round` |
//! | 6 | REVALIDATE | `long sessionId`, `int timeout` (learner → leader) |
//! | 7 | SYNC | `long id`, `long zxid` |
//! | 8 | INFORM | `long zxid`, `buffer data` |
//! | 10 | NEWLEADER | `int epoch` |
//! | 11 | FOLLOWERINFO | `int acceptedEpoch` |
//! | 12 | UPTODATE | — |
//! | 13 | DIFF | `long committed`, `int count`, count × (`long zxid`, `buffer data`) |
//! | 14 | TRUNC | `long to`, then as DIFF |
//! | 15 | SNAP | `long base`, `buffer snapshot`, then as DIFF |
//! | 16 | OBSERVERINFO | `int acceptedEpoch` |
//! | 17 | LEADERINFO | `int epoch` |
//! | 18 | ACKEPOCH | `long currentEpoch` (-1: none), `long lastZxid` |
//! | 64 | NOTIFICATION | `int state`, `long leader`, `long zxid`, `int peerEpoch`, `long round` |
//! | 65 | HELLO | `long sid`, `byte link` (0 election, 1 quorum), quorum only: `byte learner` (0 participant, 1 observer) |
//! | 66 | REQUEST(sync) | `long id` |
//! | 67 | REVALIDATE(reply) | `long sessionId`, `boolean valid` (0 or 1; leader → learner) |
//!
//! Kinds 1–18 are ZooKeeper's `QuorumPacket` type numbers (reference B.7) so that traces read
//! alike; REVALIDATE keeps ZooKeeper's two payloads, but the leader's reply has kind 67 (under
//! one kind a 9-byte prefix of the learner's 12-byte question would decode as a reply); 64–66 are ours (ZooKeeper forwards a `sync` as a REQUEST whose type is OpCode.sync;
//! our REQUEST carries opaque bytes, so the forwarded `sync` has its own kind). Epochs are `u32` and travel as the bits of an `int`; sids, zxids
//! and rounds are `u64` and travel as the bits of a `long`; `state` is ZooKeeper's ServerState
//! ordinal (reference B.1). HELLO is the first frame on every connection, from the side that
//! dialled: it names the sender and the link (the acceptor sends no handshake reply).
//!
//! Decoding is strict and canonical: an unknown version or kind, an out-of-range enum value, a
//! null or negative length, or any byte after the last field is an error, so every frame that
//! decodes re-encodes to exactly the same bytes (tests/wire_peer_props.rs checks this on arbitrary
//! input). Decoding never panics. It never allocates more than the input justifies: the length
//! prefix is checked against the link's maximum before a frame is taken, a proposal count is
//! checked against the bytes that remain before the vector is allocated, and payloads are
//! zero-copy slices of the frame, so a frame of `n` bytes costs O(`n`) memory.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::protocol::{Epoch, PeerMsg, PeerState, Proposal, ServerId, SyncKind, Vote, Zxid};
use crate::wire::jute::{JuteReader, JuteWriter, INT_LEN, LONG_LEN};
use crate::wire::{frame_length, DecodeError, FRAME_PREFIX_LEN};

/// The version byte of every frame this codec writes and the only one it reads.
pub const PEER_WIRE_VERSION: u8 = 1;

/// Largest election-link payload: ZooKeeper's limit for election messages (512 KiB, reference
/// B.2). A notification needs 34.
pub const ELECTION_FRAME_MAX: usize = 512 * 1024;

/// Largest quorum-link payload (64 MiB). A DIFF/TRUNC/SNAP carries every proposal the learner
/// lacks in one frame (a SNAP also the leader's serialised tree), so this bounds how far a
/// learner may lag, and how large a tree may be, before a sync cannot be sent.
pub const QUORUM_FRAME_MAX: usize = 64 * 1024 * 1024;

/// Fewest bytes one proposal occupies inside a sync frame (`long zxid` + `int` data length).
const PROPOSAL_MIN_LEN: usize = LONG_LEN + INT_LEN;

/// Frame kinds (see the module table).
mod kind {
    pub const REQUEST: u8 = 1;
    pub const PROPOSAL: u8 = 2;
    pub const ACK: u8 = 3;
    pub const COMMIT: u8 = 4;
    pub const PING: u8 = 5;
    pub const REVALIDATE: u8 = 6;
    pub const SYNC: u8 = 7;
    pub const INFORM: u8 = 8;
    pub const NEWLEADER: u8 = 10;
    pub const FOLLOWERINFO: u8 = 11;
    pub const UPTODATE: u8 = 12;
    pub const DIFF: u8 = 13;
    pub const TRUNC: u8 = 14;
    pub const SNAP: u8 = 15;
    pub const OBSERVERINFO: u8 = 16;
    pub const LEADERINFO: u8 = 17;
    pub const ACKEPOCH: u8 = 18;
    pub const NOTIFICATION: u8 = 64;
    pub const HELLO: u8 = 65;
    pub const SYNC_REQUEST: u8 = 66;
    pub const REVALIDATE_REPLY: u8 = 67;
}

/// Which of a server's two peer ports a connection belongs to (reference B.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// The election port: FLE notifications between every pair of servers.
    Election,
    /// The quorum port: ZAB traffic between the leader and each learner.
    Quorum,
}

/// A learner's type, as `server.N=...:participant|observer` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LearnerType {
    /// A voting member (FOLLOWERINFO).
    Participant,
    /// A non-voting member (OBSERVERINFO).
    Observer,
}

/// The first frame on a connection, from the side that dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hello {
    /// A connection to the election port.
    Election {
        /// The dialler's `myid`.
        sid: ServerId,
    },
    /// A learner's connection to the leader's quorum port.
    Quorum {
        /// The learner's `myid`.
        sid: ServerId,
        /// Whether it follows or observes.
        learner: LearnerType,
    },
}

impl Hello {
    /// The dialler's sid.
    pub fn sid(&self) -> ServerId {
        match self {
            Hello::Election { sid } | Hello::Quorum { sid, .. } => *sid,
        }
    }

    /// The link the connection is for.
    pub fn link(&self) -> Link {
        match self {
            Hello::Election { .. } => Link::Election,
            Hello::Quorum { .. } => Link::Quorum,
        }
    }
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The connection handshake.
    Hello(Hello),
    /// A protocol message.
    Msg(PeerMsg),
}

/// Why peer bytes could not be decoded. The caller closes the connection on any of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerDecodeError {
    /// The length prefix is negative or above the link's maximum, or a field is truncated or
    /// has an illegal jute length.
    #[error(transparent)]
    Jute(#[from] DecodeError),
    /// A frame with no version byte (length 0).
    #[error("empty peer frame")]
    Empty,
    /// A version byte other than [`PEER_WIRE_VERSION`].
    #[error("unsupported peer wire version {0}")]
    UnsupportedVersion(u8),
    /// A kind byte that names no frame.
    #[error("unknown peer frame kind {0}")]
    UnknownKind(u8),
    /// A ServerState ordinal outside 0..=3.
    #[error("invalid server state {0}")]
    InvalidState(i32),
    /// An ACKEPOCH currentEpoch that is neither -1 nor a `u32`.
    #[error("invalid epoch {0}")]
    InvalidEpoch(i64),
    /// A HELLO link byte other than 0 or 1.
    #[error("invalid link {0}")]
    InvalidLink(u8),
    /// A HELLO learner byte other than 0 or 1.
    #[error("invalid learner type {0}")]
    InvalidLearner(u8),
    /// A null (length -1) buffer where a message needs bytes.
    #[error("null buffer in field `{0}`")]
    NullBuffer(&'static str),
    /// A REVALIDATE `valid` byte other than 0 or 1 (non-canonical).
    #[error("invalid boolean {0}")]
    InvalidBool(u8),
    /// Bytes left after the last field of the frame.
    #[error("{0} trailing bytes after the last field")]
    TrailingBytes(usize),
}

/// Why a message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerEncodeError {
    /// The payload would exceed the limit the receiving side enforces.
    #[error("peer frame of {len} bytes exceeds the limit {max}")]
    FrameTooLarge {
        /// Payload length the message needs.
        len: usize,
        /// The link's maximum.
        max: usize,
    },
}

/// Appends the HELLO frame (always far below any limit).
pub fn encode_hello(buf: &mut BytesMut, hello: &Hello) {
    let start = begin_frame(buf, kind::HELLO);
    let mut w = JuteWriter::new(buf);
    match hello {
        Hello::Election { sid } => {
            w.write_long(sid.0 as i64);
            w.buf().put_u8(0);
        }
        Hello::Quorum { sid, learner } => {
            w.write_long(sid.0 as i64);
            w.buf().put_u8(1);
            w.buf().put_u8(match learner {
                LearnerType::Participant => 0,
                LearnerType::Observer => 1,
            });
        }
    }
    let _ = finish_frame(buf, start, usize::MAX);
}

/// Appends one frame carrying `msg`, or leaves `buf` unchanged and fails if its payload would
/// exceed `max` (the limit the receiver applies to this link).
pub fn encode_msg(buf: &mut BytesMut, msg: &PeerMsg, max: usize) -> Result<(), PeerEncodeError> {
    let start = begin_frame(buf, msg_kind(msg));
    let mut w = JuteWriter::new(buf);
    match msg {
        PeerMsg::Notification { state, vote, round } => {
            w.write_int(state_ordinal(*state));
            w.write_long(vote.sid.0 as i64);
            w.write_long(vote.zxid.0 as i64);
            w.write_int(vote.epoch.0 as i32);
            w.write_long(*round as i64);
        }
        PeerMsg::FollowerInfo { accepted_epoch, .. } => w.write_int(accepted_epoch.0 as i32),
        PeerMsg::LeaderInfo { epoch } | PeerMsg::NewLeader { epoch } => w.write_int(epoch.0 as i32),
        PeerMsg::AckEpoch {
            current_epoch,
            last_zxid,
        } => {
            w.write_long(current_epoch.map_or(-1, |e| i64::from(e.0)));
            w.write_long(last_zxid.0 as i64);
        }
        PeerMsg::Sync {
            kind,
            proposals,
            committed,
        } => {
            match kind {
                SyncKind::Diff => {}
                SyncKind::Trunc { to } => w.write_long(to.0 as i64),
                SyncKind::Snap { base, snapshot } => {
                    w.write_long(base.0 as i64);
                    w.write_bytes(snapshot);
                }
            }
            w.write_long(committed.0 as i64);
            w.write_vector(proposals, |w, p| write_proposal(w, p));
        }
        PeerMsg::UpToDate => {}
        PeerMsg::Ping { round } => w.write_long(*round as i64),
        PeerMsg::SyncRequest { id } => w.write_long(*id as i64),
        PeerMsg::SyncReply { id, zxid } => {
            w.write_long(*id as i64);
            w.write_long(zxid.0 as i64);
        }
        PeerMsg::Revalidate {
            session,
            timeout_ms,
        } => {
            w.write_long(*session);
            w.write_int(*timeout_ms);
        }
        PeerMsg::RevalidateReply { session, valid } => {
            w.write_long(*session);
            w.write_bool(*valid);
        }
        PeerMsg::Propose(p) | PeerMsg::Inform(p) => write_proposal(&mut w, p),
        PeerMsg::Ack { zxid } | PeerMsg::Commit { zxid } => w.write_long(zxid.0 as i64),
        PeerMsg::Request { payload } => w.write_bytes(payload),
    }
    finish_frame(buf, start, max)
}

/// Check, then parse: takes the first complete frame off the front of `buf` and decodes it.
///
/// Returns `Ok(None)` (consuming nothing) while the frame is incomplete, and an error when the
/// length prefix is illegal (negative or above `max`) or the payload does not decode; the caller
/// closes the connection on error. Once the prefix is known to be legal, the caller may reserve
/// `FRAME_PREFIX_LEN + len` bytes and no more.
pub fn decode_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, PeerDecodeError> {
    let Some(len) = frame_length(buf, max)? else {
        return Ok(None);
    };
    if buf.len() < FRAME_PREFIX_LEN + len {
        return Ok(None);
    }
    buf.advance(FRAME_PREFIX_LEN);
    let payload = buf.split_to(len).freeze();
    decode_payload(&payload).map(Some)
}

/// Decodes one frame's payload (the bytes after the length prefix).
pub fn decode_payload(payload: &Bytes) -> Result<Frame, PeerDecodeError> {
    let mut r = JuteReader::new(payload);
    let header = r.read_bytes(2).map_err(|_| match payload.len() {
        0 => PeerDecodeError::Empty,
        _ => PeerDecodeError::Jute(DecodeError::Truncated {
            needed: 2,
            remaining: payload.len(),
        }),
    })?;
    let (version, kind) = (header[0], header[1]);
    if version != PEER_WIRE_VERSION {
        return Err(PeerDecodeError::UnsupportedVersion(version));
    }
    let frame = match kind {
        kind::HELLO => Frame::Hello(read_hello(&mut r)?),
        _ => Frame::Msg(read_msg(kind, &mut r, payload)?),
    };
    match r.remaining() {
        0 => Ok(frame),
        n => Err(PeerDecodeError::TrailingBytes(n)),
    }
}

fn msg_kind(msg: &PeerMsg) -> u8 {
    match msg {
        PeerMsg::Notification { .. } => kind::NOTIFICATION,
        PeerMsg::FollowerInfo {
            observer: false, ..
        } => kind::FOLLOWERINFO,
        PeerMsg::FollowerInfo { observer: true, .. } => kind::OBSERVERINFO,
        PeerMsg::LeaderInfo { .. } => kind::LEADERINFO,
        PeerMsg::AckEpoch { .. } => kind::ACKEPOCH,
        PeerMsg::Sync { kind: k, .. } => match k {
            SyncKind::Diff => kind::DIFF,
            SyncKind::Trunc { .. } => kind::TRUNC,
            SyncKind::Snap { .. } => kind::SNAP,
        },
        PeerMsg::NewLeader { .. } => kind::NEWLEADER,
        PeerMsg::UpToDate => kind::UPTODATE,
        PeerMsg::Propose(_) => kind::PROPOSAL,
        PeerMsg::Ack { .. } => kind::ACK,
        PeerMsg::Commit { .. } => kind::COMMIT,
        PeerMsg::Inform(_) => kind::INFORM,
        PeerMsg::Ping { .. } => kind::PING,
        PeerMsg::Request { .. } => kind::REQUEST,
        PeerMsg::SyncRequest { .. } => kind::SYNC_REQUEST,
        PeerMsg::SyncReply { .. } => kind::SYNC,
        PeerMsg::Revalidate { .. } => kind::REVALIDATE,
        PeerMsg::RevalidateReply { .. } => kind::REVALIDATE_REPLY,
    }
}

/// Writes a zero length prefix, the version and the kind; returns where the frame starts.
fn begin_frame(buf: &mut BytesMut, kind: u8) -> usize {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_u8(PEER_WIRE_VERSION);
    buf.put_u8(kind);
    start
}

/// Patches the length prefix of the frame at `start`, or removes the frame if it is too long.
fn finish_frame(buf: &mut BytesMut, start: usize, max: usize) -> Result<(), PeerEncodeError> {
    let len = buf.len() - start - FRAME_PREFIX_LEN;
    // The receiver's `frame_length` reads the prefix as an `int`.
    let limit = max.min(i32::MAX as usize);
    if len > limit {
        buf.truncate(start);
        return Err(PeerEncodeError::FrameTooLarge { len, max: limit });
    }
    buf[start..start + FRAME_PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

fn write_proposal<B: BufMut>(w: &mut JuteWriter<'_, B>, p: &Proposal) {
    w.write_long(p.zxid.0 as i64);
    w.write_bytes(&p.data);
}

fn state_ordinal(state: PeerState) -> i32 {
    match state {
        PeerState::Looking => 0,
        PeerState::Following => 1,
        PeerState::Leading => 2,
        PeerState::Observing => 3,
    }
}

fn read_state(r: &mut JuteReader<'_>) -> Result<PeerState, PeerDecodeError> {
    match r.read_int()? {
        0 => Ok(PeerState::Looking),
        1 => Ok(PeerState::Following),
        2 => Ok(PeerState::Leading),
        3 => Ok(PeerState::Observing),
        other => Err(PeerDecodeError::InvalidState(other)),
    }
}

fn read_hello(r: &mut JuteReader<'_>) -> Result<Hello, PeerDecodeError> {
    let sid = ServerId(r.read_long()? as u64);
    match r.read_byte()? as u8 {
        0 => Ok(Hello::Election { sid }),
        1 => {
            let learner = match r.read_byte()? as u8 {
                0 => LearnerType::Participant,
                1 => LearnerType::Observer,
                other => return Err(PeerDecodeError::InvalidLearner(other)),
            };
            Ok(Hello::Quorum { sid, learner })
        }
        other => Err(PeerDecodeError::InvalidLink(other)),
    }
}

fn read_epoch(r: &mut JuteReader<'_>) -> Result<Epoch, PeerDecodeError> {
    Ok(Epoch(r.read_int()? as u32))
}

fn read_zxid(r: &mut JuteReader<'_>) -> Result<Zxid, PeerDecodeError> {
    Ok(Zxid(r.read_long()? as u64))
}

/// A non-null jute buffer as a zero-copy slice of `payload` (which `r` reads).
fn read_data(
    r: &mut JuteReader<'_>,
    payload: &Bytes,
    field: &'static str,
) -> Result<Bytes, PeerDecodeError> {
    let slice = r
        .read_buffer_slice()?
        .ok_or(PeerDecodeError::NullBuffer(field))?;
    Ok(payload.slice_ref(slice))
}

fn read_proposal(r: &mut JuteReader<'_>, payload: &Bytes) -> Result<Proposal, PeerDecodeError> {
    let zxid = read_zxid(r)?;
    let data = read_data(r, payload, "data")?;
    Ok(Proposal { zxid, data })
}

fn read_sync(
    kind: SyncKind,
    r: &mut JuteReader<'_>,
    payload: &Bytes,
) -> Result<PeerMsg, PeerDecodeError> {
    let committed = read_zxid(r)?;
    let count = r.read_int()?;
    let Ok(count) = usize::try_from(count) else {
        return Err(DecodeError::InvalidLength(count).into());
    };
    let needed = count.saturating_mul(PROPOSAL_MIN_LEN);
    if needed > r.remaining() {
        return Err(DecodeError::Truncated {
            needed,
            remaining: r.remaining(),
        }
        .into());
    }
    let mut proposals = Vec::with_capacity(count);
    for _ in 0..count {
        proposals.push(read_proposal(r, payload)?);
    }
    Ok(PeerMsg::Sync {
        kind,
        proposals,
        committed,
    })
}

fn read_msg(kind: u8, r: &mut JuteReader<'_>, payload: &Bytes) -> Result<PeerMsg, PeerDecodeError> {
    Ok(match kind {
        kind::NOTIFICATION => {
            let state = read_state(r)?;
            let sid = ServerId(r.read_long()? as u64);
            let zxid = read_zxid(r)?;
            let epoch = read_epoch(r)?;
            let round = r.read_long()? as u64;
            PeerMsg::Notification {
                state,
                vote: Vote { epoch, zxid, sid },
                round,
            }
        }
        kind::FOLLOWERINFO | kind::OBSERVERINFO => PeerMsg::FollowerInfo {
            accepted_epoch: read_epoch(r)?,
            observer: kind == kind::OBSERVERINFO,
        },
        kind::LEADERINFO => PeerMsg::LeaderInfo {
            epoch: read_epoch(r)?,
        },
        kind::ACKEPOCH => {
            let current = r.read_long()?;
            let current_epoch = match current {
                -1 => None,
                e => Some(Epoch(
                    u32::try_from(e).map_err(|_| PeerDecodeError::InvalidEpoch(e))?,
                )),
            };
            PeerMsg::AckEpoch {
                current_epoch,
                last_zxid: read_zxid(r)?,
            }
        }
        kind::DIFF => read_sync(SyncKind::Diff, r, payload)?,
        kind::TRUNC => {
            let to = read_zxid(r)?;
            read_sync(SyncKind::Trunc { to }, r, payload)?
        }
        kind::SNAP => {
            let base = read_zxid(r)?;
            let snapshot = read_data(r, payload, "snapshot")?;
            read_sync(SyncKind::Snap { base, snapshot }, r, payload)?
        }
        kind::NEWLEADER => PeerMsg::NewLeader {
            epoch: read_epoch(r)?,
        },
        kind::UPTODATE => PeerMsg::UpToDate,
        kind::PROPOSAL => PeerMsg::Propose(read_proposal(r, payload)?),
        kind::ACK => PeerMsg::Ack {
            zxid: read_zxid(r)?,
        },
        kind::COMMIT => PeerMsg::Commit {
            zxid: read_zxid(r)?,
        },
        kind::INFORM => PeerMsg::Inform(read_proposal(r, payload)?),
        kind::PING => PeerMsg::Ping {
            round: r.read_long()? as u64,
        },
        kind::SYNC => PeerMsg::SyncReply {
            id: r.read_long()? as u64,
            zxid: read_zxid(r)?,
        },
        kind::SYNC_REQUEST => PeerMsg::SyncRequest {
            id: r.read_long()? as u64,
        },
        kind::REVALIDATE => PeerMsg::Revalidate {
            session: r.read_long()?,
            timeout_ms: r.read_int()?,
        },
        kind::REVALIDATE_REPLY => {
            let session = r.read_long()?;
            match r.read_byte()? as u8 {
                b @ (0 | 1) => PeerMsg::RevalidateReply {
                    session,
                    valid: b == 1,
                },
                other => return Err(PeerDecodeError::InvalidBool(other)),
            }
        }
        kind::REQUEST => PeerMsg::Request {
            payload: read_data(r, payload, "payload")?,
        },
        other => return Err(PeerDecodeError::UnknownKind(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(msg: &PeerMsg) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_msg(&mut buf, msg, QUORUM_FRAME_MAX).unwrap();
        buf.to_vec()
    }

    #[test]
    fn notification_bytes() {
        let msg = PeerMsg::Notification {
            state: PeerState::Leading,
            vote: Vote {
                epoch: Epoch(1),
                zxid: Zxid(0x1_0000_0002),
                sid: ServerId(3),
            },
            round: 7,
        };
        let mut want = vec![0, 0, 0, 34, 1, 64, 0, 0, 0, 2];
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&0x1_0000_0002u64.to_be_bytes());
        want.extend_from_slice(&1u32.to_be_bytes());
        want.extend_from_slice(&7u64.to_be_bytes());
        assert_eq!(frame_of(&msg), want);
    }

    #[test]
    fn hello_bytes() {
        let mut buf = BytesMut::new();
        encode_hello(
            &mut buf,
            &Hello::Quorum {
                sid: ServerId(2),
                learner: LearnerType::Observer,
            },
        );
        assert_eq!(
            &buf[..],
            &[0, 0, 0, 12, 1, 65, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1]
        );
        let mut buf = BytesMut::new();
        encode_hello(&mut buf, &Hello::Election { sid: ServerId(9) });
        assert_eq!(&buf[..], &[0, 0, 0, 11, 1, 65, 0, 0, 0, 0, 0, 0, 0, 9, 0]);
    }

    #[test]
    fn ping_and_sync_bytes() {
        let mut want = vec![0, 0, 0, 10, 1, 5];
        want.extend_from_slice(&3u64.to_be_bytes());
        assert_eq!(frame_of(&PeerMsg::Ping { round: 3 }), want);
        let mut want = vec![0, 0, 0, 18, 1, 7];
        want.extend_from_slice(&9u64.to_be_bytes());
        want.extend_from_slice(&0x1_0000_0002u64.to_be_bytes());
        let reply = PeerMsg::SyncReply {
            id: 9,
            zxid: Zxid(0x1_0000_0002),
        };
        assert_eq!(frame_of(&reply), want);
        let mut want = vec![0, 0, 0, 10, 1, 66];
        want.extend_from_slice(&9u64.to_be_bytes());
        assert_eq!(frame_of(&PeerMsg::SyncRequest { id: 9 }), want);
    }

    /// REVALIDATE keeps ZooKeeper's payloads (reference B.7): `long sessionId, int timeout` from
    /// the learner (kind 6), `long sessionId, boolean valid` from the leader (kind 67).
    #[test]
    fn revalidate_bytes() {
        let session = 0x19b7_6daa_6350_0007_i64;
        let ask = PeerMsg::Revalidate {
            session,
            timeout_ms: 4000,
        };
        let mut want = vec![0, 0, 0, 14, 1, 6];
        want.extend_from_slice(&session.to_be_bytes());
        want.extend_from_slice(&4000i32.to_be_bytes());
        assert_eq!(frame_of(&ask), want);
        let reply = PeerMsg::RevalidateReply {
            session,
            valid: true,
        };
        let mut want = vec![0, 0, 0, 11, 1, 67];
        want.extend_from_slice(&session.to_be_bytes());
        want.push(1);
        assert_eq!(frame_of(&reply), want);
        for msg in [ask, reply] {
            let mut buf = BytesMut::from(&frame_of(&msg)[..]);
            let decoded = decode_frame(&mut buf, QUORUM_FRAME_MAX).unwrap();
            assert_eq!(decoded, Some(Frame::Msg(msg)));
        }
        // Only 0 and 1 are a `boolean` (canonical decoding), and no other length is a REVALIDATE.
        let mut bad = vec![0, 0, 0, 11, 1, 67];
        bad.extend_from_slice(&session.to_be_bytes());
        bad.push(2);
        let mut buf = BytesMut::from(&bad[..]);
        assert_eq!(
            decode_frame(&mut buf, QUORUM_FRAME_MAX),
            Err(PeerDecodeError::InvalidBool(2))
        );
        let mut short = vec![0, 0, 0, 12, 1, 6];
        short.extend_from_slice(&session.to_be_bytes());
        short.extend_from_slice(&[0, 0]);
        let mut buf = BytesMut::from(&short[..]);
        assert!(decode_frame(&mut buf, QUORUM_FRAME_MAX).is_err());
    }

    #[test]
    fn ack_epoch_none_is_minus_one() {
        let bytes = frame_of(&PeerMsg::AckEpoch {
            current_epoch: None,
            last_zxid: Zxid(5),
        });
        assert_eq!(&bytes[6..14], &(-1i64).to_be_bytes());
        let bytes = frame_of(&PeerMsg::AckEpoch {
            current_epoch: Some(Epoch(u32::MAX)),
            last_zxid: Zxid(5),
        });
        assert_eq!(&bytes[6..14], &i64::from(u32::MAX).to_be_bytes());
    }

    #[test]
    fn decode_waits_for_the_whole_frame_then_consumes_exactly_it() {
        let msg = PeerMsg::Commit { zxid: Zxid(9) };
        let mut bytes = frame_of(&msg);
        bytes.extend_from_slice(&[0, 0]);
        for cut in 0..bytes.len() - 2 {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(
                decode_frame(&mut buf, 100),
                Ok(None),
                "prefix of {cut} bytes"
            );
            assert_eq!(buf.len(), cut, "nothing consumed");
        }
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(decode_frame(&mut buf, 100), Ok(Some(Frame::Msg(msg))));
        assert_eq!(&buf[..], &[0, 0]);
    }

    #[test]
    fn oversized_prefix_is_refused_before_the_payload_arrives() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 101][..]);
        assert_eq!(
            decode_frame(&mut buf, 100),
            Err(PeerDecodeError::Jute(DecodeError::FrameTooLarge {
                len: 101,
                max: 100
            }))
        );
    }

    #[test]
    fn encode_refuses_a_frame_above_the_limit_and_writes_nothing() {
        let msg = PeerMsg::Request {
            payload: Bytes::from(vec![0u8; 100]),
        };
        let mut buf = BytesMut::from(&b"xy"[..]);
        assert_eq!(
            encode_msg(&mut buf, &msg, 105),
            Err(PeerEncodeError::FrameTooLarge { len: 106, max: 105 })
        );
        assert_eq!(&buf[..], b"xy");
        encode_msg(&mut buf, &msg, 106).unwrap();
        assert_eq!(buf.len(), 2 + 4 + 106);
    }

    #[test]
    fn strict_fields() {
        let cases: &[(&[u8], PeerDecodeError)] = &[
            (&[], PeerDecodeError::Empty),
            (&[2, 5], PeerDecodeError::UnsupportedVersion(2)),
            (&[1, 99], PeerDecodeError::UnknownKind(99)),
            (&[1, 12, 0], PeerDecodeError::TrailingBytes(1)),
            (&[1, 64, 0, 0, 0, 4], PeerDecodeError::InvalidState(4)),
            (
                &[1, 18, 0, 0, 0, 1, 0, 0, 0, 0],
                PeerDecodeError::InvalidEpoch(1 << 32),
            ),
            (
                &[1, 1, 0xFF, 0xFF, 0xFF, 0xFF],
                PeerDecodeError::NullBuffer("payload"),
            ),
            (
                &[1, 65, 0, 0, 0, 0, 0, 0, 0, 1, 2],
                PeerDecodeError::InvalidLink(2),
            ),
            (
                &[1, 65, 0, 0, 0, 0, 0, 0, 0, 1, 1, 7],
                PeerDecodeError::InvalidLearner(7),
            ),
        ];
        for (payload, want) in cases {
            let got = decode_payload(&Bytes::copy_from_slice(payload));
            assert_eq!(got.as_ref(), Err(want), "payload {payload:?}");
        }
    }

    #[test]
    fn a_huge_proposal_count_is_refused_without_allocating() {
        // DIFF, committed 0, count i32::MAX, and nothing else.
        let mut payload = vec![1, 13];
        payload.extend_from_slice(&0u64.to_be_bytes());
        payload.extend_from_slice(&i32::MAX.to_be_bytes());
        let got = decode_payload(&Bytes::from(payload));
        assert_eq!(
            got,
            Err(PeerDecodeError::Jute(DecodeError::Truncated {
                needed: i32::MAX as usize * PROPOSAL_MIN_LEN,
                remaining: 0
            }))
        );
    }

    #[test]
    fn proposal_data_is_a_slice_of_the_frame() {
        let msg = PeerMsg::Propose(Proposal {
            zxid: Zxid(1),
            data: Bytes::from_static(b"txn"),
        });
        let payload = Bytes::copy_from_slice(&frame_of(&msg)[FRAME_PREFIX_LEN..]);
        let Frame::Msg(PeerMsg::Propose(p)) = decode_payload(&payload).unwrap() else {
            panic!("not a proposal");
        };
        assert_eq!(&p.data[..], b"txn");
        let inside = payload.as_ptr_range();
        assert!(inside.contains(&p.data.as_ptr()), "zero-copy");
    }
}
