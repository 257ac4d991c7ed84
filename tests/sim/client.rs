//! A simulated ZooKeeper client: the real client protocol (ConnectRequest, request frames,
//! replies and notifications) through the crate's own codec (`zabkeeper::wire`), over a
//! simulated TCP stream.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;
use zabkeeper::wire::client::{
    write_request, ConnectRequest, ConnectResponse, CreateRequest, ReplyHeader, Request, Response,
    SetDataRequest, WatcherEvent, NOTIFICATION_XID,
};
use zabkeeper::wire::client::{DeleteRequest, GetDataRequest, SyncRequest};
use zabkeeper::wire::jute::Record;
use zabkeeper::wire::records::Acl;
use zabkeeper::wire::write_frame;

use crate::lin::{Call, Ret};

/// Longest a handshake or one request may take before the client gives up on the connection.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// ZooKeeper's error codes the clients expect.
const NO_NODE: i32 = -101;
const NODE_EXISTS: i32 = -110;
const BAD_VERSION: i32 = -103;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// One session on one connection.
pub struct Client {
    stream: TcpStream,
    /// The session's id.
    pub session_id: i64,
    /// The session's password (to resume it on another connection).
    pub passwd: Vec<u8>,
    next_xid: i32,
    /// Notifications read while waiting for replies, in arrival order, not yet taken.
    notes: Vec<WatcherEvent>,
}

/// What a handshake that resumes a session got.
pub enum Resumed {
    /// The session is live again on a new connection.
    Open(Client),
    /// The server answered that the session is expired (or unknown): timeout 0, session 0.
    Expired,
}

/// A reply as the connection got it, with the notifications that arrived before it.
pub struct Reply {
    /// The notifications read since the previous reply (they were queued before this reply).
    pub notes: Vec<WatcherEvent>,
    /// The reply header (its zxid: the txn's for a write, the server's last applied for a
    /// read).
    pub header: ReplyHeader,
    /// The decoded body (`None` on an error or an empty body).
    pub body: Option<Response>,
}

/// The answer to one call: the model's view, and the zxid the reply carried (0: none).
pub struct Answer {
    pub ret: Ret,
    /// The txn's zxid as the server reported it (create2's czxid, setData's mzxid).
    pub zxid: i64,
    /// The request's xid (a logged txn's cxid).
    pub xid: i32,
}

