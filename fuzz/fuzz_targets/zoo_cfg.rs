//! Fuzz target: the zoo.cfg parser (`config::ServerConfig::parse`, `spec/server.md` "Start-up").
//!
//! The input is the file's text. Checked: no panic; every error prints; an accepted file yields
//! a configuration the standalone server can run with — positive tickTime and client port,
//! session timeout bounds in order, ZooKeeper's minimums for snapCount and snapRetainCount, a
//! jute.maxbuffer of at least 1 KiB, and either at most one participant `server.N` line
//! (standalone) or an ensemble whose `myid` names one of its lines and which has a participant.
//! The `myid` file is never read from disk here: it reads `1`.
//!
//! Run: `cargo +nightly fuzz run zoo_cfg` from the repository root.

#![no_main]

#[path = "alloc_cap.rs"]
mod alloc_cap;

use libfuzzer_sys::fuzz_target;
use zabkeeper::config::{PeerRole, ServerConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ServerConfig::parse_with_myid(text, |_| Ok("1\n".to_string())) {
        Err(e) => {
            let line = e.to_string();
            assert!(!line.is_empty());
        }
        Ok(c) => {
            assert!(c.tick_ms > 0);
            assert!(c.client_port > 0);
            assert!(c.min_session_timeout_ms <= c.max_session_timeout_ms);
            assert!(c.snap_count >= 2);
            assert!(c.autopurge_snap_retain_count >= 3);
            assert!(c.jute_max_buffer_bytes >= 1024);
            match c.my_id {
                None => {
                    assert!(c.servers.len() <= 1, "ensemble without myid: {:?}", c.servers);
                    assert!(c.servers.values().all(|s| s.role == PeerRole::Participant));
                }
                Some(id) => {
                    assert!(c.servers.contains_key(&id));
                    assert!(c.servers.values().any(|s| s.role == PeerRole::Participant));
                    assert!(c.init_limit_ticks.is_some() && c.sync_limit_ticks.is_some());
                }
            }
            assert!(!c.data_dir.as_os_str().is_empty());
        }
    }
});
