//! Loopback tests of `server::peers`: real TCP on 127.0.0.1 with OS-chosen ports, through a
//! test `Transport` that records every stream (so connections are counted independently of
//! `PeerNet`'s own view) and can kill one as a network failure would (`shutdown(Both)` on the
//! socket). Every wait is bounded by `WAIT`; nothing sleeps except the poll interval of a
//! condition wait.

use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Barrier};
use tokio::time::{timeout, Instant};

use bytes::BytesMut;
use zabkeeper::protocol::{Epoch, Input, PeerMsg, PeerState, ServerId, Vote, Zxid};
use zabkeeper::server::peers::{
    Link, LinkState, Member, PeerEvent, PeerListeners, PeerNet, PeerNetConfig, SendError,
};
use zabkeeper::server::transport::{Listener, Transport};
use zabkeeper::wire::peer::{
    decode_frame, encode_hello, encode_msg, Frame, Hello, LearnerType, ELECTION_FRAME_MAX,
    QUORUM_FRAME_MAX,
};

/// Longest any single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// A recording, killable transport
// ---------------------------------------------------------------------------------------------

/// One stream some node opened or accepted.
struct Record {
    owner: u64,
    dialed: bool,
    local: SocketAddr,
    peer: SocketAddr,
    /// A second handle on the socket, alive exactly as long as the stream.
    socket: Weak<std::net::TcpStream>,
}

impl Record {
    fn alive(&self) -> bool {
        self.socket.strong_count() > 0
    }
}

#[derive(Default)]
struct Registry {
    records: Mutex<Vec<Record>>,
}

impl Registry {
    fn wrap(&self, owner: u64, dialed: bool, stream: TcpStream) -> io::Result<TestStream> {
        let std = stream.into_std()?;
        let socket = Arc::new(std.try_clone()?);
        let inner = TcpStream::from_std(std)?;
        self.records.lock().unwrap().push(Record {
            owner,
            dialed,
            local: inner.local_addr()?,
            peer: inner.peer_addr()?,
            socket: Arc::downgrade(&socket),
        });
        Ok(TestStream {
            inner,
            _socket: socket,
        })
    }

    /// Live connections touching `port_addrs` (the election ports, say), as
    /// `(dialler, acceptor, both ends alive)`.
    fn connections(&self, port_addrs: &BTreeMap<SocketAddr, u64>) -> Vec<(u64, u64, bool)> {
        let records = self.records.lock().unwrap();
        let mut out = Vec::new();
        for d in records.iter().filter(|r| r.dialed) {
            let Some(&acceptor) = port_addrs.get(&d.peer) else {
                continue;
            };
            let accepted = records
                .iter()
                .find(|a| !a.dialed && a.local == d.peer && a.peer == d.local);
            let accepted_alive = accepted.is_some_and(Record::alive);
            if d.alive() || accepted_alive {
                out.push((d.owner, acceptor, d.alive() && accepted_alive));
            }
        }
        out.sort_unstable();
        out
    }

    /// Shuts down, as a failed network would, every live stream `owner` dialled to `to`.
    fn kill(&self, owner: u64, to: SocketAddr) -> usize {
        let records = self.records.lock().unwrap();
        let mut killed = 0;
        for r in records
            .iter()
            .filter(|r| r.owner == owner && r.dialed && r.peer == to)
        {
            if let Some(socket) = r.socket.upgrade() {
                socket.shutdown(Shutdown::Both).expect("shutdown");
                killed += 1;
            }
        }
        killed
    }

    fn dials(&self, owner: u64) -> usize {
        let records = self.records.lock().unwrap();
        records
            .iter()
            .filter(|r| r.owner == owner && r.dialed)
            .count()
    }
}

struct TestStream {
    inner: TcpStream,
    _socket: Arc<std::net::TcpStream>,
}

impl AsyncRead for TestStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

struct TestListener {
    inner: TcpListener,
    owner: u64,
    registry: Arc<Registry>,
}

