//! The protocol configuration a driver runs its node with, from zoo.cfg: who votes, who observes,
//! and every timer of the core in core ticks (whole fractions of `tickTime`).

use std::time::Duration;

use crate::protocol::{NodeConfig, ServerId};

/// The longest a core tick lasts: FLE's finalize wait and first notification timeout
/// (ZooKeeper's `finalizeWait`, 200 ms), and the leader's heartbeat interval.
const CORE_TICK_MAX: Duration = Duration::from_millis(200);

/// FLE's largest notification resend interval (ZooKeeper's `maxNotificationInterval`).
const MAX_NOTIFY_INTERVAL: Duration = Duration::from_secs(60);

/// The core's tick and how many fit in one `tickTime`: the largest whole fraction of `tickTime`
/// no longer than [`CORE_TICK_MAX`]. The core counts every timer in these ticks, so initLimit and
/// syncLimit (in `tickTime`s) are exact multiples.
pub fn core_tick(tick_ms: u32) -> (Duration, u32) {
    let tick = Duration::from_millis(u64::from(tick_ms.max(1)));
    let per_tick = tick.as_micros().div_ceil(CORE_TICK_MAX.as_micros()).max(1) as u32;
    (tick / per_tick, per_tick)
}

/// The protocol configuration: a one-voter ensemble of server 1 for a standalone server, else
/// the `server.N` lines (participants vote, observers do not) with `myid` as me.
pub fn node_config(config: &crate::config::ServerConfig) -> NodeConfig {
    let (tick, per_tick) = core_tick(config.tick_ms);
    let mut node = match config.my_id {
        None => {
            let mut node = NodeConfig::new(ServerId(1), [ServerId(1)]);
            // Nobody else can send a better vote: decide at once.
            node.finalize_wait_ticks = 0;
            node
        }
        Some(me) => {
            let role = |observer: bool| {
                config
                    .servers
                    .iter()
                    .filter(move |(_, s)| (s.role == crate::config::PeerRole::Observer) == observer)
                    .map(|(&id, _)| ServerId(id))
            };
            let mut node = NodeConfig::new(ServerId(me), role(false)).with_observers(role(true));
            node.finalize_wait_ticks = 1;
            node
        }
    };
    node.init_limit_ticks = config
        .init_limit_ticks
        .unwrap_or(10)
        .saturating_mul(per_tick);
    node.sync_limit_ticks = config
        .sync_limit_ticks
        .unwrap_or(5)
        .saturating_mul(per_tick);
    node.max_notify_ticks = (MAX_NOTIFY_INTERVAL.as_micros() / tick.as_micros().max(1)) as u32;
    node
}
