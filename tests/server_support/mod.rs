//! Test support for the loopback server tests: start the real `zabkeeper` binary on 127.0.0.1
//! with a free port and a temporary data directory, wait for readiness by polling `ruok`
//! (bounded), kill it by PID on drop; and a small blocking client over `zabkeeper::wire`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zabkeeper::wire::client::{
    write_request, ConnectRequest, ConnectResponse, OpCode, ReplyHeader, Request, Response,
    WatcherEvent, NOTIFICATION_XID,
};
use zabkeeper::wire::jute::Record;
use zabkeeper::wire::write_frame;

/// Longest any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A running server process; killed (SIGKILL) and reaped on drop.
pub struct ServerProcess {
    child: Option<Child>,
    /// Client port.
    pub port: u16,
    /// Data directory (kept across restarts).
    pub data_dir: PathBuf,
    /// The zoo.cfg it runs with (rewritten at every start).
    cfg: String,
}

/// A fresh empty directory under Cargo's per-target temp dir, unique per test; removed when the
/// server using it is dropped, unless the test failed (then it is kept for the post-mortem).
pub fn temp_dir(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A port on 127.0.0.1 that was free a moment ago (the OS picked it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Sends a four-letter word and returns the whole reply.
pub fn four_letter(port: u16, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(WAIT))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

impl ServerProcess {
    /// Starts a standalone server in `data_dir` with `tickTime = tick_ms` and extra zoo.cfg
    /// lines.
    pub fn start(data_dir: &Path, tick_ms: u32, cfg_extra: &[&str]) -> ServerProcess {
        let port = free_port();
        let mut cfg = format!(
            "tickTime={tick_ms}\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=*\nmaxClientCnxns=0\n",
            data_dir.join("data").display(),
        );
        for l in cfg_extra {
            cfg.push_str(l);
            cfg.push('\n');
        }
        ServerProcess::start_with_config(data_dir, port, cfg)
    }

    /// Starts a server in `data_dir` from the zoo.cfg text `cfg` (written to
    /// `data_dir/zoo.cfg`), which must make it serve four-letter words on 127.0.0.1:`port`
    /// (an ensemble member's answer while it elects, too).
    pub fn start_with_config(data_dir: &Path, port: u16, cfg: String) -> ServerProcess {
        let mut s = ServerProcess {
            child: None,
            port,
            data_dir: data_dir.to_path_buf(),
            cfg,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let cfg = self.data_dir.join("zoo.cfg");
        std::fs::write(&cfg, &self.cfg).expect("write zoo.cfg");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("server.log"))
            .expect("open server log");
        let child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("spawn zabkeeper");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("server exited early with {status}; log:\n{}", self.log());
            }
            if four_letter(self.port, "ruok")
                .map(|r| r == "imok")
                .unwrap_or(false)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let pid = c.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process runs (started and not killed by the test).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A blocking ZooKeeper client over the wire codecs; notifications are buffered.
pub struct Client {
    sock: TcpStream,
    /// Session id.
    pub session_id: i64,
    /// Session password.
    pub passwd: [u8; 16],
    /// Negotiated timeout.
    pub timeout_ms: i32,
    next_xid: i32,
    /// Notifications received, in order.
    pub events: Vec<WatcherEvent>,
    /// Every frame's xid in arrival order (ordering checks).
    pub arrivals: Vec<i32>,
}

/// A reply: header and decoded body (when err == 0 and the op has one).
#[derive(Debug)]
pub struct Reply {
    /// The header.
    pub header: ReplyHeader,
    /// The body.
    pub body: Option<Response>,
}

impl Client {
    /// Connects and creates a new session.
    pub fn connect(port: u16, timeout_ms: i32) -> std::io::Result<Client> {
        Client::resume(port, timeout_ms, 0, [0; 16])
    }

    /// Connects with an existing session id and password (id 0 = new session).
    pub fn resume(
        port: u16,
        timeout_ms: i32,
        session_id: i64,
        passwd: [u8; 16],
    ) -> std::io::Result<Client> {
        let sock = TcpStream::connect(("127.0.0.1", port))?;
        Client::handshake(sock, timeout_ms, session_id, passwd)
    }

    /// Sends a ConnectRequest on an open socket and reads the ConnectResponse.
    pub fn handshake(
        mut sock: TcpStream,
        timeout_ms: i32,
        session_id: i64,
        passwd: [u8; 16],
    ) -> std::io::Result<Client> {
        sock.set_read_timeout(Some(WAIT))?;
        sock.set_nodelay(true)?;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id,
            passwd: passwd.to_vec(),
            read_only: Some(false),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, |w| req.encode(w));
        sock.write_all(&buf)?;
        let payload = read_frame(&mut sock)?;
        let resp = ConnectResponse::from_bytes(&payload).map_err(invalid)?;
        Ok(Client {
            sock,
            session_id: resp.session_id,
            passwd: resp.passwd,
            timeout_ms: resp.timeout_ms,
            next_xid: 1,
            events: Vec::new(),
            arrivals: Vec::new(),
        })
    }

    /// Sends a request and waits for its reply, buffering notifications that come first.
    pub fn call(&mut self, req: &Request) -> std::io::Result<Reply> {
        let xid = req.special_xid().unwrap_or_else(|| {
            let x = self.next_xid;
            self.next_xid += 1;
            x
        });
        self.send(xid, req)?;
        self.wait_reply(xid, req.opcode())
    }

    /// Sends without waiting.
    pub fn send(&mut self, xid: i32, req: &Request) -> std::io::Result<()> {
        let mut buf = Vec::new();
        write_request(&mut buf, xid, req);
        self.sock.write_all(&buf)
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// Reads frames until the reply to `xid`.
    pub fn wait_reply(&mut self, xid: i32, op: OpCode) -> std::io::Result<Reply> {
        loop {
            let payload = read_frame(&mut self.sock)?;
            let header = ReplyHeader::from_bytes(&payload).map_err(invalid)?;
            self.arrivals.push(header.xid);
            let body = &payload[16..];
            if header.xid == NOTIFICATION_XID {
                self.events
                    .push(WatcherEvent::from_bytes(body).map_err(invalid)?);
                continue;
            }
            if header.xid != xid {
                return Err(invalid(format!(
                    "reply xid {} while waiting for {xid}",
                    header.xid
                )));
            }
            let body = if header.err == 0 && !body.is_empty() {
                Some(Response::decode(op, body).map_err(invalid)?)
            } else {
                None
            };
            return Ok(Reply { header, body });
        }
    }

    /// Waits (bounded by the socket timeout) until at least `n` notifications arrived.
    pub fn wait_events(&mut self, n: usize) -> std::io::Result<()> {
        while self.events.len() < n {
            let payload = read_frame(&mut self.sock)?;
            let header = ReplyHeader::from_bytes(&payload).map_err(invalid)?;
            self.arrivals.push(header.xid);
            if header.xid == NOTIFICATION_XID {
                self.events
                    .push(WatcherEvent::from_bytes(&payload[16..]).map_err(invalid)?);
            }
        }
        Ok(())
    }

    /// Whether the server closed the connection (reads until EOF, bounded).
    pub fn closed_by_server(&mut self) -> bool {
        closed_by_server(&mut self.sock)
    }
}

/// A blocking TCP connection to `127.0.0.1:port` from the local address `source` (any address
/// in 127.0.0.0/8 on Linux), so a test can own a client IP no other connection uses.
pub fn connect_from(source: &str, port: u16) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(format!("{source}:0").parse().map_err(invalid)?)?;
        socket
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(WAIT))?;
    Ok(stream)
}

/// Whether the server closed `sock`: reads until EOF or reset, bounded by the socket's read
/// timeout (false when it expires with the connection still open).
pub fn closed_by_server(sock: &mut TcpStream) -> bool {
    let mut b = [0u8; 1024];
    loop {
        match sock.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// Reads one length-prefixed frame.
pub fn read_frame(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    sock.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if !(0..=64 * 1024 * 1024).contains(&n) {
        return Err(invalid(format!("bad frame length {n}")));
    }
    let mut payload = vec![0u8; n as usize];
    sock.read_exact(&mut payload)?;
    Ok(payload)
}
