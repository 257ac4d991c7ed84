//! The record each opcode selects (reference A.5): [`Request`] for a request body keyed by its
//! header's opcode, [`Response`] for a reply body keyed by the opcode of the request it answers,
//! and the framed encoders of whole requests and replies (A.1).

use bytes::BufMut;

use super::events::WatcherEvent;
use super::headers::{ReplyHeader, RequestHeader, AUTH_XID, PING_XID, SET_WATCHES_XID};
use super::multi::{MultiRequest, MultiResponse};
use super::opcodes::OpCode;
use super::requests::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSaslRequest,
    PathRecord, ReconfigRequest, RemoveWatchesRequest, SetAclRequest, SetDataRequest, SetWatches,
    SetWatches2, SyncRequest,
};
use super::responses::{
    Create2Response, CreateResponse, ErrorResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse,
    SetSaslResponse, StatResponse, SyncResponse, WhoAmIResponse,
};
use crate::wire::jute::{JuteReader, JuteWriter, Record};
use crate::wire::{write_frame, DecodeError};

/// A decoded client request body, one variant per opcode a client may send (A.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// 1
    Create(CreateRequest),
    /// 15
    Create2(CreateRequest),
    /// 19
    CreateContainer(CreateRequest),
    /// 21
    CreateTtl(CreateTtlRequest),
    /// 2
    Delete(DeleteRequest),
    /// 20: internal to ZooKeeper (the container reaper); the body is the raw UTF-8 path, no
    /// length. Decoded for completeness; a server should refuse it from clients.
    DeleteContainer(PathRecord),
    /// 3
    Exists(ExistsRequest),
    /// 4
    GetData(GetDataRequest),
    /// 5
    SetData(SetDataRequest),
    /// 6
    GetAcl(GetAclRequest),
    /// 7
    SetAcl(SetAclRequest),
    /// 8
    GetChildren(GetChildrenRequest),
    /// 12
    GetChildren2(GetChildren2Request),
    /// 104
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// 103
    GetEphemerals(GetEphemeralsRequest),
    /// 9
    Sync(SyncRequest),
    /// 13
    Check(CheckVersionRequest),
    /// 14
    Multi(MultiRequest),
    /// 22
    MultiRead(MultiRequest),
    /// 106
    AddWatch(AddWatchRequest),
    /// 18
    RemoveWatches(RemoveWatchesRequest),
    /// 17
    CheckWatches(CheckWatchesRequest),
    /// 101 (xid -8)
    SetWatches(SetWatches),
    /// 105 (xid -8)
    SetWatches2(SetWatches2),
    /// 100 (xid -4)
    Auth(AuthPacket),
    /// 11 (xid -2), no body.
    Ping,
    /// -11, no body.
    CloseSession,
    /// 107, no body.
    WhoAmI,
    /// 16
    Reconfig(ReconfigRequest),
    /// 102
    Sasl(GetSaslRequest),
}