impl Listener for TestListener {
    type Stream = TestStream;

    async fn accept(&mut self) -> io::Result<(TestStream, SocketAddr)> {
        let (stream, from) = self.inner.accept().await?;
        Ok((self.registry.wrap(self.owner, false, stream)?, from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[derive(Clone)]
struct TestTransport {
    owner: u64,
    registry: Arc<Registry>,
    /// If set, the first dial waits here (to line up dials from both ends).
    gate: Arc<Mutex<Option<Arc<Barrier>>>>,
}

impl Transport for TestTransport {
    type Stream = TestStream;
    type Listener = TestListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TestListener> {
        Ok(TestListener {
            inner: TcpListener::bind(addr).await?,
            owner: self.owner,
            registry: self.registry.clone(),
        })
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TestStream> {
        let gate = self.gate.lock().unwrap().take();
        if let Some(barrier) = gate {
            barrier.wait().await;
        }
        let stream = TcpStream::connect(addr).await?;
        self.registry.wrap(self.owner, true, stream)
    }
}

// ---------------------------------------------------------------------------------------------
// A small ensemble
// ---------------------------------------------------------------------------------------------

struct Node {
    sid: u64,
    net: PeerNet,
    inbox: mpsc::Receiver<PeerEvent>,
}

struct Ensemble {
    nodes: BTreeMap<u64, Node>,
    members: BTreeMap<ServerId, Member>,
    registry: Arc<Registry>,
}

fn sid(n: u64) -> ServerId {
    ServerId(n)
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn test_config(me: u64, members: &BTreeMap<ServerId, Member>) -> PeerNetConfig {
    let mut config = PeerNetConfig::new(sid(me), members.clone());
    // The smaller sid prompts only after this; the larger dials at once, so on loopback its dial
    // lands first (even on a loaded machine) and the tests see no churn unless they ask for it.
    config.backoff_min = Duration::from_secs(1);
    config.backoff_max = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(5);
    config
}

impl Ensemble {
    /// Binds every server's ports, then starts them all. `gate` lines up the first dial of the
    /// servers it names.
    async fn start(
        spec: &[(u64, LearnerType)],
        gate: &[u64],
        tweak: impl Fn(&mut PeerNetConfig),
    ) -> Ensemble {
        let registry = Arc::new(Registry::default());
        let barrier = Arc::new(Barrier::new(gate.len().max(1)));
        let mut bound = Vec::new();
        let mut members = BTreeMap::new();
        for &(n, learner) in spec {
            let transport = TestTransport {
                owner: n,
                registry: registry.clone(),
                gate: Arc::new(Mutex::new(gate.contains(&n).then(|| barrier.clone()))),
            };
            let listeners = PeerListeners::bind(&transport, loopback(), loopback())
                .await
                .expect("bind 127.0.0.1:0");
            members.insert(
                sid(n),
                Member {
                    election_addr: listeners.election_addr().unwrap(),
                    quorum_addr: listeners.quorum_addr().unwrap(),
                    learner,
                },
            );
            bound.push((n, transport, listeners));
        }
        let mut nodes = BTreeMap::new();
        for (n, transport, listeners) in bound {
            let (tx, rx) = mpsc::channel(8192);
            let mut config = test_config(n, &members);
            tweak(&mut config);
            let net = PeerNet::start(transport, config, listeners, tx).expect("start");
            nodes.insert(
                n,
                Node {
                    sid: n,
                    net,
                    inbox: rx,
                },
            );
        }
        Ensemble {
            nodes,
            members,
            registry,
        }
    }

    async fn voters(sids: &[u64]) -> Ensemble {
        let spec: Vec<_> = sids
            .iter()
            .map(|&n| (n, LearnerType::Participant))
            .collect();
        Ensemble::start(&spec, &[], |_| {}).await
    }

    fn node(&mut self, n: u64) -> &mut Node {
        self.nodes.get_mut(&n).expect("node")
    }

    fn election_ports(&self) -> BTreeMap<SocketAddr, u64> {
        self.members
            .iter()
            .map(|(s, m)| (m.election_addr, s.0))
            .collect()
    }

    fn quorum_ports(&self) -> BTreeMap<SocketAddr, u64> {
        self.members
            .iter()
            .map(|(s, m)| (m.quorum_addr, s.0))
            .collect()
    }

    async fn shutdown(self) {
        for (_, node) in self.nodes {
            node.net.shutdown().await;
        }
    }
}

fn notification(from: u64, round: u64) -> PeerMsg {
    PeerMsg::Notification {
        state: PeerState::Looking,
        vote: Vote {
            epoch: Epoch(1),
            zxid: Zxid(0x1_0000_0000 + from),
            sid: sid(from),
        },
        round,
    }
}

impl Node {
    async fn next_event(&mut self) -> PeerEvent {
        match timeout(WAIT, self.inbox.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("s{}: inbox closed", self.sid),
            Err(_) => panic!("s{}: no event within {WAIT:?}", self.sid),
        }
    }

    /// The next event on `link`; a `Lost` of the other link on the way is acknowledged (these
    /// tests exercise one link and must not depend on the other's timing).
    async fn next_on(&mut self, link: Link) -> PeerEvent {
        loop {
            match self.next_event().await {
                PeerEvent::Lost { peer, link: other } if other != link => {
                    self.net.acknowledge_lost(peer, other);
                }
                event => return event,
            }
        }
    }

    /// The next message; a `Lost` on the way is acknowledged and `resend` is called for it (the
    /// way the core resends after `PeerLost`).
    async fn next_message(&mut self, mut resend: impl FnMut(&PeerNet, ServerId)) -> (u64, PeerMsg) {
        loop {
            match self.next_event().await {
                PeerEvent::Message { from, msg, .. } => return (from.0, msg),
                PeerEvent::Lost { peer, link } => {
                    self.net.acknowledge_lost(peer, link);
                    resend(&self.net, peer);
                }
            }
        }
    }
}

impl Node {
    /// Sends `msg`; while the link is fenced, first takes the pending `Lost` from the inbox.
    async fn send_settled(&mut self, to: u64, msg: PeerMsg) {
        loop {
            match self.net.send(sid(to), msg.clone()) {
                Ok(()) => return,
                Err(SendError::Fenced(_)) => match self.next_event().await {
                    PeerEvent::Lost { peer, link } => self.net.acknowledge_lost(peer, link),
                    other => panic!("s{}: {other:?} while fenced", self.sid),
                },
                Err(e) => panic!("s{}: {e}", self.sid),
            }
        }
    }
}

/// Polls `cond` until it holds; fails the test after `WAIT`.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn until_up(ens: &Ensemble, a: u64, b: u64, link: Link) {
    until(&format!("{link:?} link s{a}–s{b} up"), || {
        ens.nodes[&a].net.link_state(sid(b), link) == Some(LinkState::Up)
            && ens.nodes[&b].net.link_state(sid(a), link) == Some(LinkState::Up)
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_exchange_notifications_over_one_connection_per_pair() {
    let mut ens = Ensemble::voters(&[1, 2, 3]).await;
    for a in 1..=3u64 {
        for b in (1..=3u64).filter(|&b| b != a) {
            ens.node(a)
                .net
                .send(sid(b), notification(a, 10 * a + b))
                .unwrap();
        }
    }
    for b in 1..=3u64 {
        let mut got = BTreeMap::new();
        while got.len() < 2 {
            let (from, msg) = ens
                .node(b)
                .next_message(|_, _| panic!("no link breaks here"))
                .await;
            assert!(
                got.insert(from, msg).is_none(),
                "one notification from s{from}"
            );
        }
        let want: BTreeMap<u64, PeerMsg> = (1..=3u64)
            .filter(|&a| a != b)
            .map(|a| (a, notification(a, 10 * a + b)))
            .collect();
        assert_eq!(got, want, "what s{b} received");
    }
    let ports = ens.election_ports();
    until("one election connection per pair", || {
        ens.registry.connections(&ports) == vec![(2, 1, true), (3, 1, true), (3, 2, true)]
    })
    .await;
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_in_both_directions_end_with_one_connection() {
    for round in 0..5 {
        let spec = [(1, LearnerType::Participant), (2, LearnerType::Participant)];
        // Both servers' first dials wait for each other, then go at once.
        let mut ens = Ensemble::start(&spec, &[1, 2], |c| {
            c.backoff_min = Duration::from_millis(100);
        })
        .await;
        let ports = ens.election_ports();
        until("both directions dialled", || {
            ens.registry.dials(1) >= 1 && ens.registry.dials(2) >= 1
        })
        .await;
        // ZooKeeper's rule: only the connection dialled by the larger sid survives.
        until(
            &format!("round {round}: one connection, dialled by s2"),
            || ens.registry.connections(&ports) == vec![(2, 1, true)],
        )
        .await;
        until_up(&ens, 1, 2, Link::Election).await;
        // It carries messages both ways. The start-up race may have cost each side a Lost; a
        // driver takes it from its inbox, as `send_settled` and `next_message` do.
        for (a, b) in [(1, 2), (2, 1)] {
            ens.node(a).send_settled(b, notification(a, 7)).await;
            // A Lost still in b's inbox is from the start-up race: the probe went out on the
            // surviving connection, so it arrives (a break now would time the wait out).
            let got = ens.node(b).next_message(|_, _| {}).await;
            assert_eq!(got, (a, notification(a, 7)));
        }
        assert_eq!(ens.registry.connections(&ports), vec![(2, 1, true)]);
        ens.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_election_link_is_lost_on_both_sides_and_comes_back() {
    let mut ens = Ensemble::voters(&[1, 2]).await;
    until_up(&ens, 1, 2, Link::Election).await;
    let ports = ens.election_ports();
    assert_eq!(ens.registry.connections(&ports), vec![(2, 1, true)]);

    let s1_election = ens.members[&sid(1)].election_addr;
    assert_eq!(ens.registry.kill(2, s1_election), 1);
    for (me, peer) in [(1, 2), (2, 1)] {
        let event = ens.node(me).next_event().await;
        assert_eq!(
            event,
            PeerEvent::Lost {
                peer: sid(peer),
                link: Link::Election
            },
            "s{me}"
        );
    }
    // The fence: until the driver has taken the Lost, nothing more is sent to that peer.
    assert_eq!(
        ens.node(2).net.send(sid(1), notification(2, 1)),
        Err(SendError::Fenced(sid(1)))
    );
    let input = ens.node(2).net.to_input(PeerEvent::Lost {
        peer: sid(1),
        link: Link::Election,
    });
    assert_eq!(input, Input::PeerLost(sid(1)));
    ens.node(1).net.acknowledge_lost(sid(2), Link::Election);

    // Sent right away, while the link may still be down: queued, then delivered on the new
    // connection, and nothing sent before the break arrives after it.
    ens.node(2).net.send(sid(1), notification(2, 2)).unwrap();
    ens.node(1).net.send(sid(2), notification(1, 2)).unwrap();
    assert_eq!(
        ens.node(1).next_event().await,
        PeerEvent::Message {
            from: sid(2),
            link: Link::Election,
            msg: notification(2, 2)
        }
    );
    assert_eq!(
        ens.node(2).next_event().await,
        PeerEvent::Message {
            from: sid(1),
            link: Link::Election,
            msg: notification(1, 2)
        }
    );
    until("exactly the new connection", || {
        ens.registry.connections(&ports) == vec![(2, 1, true)]
    })
    .await;
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_quorum_link_is_lost_on_both_sides_and_the_learner_reconnects() {
    let mut ens = Ensemble::voters(&[1, 2]).await;
    // s2 follows s1. The FOLLOWERINFO waits in the queue while the dial is under way.
    ens.node(2).net.connect_to_leader(sid(1)).unwrap();
    let info = PeerMsg::FollowerInfo {
        accepted_epoch: Epoch(3),
        observer: false,
    };
    ens.node(2).net.send(sid(1), info.clone()).unwrap();
    assert_eq!(
        ens.node(1).next_on(Link::Quorum).await,
        PeerEvent::Message {
            from: sid(2),
            link: Link::Quorum,
            msg: info.clone()
        }
    );
    let leader_info = PeerMsg::LeaderInfo { epoch: Epoch(4) };
    ens.node(1).net.send(sid(2), leader_info.clone()).unwrap();
    assert_eq!(
        ens.node(2).next_on(Link::Quorum).await,
        PeerEvent::Message {
            from: sid(1),
            link: Link::Quorum,
            msg: leader_info.clone()
        }
    );

    let s1_quorum = ens.members[&sid(1)].quorum_addr;
    assert_eq!(ens.registry.kill(2, s1_quorum), 1);
    for (me, peer) in [(1, 2), (2, 1)] {
        assert_eq!(
            ens.node(me).next_on(Link::Quorum).await,
            PeerEvent::Lost {
                peer: sid(peer),
                link: Link::Quorum
            },
            "s{me}"
        );
        ens.node(me).net.acknowledge_lost(sid(peer), Link::Quorum);
    }
    // Nothing redials a quorum link by itself; the leader cannot reach a learner that left.
    assert_eq!(
        ens.node(2).net.link_state(sid(1), Link::Quorum),
        Some(LinkState::Down)
    );
    assert_eq!(
        ens.node(1).net.send(sid(2), PeerMsg::Ping { round: 0 }),
        Err(SendError::NotConnected(sid(2)))
    );
    ens.node(2).net.connect_to_leader(sid(1)).unwrap();
    ens.node(2).net.send(sid(1), info.clone()).unwrap();
    assert_eq!(
        ens.node(1).next_on(Link::Quorum).await,
        PeerEvent::Message {
            from: sid(2),
            link: Link::Quorum,
            msg: info
        }
    );
    let ports = ens.quorum_ports();
    until("one quorum connection", || {
        ens.registry.connections(&ports) == vec![(2, 1, true)]
    })
    .await;
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_is_reported_to_the_other_end_only() {
    let mut ens = Ensemble::voters(&[1, 2]).await;
    ens.node(2).net.connect_to_leader(sid(1)).unwrap();
    until_up(&ens, 1, 2, Link::Quorum).await;
    ens.node(1).net.disconnect(sid(2)).unwrap();
    assert_eq!(
        ens.node(2).next_on(Link::Quorum).await,
        PeerEvent::Lost {
            peer: sid(1),
            link: Link::Quorum
        }
    );
    ens.node(2).net.acknowledge_lost(sid(1), Link::Quorum);
    ens.node(2).net.connect_to_leader(sid(1)).unwrap();
    ens.node(2)
        .net
        .send(sid(1), PeerMsg::Ping { round: 0 })
        .unwrap();
    // The leader's next event is the new connection's first message: no Lost of its own.
    assert_eq!(
        ens.node(1).next_on(Link::Quorum).await,
        PeerEvent::Message {
            from: sid(2),
            link: Link::Quorum,
            msg: PeerMsg::Ping { round: 0 }
        }
    );
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_per_link_arrive_in_order() {
    const N: u64 = 1000;
    let mut ens = Ensemble::voters(&[1, 2]).await;
    until_up(&ens, 1, 2, Link::Election).await;
    ens.node(2).net.connect_to_leader(sid(1)).unwrap();
    until_up(&ens, 1, 2, Link::Quorum).await;
    for i in 0..N {
        ens.node(1).net.send(sid(2), notification(1, i)).unwrap();
        ens.node(2).net.send(sid(1), notification(2, i)).unwrap();
        ens.node(1)
            .net
            .send(sid(2), PeerMsg::Commit { zxid: Zxid(i) })
            .unwrap();
        ens.node(2)
            .net
            .send(sid(1), PeerMsg::Ack { zxid: Zxid(i) })
            .unwrap();
    }
    for (me, peer) in [(1u64, 2u64), (2, 1)] {
        let mut election = Vec::new();
        let mut quorum = Vec::new();
        while election.len() < N as usize || quorum.len() < N as usize {
            match ens.node(me).next_event().await {
                PeerEvent::Message { from, link, msg } => {
                    assert_eq!(from, sid(peer));
                    match link {
                        Link::Election => election.push(msg),
                        Link::Quorum => quorum.push(msg),
                    }
                }
                lost => panic!("s{me}: {lost:?}"),
            }
        }
        let want_election: Vec<PeerMsg> = (0..N).map(|i| notification(peer, i)).collect();
        let want_quorum: Vec<PeerMsg> = (0..N)
            .map(|i| match me {
                2 => PeerMsg::Commit { zxid: Zxid(i) },
                _ => PeerMsg::Ack { zxid: Zxid(i) },
            })
            .collect();
        assert!(election == want_election, "s{me}: election order");
        assert!(quorum == want_quorum, "s{me}: quorum order");
    }
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_link_to_voters_and_follow_as_observers() {
    // s1 is an observer with the smallest sid: its dials only prompt, the voters dial back.
    let spec = [
        (1, LearnerType::Observer),
        (2, LearnerType::Participant),
        (3, LearnerType::Participant),
    ];
    let mut ens = Ensemble::start(&spec, &[], |c| c.backoff_min = Duration::from_millis(200)).await;
    for voter in [2, 3] {
        ens.node(1)
            .net
            .send(sid(voter), notification(1, 5))
            .unwrap();
        let (from, msg) = ens
            .node(voter)
            .next_message(|_, _| panic!("no link breaks here"))
            .await;
        assert_eq!((from, msg), (1, notification(1, 5)));
        ens.node(voter)
            .net
            .send(sid(1), notification(voter, 6))
            .unwrap();
        let (from, msg) = ens
            .node(1)
            .next_message(|_, _| panic!("no link breaks here"))
            .await;
        assert_eq!((from, msg), (voter, notification(voter, 6)));
    }
    let ports = ens.election_ports();
    until("voters dialled the observer back", || {
        ens.registry.connections(&ports) == vec![(2, 1, true), (3, 1, true), (3, 2, true)]
    })
    .await;
    ens.node(1).net.connect_to_leader(sid(3)).unwrap();
    let info = PeerMsg::FollowerInfo {
        accepted_epoch: Epoch(1),
        observer: true,
    };
    ens.node(1).net.send(sid(3), info.clone()).unwrap();
    let (from, msg) = ens.node(3).next_message(|_, _| panic!("no loss")).await;
    assert_eq!((from, msg), (1, info));
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_counts_as_a_lost_link() {
    // s1's ports are bound but s1 never starts: s2's election link to it stays down and queues.
    let spec = [(1, LearnerType::Participant), (2, LearnerType::Participant)];
    let mut ens = Ensemble::start(&spec, &[], |c| c.queue_capacity = 3).await;
    let s1 = ens.nodes.remove(&1).unwrap();
    s1.net.shutdown().await;
    for i in 0..3 {
        ens.node(2).net.send(sid(1), notification(2, i)).unwrap();
    }
    assert_eq!(
        ens.node(2).net.send(sid(1), notification(2, 3)),
        Err(SendError::QueueFull(sid(1)))
    );
    assert_eq!(
        ens.node(2).next_event().await,
        PeerEvent::Lost {
            peer: sid(1),
            link: Link::Election
        }
    );
    assert_eq!(
        ens.node(2).net.send(sid(1), notification(2, 4)),
        Err(SendError::Fenced(sid(1)))
    );
    ens.node(2).net.acknowledge_lost(sid(1), Link::Election);
    ens.node(2).net.send(sid(1), notification(2, 5)).unwrap();
    ens.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_that_cannot_reach_its_leader_reports_the_link_lost() {
    let spec = [(1, LearnerType::Participant), (2, LearnerType::Participant)];
    let mut ens = Ensemble::start(&spec, &[], |c| {
        c.backoff_min = Duration::from_millis(10);
        c.learner_connect_attempts = 3;
    })
    .await;
    let s2 = ens.nodes.remove(&2).unwrap();
    s2.net.shutdown().await; // its ports close
    ens.node(1).net.connect_to_leader(sid(2)).unwrap();
    assert_eq!(
        ens.node(1).net.link_state(sid(2), Link::Quorum),
        Some(LinkState::Connecting)
    );
    ens.node(1)
        .net
        .send(sid(2), PeerMsg::Ping { round: 0 })
        .unwrap();
    assert_eq!(
        ens.node(1).next_on(Link::Quorum).await,
        PeerEvent::Lost {
            peer: sid(2),
            link: Link::Quorum
        }
    );
    ens.node(1).net.acknowledge_lost(sid(2), Link::Quorum);
    assert_eq!(
        ens.node(1).net.send(sid(2), PeerMsg::Ping { round: 0 }),
        Err(SendError::NotConnected(sid(2)))
    );
    ens.shutdown().await;
}

// ----- hostile or broken peers, spoken to with raw sockets -----------------------------------

async fn raw_hello(addr: SocketAddr, hello: Option<Hello>, extra: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    if let Some(h) = hello {
        encode_hello(&mut buf, &h);
    }
    buf.extend_from_slice(extra);
    stream.write_all(&buf).await.unwrap();
    stream
}

/// Reads until the server closes the connection; fails the test if it does not within `WAIT`.
async fn closed_by_server(mut stream: TcpStream) {
    let mut sink = Vec::new();
    match timeout(WAIT, stream.read_to_end(&mut sink)).await {
        Ok(Ok(_)) | Ok(Err(_)) => {}
        Err(_) => panic!("the server kept the connection open"),
    }
}

fn msg_bytes(msg: &PeerMsg) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_msg(&mut buf, msg, ELECTION_FRAME_MAX).unwrap();
    buf.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_are_refused_and_a_raw_peer_is_spoken_to_in_the_codec() {
    // s1 runs; s2 and s3 are configured but never started: the test speaks for them.
    let spec = [
        (1, LearnerType::Participant),
        (2, LearnerType::Participant),
        (3, LearnerType::Participant),
    ];
    let mut ens = Ensemble::start(&spec, &[], |_| {}).await;
    for n in [2, 3] {
        ens.nodes.remove(&n).unwrap().net.shutdown().await;
    }
    let election = ens.members[&sid(1)].election_addr;
    let quorum = ens.members[&sid(1)].quorum_addr;
    let refused = [
        (election, Some(Hello::Election { sid: sid(99) }), vec![]),
        (election, Some(Hello::Election { sid: sid(1) }), vec![]),
        (
            election,
            Some(Hello::Quorum {
                sid: sid(2),
                learner: LearnerType::Participant,
            }),
            vec![],
        ),
        (election, None, msg_bytes(&PeerMsg::Ping { round: 0 })),
        (election, None, vec![0xFF; 8]),
        (
            quorum,
            Some(Hello::Quorum {
                sid: sid(2),
                learner: LearnerType::Observer,
            }),
            vec![],
        ),
        (quorum, Some(Hello::Election { sid: sid(2) }), vec![]),
    ];
    for (addr, hello, extra) in refused {
        closed_by_server(raw_hello(addr, hello, &extra).await).await;
    }

    // A well-formed peer (s3 > s1, so its connection is kept): s1 delivers its notification and
    // writes its own in the same codec.
    let mut s3 = raw_hello(
        election,
        Some(Hello::Election { sid: sid(3) }),
        &msg_bytes(&notification(3, 1)),
    )
    .await;
    // On a slow machine s2's or s3's own net linked to s1 before it was shut down; the loss of
    // that link may reach s1's inbox first.
    let event = loop {
        match ens.node(1).next_event().await {
            PeerEvent::Lost { peer, link } if peer == sid(2) || peer == sid(3) => {
                ens.node(1).net.acknowledge_lost(peer, link);
            }
            other => break other,
        }
    };
    assert_eq!(
        event,
        PeerEvent::Message {
            from: sid(3),
            link: Link::Election,
            msg: notification(3, 1)
        }
    );
    ens.node(1).send_settled(3, notification(1, 2)).await;
    let mut buf = BytesMut::new();
    let frame = loop {
        if let Some(frame) = decode_frame(&mut buf, ELECTION_FRAME_MAX).unwrap() {
            break frame;
        }
        let n = timeout(WAIT, s3.read_buf(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "s1 closed the link");
    };
    assert_eq!(frame, Frame::Msg(notification(1, 2)));

    // A ZAB message on the election link breaks it.
    s3.write_all(&msg_bytes(&PeerMsg::Ping { round: 0 }))
        .await
        .unwrap();
    assert_eq!(
        ens.node(1).next_event().await,
        PeerEvent::Lost {
            peer: sid(3),
            link: Link::Election
        }
    );
    ens.node(1).net.acknowledge_lost(sid(3), Link::Election);
    closed_by_server(s3).await;

    // So does a frame longer than the election limit, before its payload is read.
    let mut s3 = raw_hello(
        election,
        Some(Hello::Election { sid: sid(3) }),
        &((ELECTION_FRAME_MAX + 1) as u32).to_be_bytes(),
    )
    .await;
    assert_eq!(
        ens.node(1).next_event().await,
        PeerEvent::Lost {
            peer: sid(3),
            link: Link::Election
        }
    );
    let mut sink = Vec::new();
    let _ = timeout(WAIT, s3.read_to_end(&mut sink))
        .await
        .expect("closed");
    // Nothing else reached the inbox from the refused connections.
    assert!(ens.node(1).inbox.try_recv().is_err());
    ens.shutdown().await;
}

/// A learner's two connections, accepted in the order it dialled them, whose HELLOs finish in
/// the other order: the older one must not replace the newer one (it carries what the learner
/// sent before it dialled again; verification.md §10, seed 527's FOLLOWERINFO delivered after
/// the messages of the connection that replaced it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_quorum_connection_finishing_its_hello_late_is_refused() {
    let spec = [(1, LearnerType::Participant), (2, LearnerType::Participant)];
    let mut ens = Ensemble::start(&spec, &[], |_| {}).await;
    ens.nodes.remove(&2).unwrap().net.shutdown().await;
    let quorum = ens.members[&sid(1)].quorum_addr;
    let hello = Hello::Quorum {
        sid: sid(2),
        learner: LearnerType::Participant,
    };
    let ping = |round| PeerMsg::Ping { round };
    let quorum_msg = |msg: &PeerMsg| {
        let mut buf = BytesMut::new();
        encode_msg(&mut buf, msg, QUORUM_FRAME_MAX).unwrap();
        buf.to_vec()
    };
    // Dialled first, silent for now.
    let mut older = TcpStream::connect(quorum).await.unwrap();
    let mut newer = raw_hello(quorum, Some(hello), &quorum_msg(&ping(1))).await;
    assert_eq!(
        ens.node(1).next_on(Link::Quorum).await,
        PeerEvent::Message {
            from: sid(2),
            link: Link::Quorum,
            msg: ping(1)
        }
    );
    let mut late = BytesMut::new();
    encode_hello(&mut late, &hello);
    late.extend_from_slice(&quorum_msg(&ping(2)));
    older.write_all(&late).await.unwrap();
    closed_by_server(older).await;
    newer.write_all(&quorum_msg(&ping(3))).await.unwrap();
    assert_eq!(
        ens.node(1).next_on(Link::Quorum).await,
        PeerEvent::Message {
            from: sid(2),
            link: Link::Quorum,
            msg: ping(3)
        }
    );
    ens.shutdown().await;
}