impl Client {
    /// Connects to `addr` and opens a new session.
    pub async fn connect(addr: SocketAddr, timeout_ms: i32) -> io::Result<Client> {
        match Client::handshake(addr, timeout_ms, 0, vec![0; 16]).await? {
            Resumed::Open(client) => Ok(client),
            Resumed::Expired => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "no session",
            )),
        }
    }

    /// Connects to `addr` and resumes session `session_id` (as a client does after losing its
    /// connection).
    pub async fn resume(
        addr: SocketAddr,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
    ) -> io::Result<Resumed> {
        Client::handshake(addr, timeout_ms, session_id, passwd).await
    }

    async fn handshake(
        addr: SocketAddr,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
    ) -> io::Result<Resumed> {
        let fut = async {
            let mut stream = TcpStream::connect(addr).await?;
            let req = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout_ms,
                session_id,
                passwd,
                read_only: Some(false),
            };
            let mut buf = Vec::new();
            write_frame(&mut buf, |w| req.encode(w));
            stream.write_all(&buf).await?;
            let payload = read_frame(&mut stream).await?;
            let resp = ConnectResponse::from_bytes(&payload).map_err(invalid)?;
            if resp.session_id == 0 || resp.timeout_ms <= 0 {
                return Ok(Resumed::Expired);
            }
            Ok(Resumed::Open(Client {
                stream,
                session_id: resp.session_id,
                passwd: resp.passwd.to_vec(),
                next_xid: 1,
                notes: Vec::new(),
            }))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake"))?
    }

    async fn call_raw(
        &mut self,
        req: &Request,
    ) -> io::Result<(i32, ReplyHeader, Option<Response>)> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let mut buf = Vec::new();
        write_request(&mut buf, xid, req);
        let op = req.opcode();
        let fut = async {
            self.stream.write_all(&buf).await?;
            loop {
                let payload = read_frame(&mut self.stream).await?;
                let header = ReplyHeader::from_bytes(&payload).map_err(invalid)?;
                if header.xid == NOTIFICATION_XID {
                    let event = WatcherEvent::from_bytes(&payload[16..]).map_err(invalid)?;
                    self.notes.push(event);
                    continue;
                }
                if header.xid != xid {
                    return Err(invalid(format!("reply xid {} for {xid}", header.xid)));
                }
                let body = &payload[16..];
                let body = if header.err == 0 && !body.is_empty() {
                    Some(Response::decode(op, body).map_err(invalid)?)
                } else {
                    None
                };
                return Ok((xid, header, body));
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request"))?
    }

    /// Sends `req` and waits for its reply; `Err`: the connection is unusable.
    pub async fn request(&mut self, req: &Request) -> io::Result<Reply> {
        let (_, header, body) = self.call_raw(req).await?;
        Ok(Reply {
            notes: std::mem::take(&mut self.notes),
            header,
            body,
        })
    }

    /// Connection loss in the middle of a write: sends `call` (not a read) on `path` and closes
    /// the connection without waiting for the reply, so its outcome stays unknown.
    pub async fn send_and_hang_up(mut self, path: &str, call: &Call) {
        let req = write_request_of(path, call);
        let mut buf = Vec::new();
        write_request(&mut buf, self.next_xid, &req);
        let _ = self.stream.write_all(&buf).await;
    }

    /// Performs `call` on `path`; `Err`: the connection is unusable (the outcome is unknown).
    pub async fn perform(&mut self, path: &str, call: &Call) -> io::Result<Answer> {
        let req = match call {
            Call::Create { .. } | Call::Set { .. } | Call::Delete => write_request_of(path, call),
            Call::Read => {
                let (_, h, _) = self
                    .call_raw(&Request::Sync(SyncRequest { path: path.into() }))
                    .await?;
                if h.err != 0 && h.err != NO_NODE {
                    return Err(invalid(format!("sync failed: {}", h.err)));
                }
                Request::GetData(GetDataRequest {
                    path: path.into(),
                    watch: false,
                })
            }
        };
        let (xid, h, body) = self.call_raw(&req).await?;
        let ret = match (h.err, body) {
            (0, Some(Response::Create2(r))) => {
                return Ok(Answer {
                    ret: Ret::Ok,
                    zxid: r.stat.czxid,
                    xid,
                })
            }
            (0, Some(Response::Stat(r))) => {
                return Ok(Answer {
                    ret: Ret::Version(r.stat.version),
                    zxid: r.stat.mzxid,
                    xid,
                })
            }
            (0, Some(Response::GetData(r))) => {
                let text = r.data.unwrap_or_default();
                let value = String::from_utf8_lossy(&text)
                    .parse::<u64>()
                    .map_err(|_| invalid("data is not a value"))?;
                Ret::Value {
                    value,
                    version: r.stat.version,
                }
            }
            (0, None) if matches!(call, Call::Delete) => Ret::Ok,
            (NO_NODE, _) => Ret::NoNode,
            (NODE_EXISTS, _) => Ret::NodeExists,
            (BAD_VERSION, _) => Ret::BadVersion,
            (err, _) => return Err(invalid(format!("error {err}"))),
        };
        Ok(Answer { ret, zxid: 0, xid })
    }
}

/// The request a write call sends.
fn write_request_of(path: &str, call: &Call) -> Request {
    let data = |v: &u64| Some(v.to_string().into_bytes());
    match call {
        Call::Create { value } => Request::Create2(CreateRequest {
            path: path.into(),
            data: data(value),
            acl: Acl::open_unsafe(),
            flags: 0,
        }),
        Call::Set { value, version } => Request::SetData(SetDataRequest {
            path: path.into(),
            data: data(value),
            version: *version,
        }),
        Call::Delete | Call::Read => Request::Delete(DeleteRequest {
            path: path.into(),
            version: -1,
        }),
    }
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let len = i32::from_be_bytes(prefix);
    if !(0..=1 << 20).contains(&len) {
        return Err(invalid(format!("frame length {len}")));
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}