impl Request {
    /// The request's opcode.
    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::Sync(_) => OpCode::Sync,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Auth(_) => OpCode::Auth,
            Request::Ping => OpCode::Ping,
            Request::CloseSession => OpCode::CloseSession,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::Sasl(_) => OpCode::Sasl,
        }
    }

    /// Whether the request goes through the leader as a txn and gets a zxid even when it fails
    /// (A.5, A.16): creates, deletes, setData, setACL, check, multi, reconfig, closeSession.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(_)
                | Request::Create2(_)
                | Request::CreateContainer(_)
                | Request::CreateTtl(_)
                | Request::Delete(_)
                | Request::DeleteContainer(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Check(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::CloseSession
        )
    }

    /// Decodes the body of a request whose header carried `opcode`. Bytes after the record are
    /// ignored (ZooKeeper reads its record from the buffer and ignores the rest).
    ///
    /// Opcodes that are not client requests (0 notification, -1 error, -10 createSession, 10,
    /// anything undefined) give [`DecodeError::UnknownOpCode`]; ZooKeeper answers unknown opcodes
    /// with `{xid, -1, -6 UNIMPLEMENTED}` and closes the connection.
    pub fn decode(opcode: i32, body: &[u8]) -> Result<Request, DecodeError> {
        let op = OpCode::from_i32(opcode).ok_or(DecodeError::UnknownOpCode(opcode))?;
        let r = &mut JuteReader::new(body);
        Ok(match op {
            OpCode::Create => Request::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => Request::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => Request::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => Request::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => Request::Delete(DeleteRequest::decode(r)?),
            OpCode::DeleteContainer => {
                let path = std::str::from_utf8(body).map_err(|_| DecodeError::InvalidUtf8)?;
                Request::DeleteContainer(PathRecord {
                    path: path.to_owned(),
                })
            }
            OpCode::Exists => Request::Exists(ExistsRequest::decode(r)?),
            OpCode::GetData => Request::GetData(GetDataRequest::decode(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest::decode(r)?),
            OpCode::GetAcl => Request::GetAcl(GetAclRequest::decode(r)?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest::decode(r)?),
            OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?)
            }
            OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(r)?),
            OpCode::Sync => Request::Sync(SyncRequest::decode(r)?),
            OpCode::Check => Request::Check(CheckVersionRequest::decode(r)?),
            OpCode::Multi => Request::Multi(MultiRequest::decode(r)?),
            OpCode::MultiRead => Request::MultiRead(MultiRequest::decode(r)?),
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(r)?),
            OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(r)?),
            OpCode::SetWatches => Request::SetWatches(SetWatches::decode(r)?),
            OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(r)?),
            OpCode::Auth => Request::Auth(AuthPacket::decode(r)?),
            OpCode::Ping => Request::Ping,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(r)?),
            OpCode::Sasl => Request::Sasl(GetSaslRequest::decode(r)?),
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(opcode))
            }
        })
    }

    /// Appends the request's body (without the header) to `w`.
    pub fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            Request::Create(req) | Request::Create2(req) | Request::CreateContainer(req) => {
                req.encode(w)
            }
            Request::CreateTtl(req) => req.encode(w),
            Request::Delete(req) | Request::Check(req) => req.encode(w),
            Request::DeleteContainer(req) => w.buf().put_slice(req.path.as_bytes()),
            Request::Exists(req)
            | Request::GetData(req)
            | Request::GetChildren(req)
            | Request::GetChildren2(req) => req.encode(w),
            Request::SetData(req) => req.encode(w),
            Request::GetAcl(req)
            | Request::GetAllChildrenNumber(req)
            | Request::GetEphemerals(req)
            | Request::Sync(req) => req.encode(w),
            Request::SetAcl(req) => req.encode(w),
            Request::Multi(req) | Request::MultiRead(req) => req.encode(w),
            Request::AddWatch(req) => req.encode(w),
            Request::RemoveWatches(req) | Request::CheckWatches(req) => req.encode(w),
            Request::SetWatches(req) => req.encode(w),
            Request::SetWatches2(req) => req.encode(w),
            Request::Auth(req) => req.encode(w),
            Request::Ping | Request::CloseSession | Request::WhoAmI => {}
            Request::Reconfig(req) => req.encode(w),
            Request::Sasl(req) => req.encode(w),
        }
    }

    /// The xid ZooKeeper clients use for this request, if it has a fixed one (A.4).
    pub fn special_xid(&self) -> Option<i32> {
        match self {
            Request::Ping => Some(PING_XID),
            Request::Auth(_) => Some(AUTH_XID),
            Request::SetWatches(_) | Request::SetWatches2(_) => Some(SET_WATCHES_XID),
            _ => None,
        }
    }
}

