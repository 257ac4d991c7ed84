//! Fault injection for one run: which fault the seed picks next (`inject`), and how each
//! one is undone (`apply_undo`). The kinds and their odds are in verification.md §10.

use super::*;

/// A fault in force and how to undo it.
pub(super) enum Undo {
    Restart(usize),
    Repair(Vec<(String, String)>),
    Latency(Vec<(String, String)>),
    Fsync(usize),
    /// The `fsync_fail` fault on this server: crash it (if it still runs), drop its unsynced
    /// appends, repair its disk, restart it.
    FsyncFail(usize),
    /// The `pause` fault on this server: let it run again.
    Resume(usize),
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply_undo(
    sim: &mut turmoil::Sim<'_>,
    u: Undo,
    disks: &[SimDisk],
    graves: &[Arc<Graves>],
    fsync_ms: &[Arc<AtomicU64>],
    base_fsync: u64,
    crashed: &mut BTreeSet<usize>,
    shared: &Shared,
) {
    let text = match u {
        Undo::Restart(i) => {
            crashed.remove(&i);
            sim.bounce(host(i));
            format!("restart n{}", i + 1)
        }
        Undo::Repair(pairs) => {
            for (a, b) in &pairs {
                sim.release(a.as_str(), b.as_str());
            }
            "repair the network".into()
        }
        Undo::Latency(pairs) => {
            for (a, b) in &pairs {
                sim.set_link_latency(a.as_str(), b.as_str(), Duration::from_millis(1));
            }
            "message delay over".into()
        }
        Undo::Fsync(i) => {
            fsync_ms[i].store(base_fsync, Ordering::Relaxed);
            format!("n{} fsync back to {base_fsync} ms", i + 1)
        }
        Undo::FsyncFail(i) => {
            crash(sim, graves, i, shared);
            disks[i].crash();
            disks[i].repair();
            crash_noted(shared, i);
            crashed.remove(&i);
            sim.bounce(host(i));
            format!("n{} disk repaired (unsynced appends lost), restart", i + 1)
        }
        Undo::Resume(i) => {
            // Counted as down while paused, it was not crashed meanwhile (no fault picks it).
            crashed.remove(&i);
            sim.resume(host(i));
            format!("n{} resumes", i + 1)
        }
    };
    world(shared).event(text);
}

/// Crashes server `i`'s host, closing its streams in the order it opened them (net.rs).
pub(super) fn crash(sim: &mut turmoil::Sim<'_>, graves: &[Arc<Graves>], i: usize, shared: &Shared) {
    let left = graves[i].crash(sim, &host(i));
    if left > 0 {
        let v = format!(
            "harness: the crash of n{} left {left} streams unclosed",
            i + 1
        );
        world(shared).violations.push(v);
    }
}

/// Server `i` was crashed: not serving, and its node gone from the trace.
pub(super) fn crash_noted(shared: &Shared, i: usize) {
    let mut w = world(shared);
    w.serving[i] = (false, false);
    if let Some(t) = &mut w.trace {
        t.crashed(i);
    }
}

/// Injects one fault chosen by `rng`; returns its kind.
#[allow(clippy::too_many_arguments)]
pub(super) fn inject(
    sim: &mut turmoil::Sim<'_>,
    rng: &mut Rng,
    now: u64,
    hosts: usize,
    max_crashed: usize,
    crashed: &mut BTreeSet<usize>,
    network_fault: &mut bool,
    undo: &mut Vec<(u64, Undo)>,
    disks: &[SimDisk],
    graves: &[Arc<Graves>],
    fsync_ms: &[Arc<AtomicU64>],
    shared: &Shared,
    bridge: bool,
    pause: bool,
) -> Option<&'static str> {
    let until = now + rng.range(200, 1_500);
    let leader = world(shared).serving.iter().position(|s| s.1);
    let pick = rng.range(0, 100);
    let up: Vec<usize> = (0..hosts).filter(|i| !crashed.contains(i)).collect();
    let (kind, text) = if pick < 25 && pause && rng.chance(40) {
        // A pause (SIGSTOP, a long GC): the leader, if there is one, stops being scheduled for
        // longer than syncLimit (5 ticks, 250 ms) while its clock runs on; messages to it wait.
        // It counts as down while paused (at most (N-1)/2 down at once).
        if crashed.len() >= max_crashed || up.is_empty() {
            return None;
        }
        let i = match leader {
            Some(l) if up.contains(&l) => l,
            _ => up[rng.range(0, up.len() as u64) as usize],
        };
        let ms = rng.range(300, 1_500);
        sim.pause(host(i));
        crashed.insert(i);
        undo.push((now + ms, Undo::Resume(i)));
        if leader == Some(i) {
            (
                "pause_leader",
                format!("pause n{} (the leader) for {ms} ms", i + 1),
            )
        } else {
            ("pause_other", format!("pause n{} for {ms} ms", i + 1))
        }
    } else if pick < 25 {
        if crashed.len() >= max_crashed || up.is_empty() {
            return None;
        }
        let i = up[rng.range(0, up.len() as u64) as usize];
        crash(sim, graves, i, shared);
        disks[i].crash();
        crashed.insert(i);
        crash_noted(shared, i);
        undo.push((until, Undo::Restart(i)));
        ("crash", format!("crash n{}", i + 1))
    } else if pick < 32 {
        // Power failure of every server at once: only what was fsynced survives anywhere.
        if !crashed.is_empty() {
            return None;
        }
        for (i, disk) in disks.iter().enumerate().take(hosts) {
            crash(sim, graves, i, shared);
            disk.crash();
            crashed.insert(i);
            crash_noted(shared, i);
            undo.push((now + rng.range(100, 600), Undo::Restart(i)));
        }
        ("power_loss", "power loss: crash every server".into())
    } else if pick < 70 {
        if *network_fault {
            return None;
        }
        // Each fault is a set of cut pairs: a group cut off from the rest, or (`bridge`) two
        // sides that cannot reach each other while one server reaches both.
        let (kind, cuts, text): (&'static str, Vec<(usize, usize)>, String) =
            match (pick - 32) % if bridge { 4 } else { 3 } {
                3 => {
                    let bridge = rng.range(0, hosts as u64) as usize;
                    let mut rest: Vec<usize> = (0..hosts).filter(|&i| i != bridge).collect();
                    // A seeded shuffle, then split in two non-empty sides.
                    for k in (1..rest.len()).rev() {
                        let j = rng.range(0, k as u64 + 1) as usize;
                        rest.swap(k, j);
                    }
                    let (left, right) = rest.split_at(rest.len() / 2);
                    let cuts = left
                        .iter()
                        .flat_map(|&a| right.iter().map(move |&b| (a, b)))
                        .collect();
                    let names = |g: &[usize]| g.iter().map(|&i| host(i)).collect::<Vec<_>>();
                    let text = format!(
                        "bridge: {:?} | {:?} cut from each other, {} reaches both",
                        names(left),
                        names(right),
                        host(bridge)
                    );
                    ("bridge", cuts, text)
                }
                k => {
                    let (kind, group): (&'static str, Vec<usize>) = match k {
                        0 => (
                            "isolate_leader",
                            vec![leader.unwrap_or(rng.range(0, hosts as u64) as usize)],
                        ),
                        1 => {
                            let others: Vec<usize> =
                                (0..hosts).filter(|i| Some(*i) != leader).collect();
                            (
                                "isolate_follower",
                                vec![others[rng.range(0, others.len() as u64) as usize]],
                            )
                        }
                        _ => (
                            "partition_halves",
                            (0..hosts).filter(|_| rng.chance(50)).collect(),
                        ),
                    };
                    let cuts = group
                        .iter()
                        .flat_map(|&a| {
                            (0..hosts)
                                .filter(|b| !group.contains(b))
                                .map(move |b| (a, b))
                        })
                        .collect();
                    let names: Vec<String> = group.iter().map(|&i| host(i)).collect();
                    (kind, cuts, format!("{kind}: cut {names:?} off"))
                }
            };
        let mut pairs = Vec::new();
        for (a, b) in cuts {
            sim.hold(host(a).as_str(), host(b).as_str());
            pairs.push((host(a), host(b)));
        }
        *network_fault = true;
        undo.push((until, Undo::Repair(pairs)));
        (kind, text)
    } else if pick < 82 {
        if *network_fault {
            return None;
        }
        let mut pairs = Vec::new();
        let ms = rng.range(20, 300);
        for a in 0..hosts {
            for b in a + 1..hosts {
                if rng.chance(50) {
                    sim.set_link_latency(
                        host(a).as_str(),
                        host(b).as_str(),
                        Duration::from_millis(ms),
                    );
                    pairs.push((host(a), host(b)));
                }
            }
        }
        *network_fault = true;
        undo.push((until, Undo::Latency(pairs)));
        ("delay", format!("message delay {ms} ms on some links"))
    } else if pick < 88 {
        // A failed fsync: the server must stop without acknowledging what was not durable and
        // write nothing more; it counts as crashed until the undo restarts it on its disk.
        if crashed.len() >= max_crashed || up.is_empty() {
            return None;
        }
        let i = up[rng.range(0, up.len() as u64) as usize];
        disks[i].fail_syncs();
        crashed.insert(i);
        undo.push((until, Undo::FsyncFail(i)));
        (
            "fsync_fail",
            format!("n{}: every fsync fails from now", i + 1),
        )
    } else {
        let i = rng.range(0, hosts as u64) as usize;
        let ms = rng.range(20, 200);
        fsync_ms[i].store(ms, Ordering::Relaxed);
        undo.push((until, Undo::Fsync(i)));
        ("slow_fsync", format!("n{} fsync takes {ms} ms", i + 1))
    };
    world(shared).event(text);
    Some(kind)
}
