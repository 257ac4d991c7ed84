//! multi and multiRead (reference A.11): every op and every result is preceded by a MultiHeader,
//! and the list ends with a terminator header instead of a count.
//!
//! The headers are a plain record; the request and the response are hand-written because the
//! body after each header is chosen by the header's type and the list is terminator-ended.

use bytes::BufMut;

use super::opcodes::OpCode;
use super::requests::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, GetChildrenRequest,
    GetDataRequest, SetDataRequest,
};
use super::responses::{Create2Response, GetDataResponse};
use crate::wire::jute::{jute_record, JuteReader, JuteWriter, Record, BOOL_LEN, INT_LEN};
use crate::wire::records::Stat;
use crate::wire::DecodeError;

jute_record! {
    /// MultiHeader: precedes every op and result of a multi, and terminates the list.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MultiHeader {
        /// Opcode of the op or result that follows; -1 in the terminator and for error results.
        pub op_type: i32 as int,
        /// True only in the terminator.
        pub done: bool as boolean,
        /// -1 in requests and in the terminator; in responses the result's error code (0 on
        /// success).
        pub err: i32 as int,
    }
}

impl MultiHeader {
    /// The terminator `{type -1, done true, err -1}` ZooKeeper writes after the last op or result.
    pub const DONE: MultiHeader = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };
}

/// Encoded size of a [`MultiHeader`].
pub const MULTI_HEADER_LEN: usize = INT_LEN + BOOL_LEN + INT_LEN;

/// One op of a multi or multiRead request, as ZooKeeper's MultiOperationRecord decodes it. Which
/// ops a multi may hold (writes only) and a multiRead may hold (reads only) is the server's check;
/// see [`MultiOp::is_read`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultiOp {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getChildren (8), multiRead only.
    GetChildren(GetChildrenRequest),
    /// getData (4), multiRead only.
    GetData(GetDataRequest),
}

impl MultiOp {
    /// The op's opcode (its MultiHeader type).
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// A read op (allowed in multiRead only); the others are allowed in multi only.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }

    fn encode_body<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            MultiOp::Create(req) | MultiOp::Create2(req) | MultiOp::CreateContainer(req) => {
                req.encode(w)
            }
            MultiOp::CreateTtl(req) => req.encode(w),
            MultiOp::Delete(req) | MultiOp::Check(req) => req.encode(w),
            MultiOp::SetData(req) => req.encode(w),
            MultiOp::GetChildren(req) | MultiOp::GetData(req) => req.encode(w),
        }
    }

    fn decode_body(op_type: i32, r: &mut JuteReader<'_>) -> Result<MultiOp, DecodeError> {
        let op = OpCode::from_i32(op_type).ok_or(DecodeError::InvalidMultiOp(op_type))?;
        Ok(match op {
            OpCode::Create => MultiOp::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => MultiOp::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => MultiOp::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => MultiOp::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(r)?),
            OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(r)?),
            OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(r)?),
            OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(r)?),
            _ => return Err(DecodeError::InvalidMultiOp(op_type)),
        })
    }
}

/// MultiOperationRecord (opcodes 14, 22): `{type, false, -1}` + op record per op, then
/// [`MultiHeader::DONE`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiRequest {
    /// The ops, in order.
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.opcode().as_i32(),
                done: false,
                err: -1,
            }
            .encode(w);
            op.encode_body(w);
        }
        MultiHeader::DONE.encode(w);
    }

    /// Reads headers until one has `done` set (its type and err are not checked, as in
    /// ZooKeeper). Each op consumes at least one header, so the loop is bounded by the input.
    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let header = MultiHeader::decode(r)?;
            if header.done {
                return Ok(MultiRequest { ops });
            }
            ops.push(MultiOp::decode_body(header.op_type, r)?);
        }
    }
}

/// One result of a multi or multiRead (OpResult).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpResult {
    /// type 1: CreateResponse.
    Create {
        /// The actual path created.
        path: String,
    },
    /// type 15 (create2, createContainer, createTTL): Create2Response.
    Create2 {
        /// The actual path created.
        path: String,
        /// The new node's Stat.
        stat: Stat,
    },
    /// type 2: no body.
    Delete,
    /// type 5: SetDataResponse.
    SetData {
        /// The node's new Stat.
        stat: Stat,
    },
    /// type 13: no body.
    Check,
    /// type 8 (multiRead): GetChildrenResponse.
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// type 4 (multiRead): GetDataResponse.
    GetData {
        /// The data; `None` for null data.
        data: Option<Vec<u8>>,
        /// The node's Stat.
        stat: Stat,
    },
    /// type -1: ErrorResponse. In a failed multi every result is an error: 0 before the failing
    /// op, its code at it, -2 (RUNTIMEINCONSISTENCY) after it (A.11).
    Error {
        /// KeeperException code.
        err: i32,
    },
}