/// Decodes a whole request frame payload: the header, then the body by its opcode.
///
/// A server that must reply to a malformed body needs the xid: it can decode
/// [`RequestHeader`] first (`RequestHeader::from_bytes`) and call [`Request::decode`] on
/// `&payload[8..]` itself.
pub fn decode_request(payload: &[u8]) -> Result<(RequestHeader, Request), DecodeError> {
    let mut r = JuteReader::new(payload);
    let header = RequestHeader::decode(&mut r)?;
    let request = Request::decode(header.opcode, r.rest())?;
    Ok((header, request))
}

/// The body of a successful reply, one variant per response record (A.5). Replies with
/// `err != 0` have no body (A.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    /// create (1).
    Create(CreateResponse),
    /// create2, createContainer, createTTL (15, 19, 21).
    Create2(Create2Response),
    /// exists, setData, setACL (3, 5, 7).
    Stat(StatResponse),
    /// getData, reconfig (4, 16).
    GetData(GetDataResponse),
    /// getACL (6).
    GetAcl(GetAclResponse),
    /// getChildren (8).
    GetChildren(GetChildrenResponse),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Response),
    /// sync (9).
    Sync(SyncResponse),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsResponse),
    /// whoAmI (107).
    WhoAmI(WhoAmIResponse),
    /// multi, multiRead (14, 22).
    Multi(MultiResponse),
    /// sasl (102).
    Sasl(SetSaslResponse),
    /// addWatch (106): ErrorResponse{err 0}, 4 bytes.
    AddWatch(ErrorResponse),
    /// A notification's WatcherEvent (xid -1; opcode 0 by convention).
    Notification(WatcherEvent),
    /// No body: delete, check, checkWatches, removeWatches, ping, setWatches(2), auth,
    /// closeSession, deleteContainer.
    Empty,
}

impl Response {
    /// Decodes the body of a successful reply to a request with opcode `op` (use
    /// [`OpCode::Notification`] for xid -1 frames). Bytes after the record are ignored.
    pub fn decode(op: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
        let r = &mut JuteReader::new(body);
        Ok(match op {
            OpCode::Create => Response::Create(CreateResponse::decode(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(Create2Response::decode(r)?)
            }
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => {
                Response::Stat(StatResponse::decode(r)?)
            }
            OpCode::GetData | OpCode::Reconfig => Response::GetData(GetDataResponse::decode(r)?),
            OpCode::GetAcl => Response::GetAcl(GetAclResponse::decode(r)?),
            OpCode::GetChildren => Response::GetChildren(GetChildrenResponse::decode(r)?),
            OpCode::GetChildren2 => Response::GetChildren2(GetChildren2Response::decode(r)?),
            OpCode::Sync => Response::Sync(SyncResponse::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Response::GetAllChildrenNumber(GetAllChildrenNumberResponse::decode(r)?)
            }
            OpCode::GetEphemerals => Response::GetEphemerals(GetEphemeralsResponse::decode(r)?),
            OpCode::WhoAmI => Response::WhoAmI(WhoAmIResponse::decode(r)?),
            OpCode::Multi | OpCode::MultiRead => Response::Multi(MultiResponse::decode(r)?),
            OpCode::Sasl => Response::Sasl(SetSaslResponse::decode(r)?),
            OpCode::AddWatch => Response::AddWatch(ErrorResponse::decode(r)?),
            OpCode::Notification => Response::Notification(WatcherEvent::decode(r)?),
            OpCode::Delete
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::Ping
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::Auth
            | OpCode::CloseSession
            | OpCode::DeleteContainer => Response::Empty,
            OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(op.as_i32()))
            }
        })
    }

    /// Appends the response body (without the ReplyHeader) to `w`.
    pub fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            Response::Create(resp) | Response::Sync(resp) => resp.encode(w),
            Response::Create2(resp) => resp.encode(w),
            Response::Stat(resp) => resp.encode(w),
            Response::GetData(resp) => resp.encode(w),
            Response::GetAcl(resp) => resp.encode(w),
            Response::GetChildren(resp) | Response::GetEphemerals(resp) => resp.encode(w),
            Response::GetChildren2(resp) => resp.encode(w),
            Response::GetAllChildrenNumber(resp) => resp.encode(w),
            Response::WhoAmI(resp) => resp.encode(w),
            Response::Multi(resp) => resp.encode(w),
            Response::Sasl(resp) => resp.encode(w),
            Response::AddWatch(resp) => resp.encode(w),
            Response::Notification(event) => event.encode(w),
            Response::Empty => {}
        }
    }
}

