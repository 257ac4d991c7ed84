//! criterion: `Node::step` throughput for one write's propose → ack → commit on a settled
//! 3-node cluster (leader 3, followers 1 and 2), with every node's durability answered at once.
//! Ten steps per write: Write, 2×(PROPOSAL, Persisted, ACK), leader Persisted, 2×COMMIT. The
//! cluster is set up with the test harness, then the nodes are stepped by a plain loop (no
//! invariant checks beyond `Node::step`'s own). Parametrized by the log length already held, since
//! the leader scans its log when it commits.

#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::{disk_with, run_of, sid, z, Cluster};
use zabkeeper::protocol::{Effect, Effects, Input, Node, PeerMsg, Zxid};

struct Three {
    leader: Node,
    followers: [Node; 2],
    out: Effects,
}

fn settled(initial_log: u32) -> Three {
    let committed = if initial_log == 0 {
        Zxid::ZERO
    } else {
        z(1, initial_log)
    };
    let disks = (1..=3)
        .map(|i| (i, disk_with(1, &run_of(1, initial_log), committed)))
        .collect();
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    Three {
        leader: c.node(3).clone(),
        followers: [c.node(1).clone(), c.node(2).clone()],
        out: Effects::new(),
    }
}

fn one_write(t: &mut Three, data: &Bytes) {
    let out = &mut t.out;
    out.drain(); // the previous write's effects, dropped
    t.leader.step(Input::Write { data: data.clone() }, out);
    let proposal = out
        .as_slice()
        .iter()
        .find_map(|e| match e {
            Effect::Send {
                msg: PeerMsg::Propose(p),
                ..
            } => Some(p.clone()),
            _ => None,
        })
        .expect("a PROPOSAL");
    let zxid = proposal.zxid;
    for (i, f) in t.followers.iter_mut().enumerate() {
        f.step(
            Input::Peer {
                from: sid(3),
                msg: PeerMsg::Propose(proposal.clone()),
            },
            out,
        );
        f.step(Input::Persisted { upto: zxid }, out);
        t.leader.step(
            Input::Peer {
                from: sid(i as u64 + 1),
                msg: PeerMsg::Ack { zxid },
            },
            out,
        );
    }
    t.leader.step(Input::Persisted { upto: zxid }, out);
    for f in t.followers.iter_mut() {
        f.step(
            Input::Peer {
                from: sid(3),
                msg: PeerMsg::Commit { zxid },
            },
            out,
        );
    }
    debug_assert_eq!(t.leader.committed_zxid(), zxid);
}

fn propose_ack_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("protocol_step/propose_ack_commit");
    group.throughput(Throughput::Elements(1));
    let data = Bytes::from(vec![7u8; 64]);
    for initial in [0u32, 10_000, 100_000] {
        let mut t = settled(initial);
        group.bench_with_input(BenchmarkId::from_parameter(initial), &initial, |b, _| {
            b.iter(|| one_write(&mut t, &data));
        });
        assert!(t
            .followers
            .iter()
            .all(|f| f.committed_zxid() == t.leader.committed_zxid()));
    }
    group.finish();
}

criterion_group!(benches, propose_ack_commit);
criterion_main!(benches);
