//! A connection's outbound byte bound (`server/outbound.rs`, `OutboundBytes`): the driver (a
//! watch event, then a write reply) and the connection's reader (a read reply) queue frames
//! concurrently while the writer task writes them and uncounts their bytes.
//!
//! The frames travel in a tokio channel in the server; here loom's `mpsc` stands in for it
//! (tokio's channel is not built on loom outside tokio's own tests), so this model checks the
//! byte accounting, not the channel.
//!
//! Invariants asserted in every explored interleaving:
//! - the byte bound holds: the bytes of frames accepted and not yet written never pass the hard
//!   limit (an independent count, raised after a successful `reserve` and lowered before the
//!   writer's `release`, so it never runs ahead of the real one);
//! - nothing leaks: once the writer wrote everything accepted, the count is zero;
//! - every frame is either accepted and written, or refused (its connection closes).

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{mpsc, Arc};
use zabkeeper::server::outbound::OutboundBytes;

use crate::{caught, explore};

/// Preemptions per execution: 4 explores ~9,000 executions in about a second; 2 already finds
/// the seeded bug. (The count grows about fourfold per step: 411,060 executions at 8.)
const PREEMPTIONS: usize = 4;

const HARD_LIMIT: usize = 10;

/// What a producer sends the writer: a frame's length, or that it is done.
enum Item {
    Frame(usize),
    Done,
}

struct World {
    bytes: OutboundBytes,
    /// The independent count of accepted, unwritten bytes.
    in_flight: AtomicUsize,
    refused: AtomicUsize,
}

fn produce(world: &World, tx: &mpsc::Sender<Item>, frames: &[usize]) {
    for &len in frames {
        if world.bytes.reserve(len) {
            let now = world.in_flight.fetch_add(len, Ordering::SeqCst) + len;
            assert!(
                now <= HARD_LIMIT,
                "the byte bound did not hold: {now} bytes queued, limit {HARD_LIMIT}"
            );
            tx.send(Item::Frame(len)).expect("writer alive");
        } else {
            world.refused.fetch_add(1, Ordering::SeqCst);
        }
    }
    tx.send(Item::Done).expect("writer alive");
}

fn producers_and_writer() {
    let world = Arc::new(World {
        bytes: OutboundBytes::new(HARD_LIMIT),
        in_flight: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::channel();
    let writer = {
        let world = Arc::clone(&world);
        loom::thread::spawn(move || {
            let (mut done, mut written) = (0, 0);
            while done < 2 {
                match rx.recv().expect("producers alive") {
                    Item::Frame(len) => {
                        world.in_flight.fetch_sub(len, Ordering::SeqCst);
                        world.bytes.release(len);
                        written += 1;
                    }
                    Item::Done => done += 1,
                }
            }
            written
        })
    };
    let driver = {
        let world = Arc::clone(&world);
        let tx = tx.clone();
        // A watch event, then the write reply that follows it.
        loom::thread::spawn(move || produce(&world, &tx, &[4, 4]))
    };
    // The reader: one read reply.
    produce(&world, &tx, &[6]);
    driver.join().expect("driver");
    let written = writer.join().expect("writer");
    assert_eq!(
        world.bytes.queued(),
        0,
        "bytes still counted after every frame was written"
    );
    assert_eq!(
        written + world.refused.load(Ordering::SeqCst),
        3,
        "a frame was neither written nor refused"
    );
}

const PRODUCERS_AND_WRITER: &str = "outbound::outbound_producers_and_writer";

#[test]
fn outbound_producers_and_writer() {
    explore(
        "outbound_producers_and_writer",
        PREEMPTIONS,
        producers_and_writer,
    );
}

#[test]
fn outbound_seeded_check_then_add_passes_the_bound() {
    let out = caught("outbound_check_then_add", PRODUCERS_AND_WRITER);
    assert!(out.contains("the byte bound did not hold"), "{out}");
}