/// Appends a framed request: RequestHeader{xid, opcode} then the body.
pub fn write_request<B: BufMut + AsMut<[u8]>>(buf: &mut B, xid: i32, req: &Request) {
    write_frame(buf, |w| {
        RequestHeader {
            xid,
            opcode: req.opcode().as_i32(),
        }
        .encode(w);
        req.encode(w);
    });
}

/// Appends a framed reply: the ReplyHeader, then the body when there is one. Pass `None` (or
/// [`Response::Empty`]) for error replies: ZooKeeper sends only the header when `err != 0`.
pub fn write_reply<B: BufMut + AsMut<[u8]>>(
    buf: &mut B,
    header: &ReplyHeader,
    body: Option<&Response>,
) {
    write_frame(buf, |w| {
        header.encode(w);
        if let Some(body) = body {
            body.encode(w);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client::{MultiHeader, PathWatch, REPLY_HEADER_LEN};

    #[test]
    fn non_client_opcodes_are_unknown() {
        for code in [0, -1, -10, 10, 23, 99, 108, i32::MIN] {
            assert_eq!(
                Request::decode(code, &[]),
                Err(DecodeError::UnknownOpCode(code))
            );
        }
    }

    #[test]
    fn bodiless_requests_ignore_trailing_bytes() {
        assert_eq!(Request::decode(11, &[1, 2, 3]), Ok(Request::Ping));
        assert_eq!(Request::decode(-11, &[]), Ok(Request::CloseSession));
        assert_eq!(Request::decode(107, &[]), Ok(Request::WhoAmI));
    }

    #[test]
    fn delete_container_body_is_the_raw_path() {
        let req = Request::DeleteContainer(PathRecord { path: "/c".into() });
        let mut out = Vec::new();
        req.encode(&mut JuteWriter::new(&mut out));
        assert_eq!(out, b"/c");
        assert_eq!(Request::decode(20, b"/c"), Ok(req));
    }

    #[test]
    fn multi_op_outside_the_allowed_set_is_rejected() {
        let mut out = Vec::new();
        let w = &mut JuteWriter::new(&mut out);
        MultiHeader {
            op_type: OpCode::Exists.as_i32(),
            done: false,
            err: -1,
        }
        .encode(w);
        PathWatch {
            path: "/a".into(),
            watch: false,
        }
        .encode(w);
        MultiHeader::DONE.encode(w);
        assert_eq!(
            Request::decode(14, &out),
            Err(DecodeError::InvalidMultiOp(3))
        );
    }

    #[test]
    fn write_request_frames_header_and_body() {
        let mut out = Vec::new();
        write_request(&mut out, PING_XID, &Request::Ping);
        assert_eq!(out, [0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 11]);
        let (header, req) = decode_request(&out[4..]).expect("ping decodes");
        assert_eq!(
            header,
            RequestHeader {
                xid: -2,
                opcode: 11
            }
        );
        assert_eq!(req, Request::Ping);
    }

    #[test]
    fn error_reply_is_header_only() {
        let mut out = Vec::new();
        write_reply(
            &mut out,
            &ReplyHeader {
                xid: 5,
                zxid: 0x10,
                err: -101,
            },
            None,
        );
        assert_eq!(out.len(), 4 + REPLY_HEADER_LEN);
        assert_eq!(&out[..4], &[0, 0, 0, 16]);
    }
}