impl OpResult {
    /// The result's MultiHeader `{type, false, err}` as ZooKeeper's MultiResponse writes it.
    pub fn header(&self) -> MultiHeader {
        let (op, err) = match self {
            OpResult::Create { .. } => (OpCode::Create, 0),
            OpResult::Create2 { .. } => (OpCode::Create2, 0),
            OpResult::Delete => (OpCode::Delete, 0),
            OpResult::SetData { .. } => (OpCode::SetData, 0),
            OpResult::Check => (OpCode::Check, 0),
            OpResult::GetChildren { .. } => (OpCode::GetChildren, 0),
            OpResult::GetData { .. } => (OpCode::GetData, 0),
            OpResult::Error { err } => (OpCode::Error, *err),
        };
        MultiHeader {
            op_type: op.as_i32(),
            done: false,
            err,
        }
    }

    fn encode_body<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            OpResult::Create { path } => w.write_string(path),
            OpResult::Create2 { path, stat } => {
                w.write_string(path);
                stat.encode(w);
            }
            OpResult::Delete | OpResult::Check => {}
            OpResult::SetData { stat } => stat.encode(w),
            OpResult::GetChildren { children } => w.write_strings(children),
            OpResult::GetData { data, stat } => {
                w.write_buffer(data.as_deref());
                stat.encode(w);
            }
            OpResult::Error { err } => w.write_int(*err),
        }
    }

    /// Decodes the body for a header's type (MultiResponse `deserialize`); an error result's
    /// code is taken from its body, as ZooKeeper does.
    fn decode_body(op_type: i32, r: &mut JuteReader<'_>) -> Result<OpResult, DecodeError> {
        let op = OpCode::from_i32(op_type).ok_or(DecodeError::InvalidMultiOp(op_type))?;
        Ok(match op {
            OpCode::Create => OpResult::Create {
                path: r.read_string("CreateResponse.path")?,
            },
            OpCode::Create2 => {
                let Create2Response { path, stat } = Create2Response::decode(r)?;
                OpResult::Create2 { path, stat }
            }
            OpCode::Delete => OpResult::Delete,
            OpCode::SetData => OpResult::SetData {
                stat: Stat::decode(r)?,
            },
            OpCode::Check => OpResult::Check,
            OpCode::GetChildren => OpResult::GetChildren {
                children: r.read_strings("children")?,
            },
            OpCode::GetData => {
                let GetDataResponse { data, stat } = GetDataResponse::decode(r)?;
                OpResult::GetData { data, stat }
            }
            OpCode::Error => OpResult::Error { err: r.read_int()? },
            _ => return Err(DecodeError::InvalidMultiOp(op_type)),
        })
    }
}

/// MultiResponse (opcodes 14, 22): `{type, false, err}` + body per result, then
/// [`MultiHeader::DONE`]. The outer ReplyHeader.err stays 0 even when the multi failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiResponse {
    /// One result per op, in order.
    pub results: Vec<OpResult>,
}

impl Record for MultiResponse {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        for result in &self.results {
            result.header().encode(w);
            result.encode_body(w);
        }
        MultiHeader::DONE.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let header = MultiHeader::decode(r)?;
            if header.done {
                return Ok(MultiResponse { results });
            }
            results.push(OpResult::decode_body(header.op_type, r)?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_terminator_is_type_minus_one_done_err_minus_one() {
        let bytes = MultiRequest::default().to_bytes();
        assert_eq!(bytes, [0xFF, 0xFF, 0xFF, 0xFF, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
        let bytes = MultiResponse::default().to_bytes();
        assert_eq!(bytes, [0xFF, 0xFF, 0xFF, 0xFF, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn failed_multi_results_carry_their_codes_in_header_and_body() {
        let resp = MultiResponse {
            results: vec![
                OpResult::Error { err: 0 },
                OpResult::Error { err: -103 },
                OpResult::Error { err: -2 },
            ],
        };
        let bytes = resp.to_bytes();
        // First result: header {-1, false, 0} + body 0.
        assert_eq!(
            &bytes[..13],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // Second: header err -103 (0xFFFFFF99) and body -103.
        assert_eq!(&bytes[13 + 5..13 + 9], &(-103i32).to_be_bytes());
        assert_eq!(&bytes[13 + 9..13 + 13], &(-103i32).to_be_bytes());
        assert_eq!(MultiResponse::from_bytes(&bytes), Ok(resp));
    }
}
