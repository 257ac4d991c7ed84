//! The ensemble half of zoo.cfg: the
//! `server.N=host:quorumPort:electionPort[:role][;[clientAddr:]clientPort]` lines ([`PeerSpec`],
//! [`PeerRole`]), the choice between standalone and ensemble mode
//! (`QuorumPeerConfig.isDistributed`), and the checks an ensemble must pass (ids, voters,
//! distinct host:ports, `myid`, `peerType`), each failing with a one-line error naming the key
//! or the `myid` file. `config/mod.rs` calls these from its builder.

use std::collections::BTreeMap;
use std::path::Path;

use super::properties::bad;
use super::{Builder, ConfigError, ServerConfig};

/// Role of an ensemble member in a `server.N` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    /// Votes (the default).
    Participant,
    /// Receives INFORMs, never votes.
    Observer,
}

/// One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// Host name or address of the quorum and election ports.
    pub host: String,
    /// Port followers connect to the leader on.
    pub quorum_port: u16,
    /// Port of leader election.
    pub election_port: u16,
    /// Participant or observer.
    pub role: PeerRole,
    /// Client address, if the line names one.
    pub client_address: Option<String>,
    /// Client port, if the line names one.
    pub client_port: Option<u16>,
}

/// Reasons of [`ConfigError::Unsupported`] in ensemble mode.
pub(super) const OBSERVER: &str = "an observer needs an ensemble (two or more server.N lines)";
pub(super) const STANDALONE_DISABLED: &str = "standaloneEnabled=false needs server.N lines";
pub(super) const RECONFIG: &str = "dynamic reconfiguration of an ensemble is not supported yet";

impl ServerConfig {
    /// The `server.N` lines as the `conf` word prints them in an ensemble
    /// (`host:quorumPort:electionPort:role;clientAddr:clientPort`).
    pub fn membership_lines(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|(id, s)| {
                let role = match s.role {
                    PeerRole::Participant => "participant",
                    PeerRole::Observer => "observer",
                };
                let client = match s.client_port {
                    Some(port) => format!(
                        ";{}:{port}",
                        s.client_address.as_deref().unwrap_or("0.0.0.0")
                    ),
                    None => String::new(),
                };
                format!(
                    "server.{id}={}:{}:{}:{role}{client}",
                    s.host, s.quorum_port, s.election_port
                )
            })
            .collect()
    }
}

impl Builder {
    /// Ensemble mode? Refuses the lines that ask for a mode zabkeeper does not run.
    pub(super) fn check_mode(&self) -> Result<bool, ConfigError> {
        let unsupported = |(key, value, reason): (&String, &String, &'static str)| {
            Err(ConfigError::Unsupported {
                key: key.clone(),
                value: value.clone(),
                reason,
            })
        };
        if let Some((k, v, r)) = self.unsupported.first() {
            return unsupported((k, v, r));
        }
        let ensemble = self.server_lines.len() > 1
            || (self.server_lines.len() == 1 && self.standalone_disabled.is_some());
        if !ensemble {
            if let Some((k, v)) = &self.standalone_disabled {
                return unsupported((k, v, STANDALONE_DISABLED));
            }
            if let Some((k, v, PeerRole::Observer)) = &self.peer_type {
                return unsupported((k, v, OBSERVER));
            }
            if let Some((&id, _)) = self
                .servers
                .iter()
                .find(|(_, s)| s.role == PeerRole::Observer)
            {
                let (key, value) = &self.line_of[&id];
                return unsupported((key, value, OBSERVER));
            }
            if let Some((key, value)) = self.server_lines.first() {
                tracing::warn!(
                    key = key.as_str(),
                    value = value.as_str(),
                    "one server.N line and standaloneEnabled=true: running standalone, as \
                     ZooKeeper does; its quorum and election ports are not used"
                );
            }
        } else if let Some((k, v)) = &self.reconfig_line {
            return unsupported((k, v, RECONFIG));
        }
        Ok(ensemble)
    }

    /// The ensemble checks: ids, one voter at least, no shared host:port, `myid`, `peerType`.
    pub(super) fn check_ensemble(
        &self,
        data_dir: &Path,
        read_myid: impl FnOnce(&Path) -> std::io::Result<String>,
    ) -> Result<u64, ConfigError> {
        let line = |id: u64| self.line_of[&id].clone();
        for &id in self.servers.keys() {
            if !(1..=255).contains(&id) {
                let (key, value) = line(id);
                return Err(bad(
                    &key,
                    &value,
                    "server ids must be 1..=255 in an ensemble",
                ));
            }
        }
        if self.servers.values().all(|s| s.role == PeerRole::Observer) {
            let (key, value) = line(*self.servers.keys().next().expect("ensemble has lines"));
            return Err(bad(&key, &value, "no participant among the server.N lines"));
        }
        let mut used: BTreeMap<(String, u16), u64> = BTreeMap::new();
        for (&id, s) in &self.servers {
            let client = s.client_port.map(|p| {
                (
                    s.client_address.clone().unwrap_or_else(|| s.host.clone()),
                    p,
                )
            });
            let addrs = [
                Some((s.host.clone(), s.quorum_port)),
                Some((s.host.clone(), s.election_port)),
                client,
            ];
            for (host, port) in addrs.into_iter().flatten() {
                if let Some(other) = used.insert((host.clone(), port), id) {
                    let (key, value) = line(id);
                    let reason = if other == id {
                        format!("{host}:{port} appears twice in the line")
                    } else {
                        format!("{host}:{port} is also used by server.{other}")
                    };
                    return Err(bad(&key, &value, reason));
                }
            }
        }
        let path = data_dir.join("myid");
        let text = read_myid(&path).map_err(|e| ConfigError::MyId {
            path: path.clone(),
            reason: format!("cannot read it ({e}); an ensemble member needs its id there"),
        })?;
        let first = text.lines().next().unwrap_or("").trim();
        let my_id: u64 = first.parse().map_err(|_| ConfigError::MyId {
            path: path.clone(),
            reason: format!("{first:?} is not a server id"),
        })?;
        let Some(mine) = self.servers.get(&my_id) else {
            return Err(ConfigError::MyId {
                path,
                reason: format!("server id {my_id} has no server.{my_id} line"),
            });
        };
        if let Some((key, value, role)) = &self.peer_type {
            if *role != mine.role {
                return Err(bad(
                    key,
                    value,
                    format!("server.{my_id} says {:?}", mine.role).to_lowercase(),
                ));
            }
        }
        Ok(my_id)
    }
}

/// A TCP port 1..=65535 (0 would mean "any port", which no one can connect to by name).
fn port_number(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|&port| port != 0)
}

/// Parses `host:quorumPort:electionPort[:role][;[clientHost:]clientPort]`.
pub(super) fn peer_spec(key: &str, value: &str) -> Result<PeerSpec, ConfigError> {
    let (quorum_part, client_part) = match value.split_once(';') {
        Some((q, c)) => (q.trim(), Some(c.trim())),
        None => (value.trim(), None),
    };
    let fields: Vec<&str> = quorum_part.split(':').collect();
    if fields.len() < 3 || fields.len() > 4 {
        return Err(bad(
            key,
            value,
            "expected host:quorumPort:electionPort[:role]",
        ));
    }
    let host = fields[0].to_string();
    if host.is_empty() {
        return Err(bad(key, value, "empty host"));
    }
    let quorum_port = port_number(fields[1]).ok_or_else(|| bad(key, value, "bad quorum port"))?;
    let election_port =
        port_number(fields[2]).ok_or_else(|| bad(key, value, "bad election port"))?;
    if quorum_port == election_port {
        return Err(bad(key, value, "quorum and election ports must differ"));
    }
    let role = match fields.get(3).copied() {
        None | Some("participant") => PeerRole::Participant,
        Some("observer") => PeerRole::Observer,
        Some(_) => return Err(bad(key, value, "role must be participant or observer")),
    };
    let (client_address, client_port) = match client_part {
        None => (None, None),
        Some(c) => {
            let (addr, port) = match c.rsplit_once(':') {
                Some((a, p)) => (Some(a.to_string()), p),
                None => (None, c),
            };
            let port = port_number(port).ok_or_else(|| bad(key, value, "bad client port"))?;
            (addr, Some(port))
        }
    };
    Ok(PeerSpec {
        host,
        quorum_port,
        election_port,
        role,
        client_address,
        client_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DYNAMIC_CONFIG, HIERARCHICAL};

    #[test]
    fn server_line_grammar() {
        let s = peer_spec("server.2", "h2:2889:3889:observer;2182").expect("parses");
        assert_eq!(s.role, PeerRole::Observer);
        assert_eq!((s.client_address, s.client_port), (None, Some(2182)));
        assert!(peer_spec("server.2", "h2:2889").is_err());
        assert!(peer_spec("server.2", "h2:1:2:leader").is_err());
    }

    fn refused(text: &str) -> (String, String, &'static str) {
        match ServerConfig::parse(text) {
            Err(ConfigError::Unsupported { key, value, reason }) => (key, value, reason),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn modes_zabkeeper_does_not_run_are_refused_naming_the_line() {
        let base = "dataDir=/d\nclientPort=1\n";
        assert_eq!(
            refused(&format!("{base}standaloneEnabled=false\n")),
            (
                "standaloneEnabled".into(),
                "false".into(),
                STANDALONE_DISABLED
            )
        );
        assert_eq!(
            refused(&format!("{base}server.1=a:1:2:observer\n")),
            ("server.1".into(), "a:1:2:observer".into(), OBSERVER)
        );
        assert_eq!(refused(&format!("{base}peerType=observer\n")).2, OBSERVER);
        assert_eq!(
            refused(&format!("{base}dynamicConfigFile=/etc/zoo.cfg.dynamic\n")).2,
            DYNAMIC_CONFIG
        );
        assert_eq!(refused(&format!("{base}group.1=1:2:3\n")).2, HIERARCHICAL);
        assert_eq!(refused(&format!("{base}weight.1=1\n")).2, HIERARCHICAL);
        let ensemble = format!("{ENSEMBLE}reconfigEnabled=true\n");
        match ServerConfig::parse_with_myid(&ensemble, myid("1")) {
            Err(ConfigError::Unsupported { key, reason, .. }) => {
                assert_eq!((key.as_str(), reason), ("reconfigEnabled", RECONFIG));
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    const ENSEMBLE: &str = "\
tickTime=200
initLimit=10
syncLimit=5
dataDir=/d
server.1=127.0.0.1:2888:3888;2181
server.2=127.0.0.1:2889:3889;2182
server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183
";

    /// A `myid` reader returning `text` (and checking the path asked for).
    fn myid(text: &'static str) -> impl FnOnce(&Path) -> std::io::Result<String> {
        move |path| {
            assert_eq!(path, Path::new("/d/myid"));
            Ok(text.to_string())
        }
    }

    fn ensemble_error(text: &str, id: &'static str) -> String {
        match ServerConfig::parse_with_myid(text, myid(id)) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_ensemble_is_read_with_myid_from_the_data_dir() {
        let c = ServerConfig::parse_with_myid(ENSEMBLE, myid("2\n# ignored\n")).expect("parses");
        assert!(c.is_ensemble());
        assert_eq!(c.my_id, Some(2));
        assert_eq!(c.client_port, 2182, "the client port of my own line");
        assert_eq!(
            (c.init_limit_ticks, c.sync_limit_ticks),
            (Some(10), Some(5))
        );
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.servers[&3].role, PeerRole::Observer);
        let c = ServerConfig::parse_with_myid(ENSEMBLE, myid(" 3 ")).expect("observer parses");
        assert_eq!(c.client_port, 2183);
        assert_eq!(
            c.client_port_address,
            Some("127.0.0.1".parse().expect("ip"))
        );
        let c = ServerConfig::parse_with_myid(&format!("{ENSEMBLE}peerType=observer\n"), myid("3"))
            .expect("peerType agrees");
        assert_eq!(c.my_id, Some(3));
        // One line with standaloneEnabled=false is an ensemble of one.
        let one = "initLimit=5\nsyncLimit=2\ndataDir=/d\nstandaloneEnabled=false\n\
                   server.7=127.0.0.1:2888:3888;2181\n";
        let c = ServerConfig::parse_with_myid(one, myid("7")).expect("parses");
        assert_eq!((c.my_id, c.client_port), (Some(7), 2181));
        // No server line names a client port: clientPort does.
        let c = ServerConfig::parse_with_myid(
            "initLimit=5\nsyncLimit=2\ndataDir=/d\nclientPort=3000\nserver.1=a:1:2\nserver.2=b:1:2\n",
            myid("1"),
        )
        .expect("parses");
        assert_eq!(c.client_port, 3000);
    }

    #[test]
    fn an_ensemble_that_cannot_work_is_refused_naming_the_key() {
        let missing = |path: &Path| -> std::io::Result<String> {
            assert_eq!(path, Path::new("/d/myid"));
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        let e = ServerConfig::parse_with_myid(ENSEMBLE, missing).expect_err("no myid");
        assert!(
            e.to_string()
                .starts_with("myid file /d/myid: cannot read it"),
            "{e}"
        );
        assert_eq!(
            ensemble_error(ENSEMBLE, "two"),
            "myid file /d/myid: \"two\" is not a server id"
        );
        assert_eq!(
            ensemble_error(ENSEMBLE, "4"),
            "myid file /d/myid: server id 4 has no server.4 line"
        );
        let e = ensemble_error(&ENSEMBLE.replace("initLimit=10\n", ""), "1");
        assert_eq!(e, "config key initLimit is required");
        let e = ensemble_error(&ENSEMBLE.replace("syncLimit=5\n", ""), "1");
        assert_eq!(e, "config key syncLimit is required");
        let e = ensemble_error(&ENSEMBLE.replace("2889", "2888"), "1");
        assert!(
            e.starts_with("config key server.2: bad value \"127.0.0.1:2888:3889;2182\": ")
                && e.ends_with("127.0.0.1:2888 is also used by server.1"),
            "{e}"
        );
        // A client port is an address like the others.
        let e = ensemble_error(&ENSEMBLE.replace(";2182", ";2888"), "1");
        assert!(
            e.contains("server.2") && e.contains("also used by server.1"),
            "{e}"
        );
        let e = ensemble_error(&ENSEMBLE.replace(";2181", ";3888"), "1");
        assert!(e.contains("server.1") && e.contains("appears twice"), "{e}");
        let all_observers = "initLimit=5\nsyncLimit=2\ndataDir=/d\n\
            server.1=a:1:2:observer;3\nserver.2=b:1:2:observer;3\n";
        let e = ensemble_error(all_observers, "1");
        assert!(
            e.starts_with("config key server.1") && e.contains("no participant"),
            "{e}"
        );
        let e = ensemble_error(&format!("{ENSEMBLE}peerType=observer\n"), "1");
        assert!(
            e.starts_with("config key peerType") && e.contains("participant"),
            "{e}"
        );
        let e = ensemble_error(&format!("{ENSEMBLE}peerType=participant\n"), "3");
        assert!(
            e.starts_with("config key peerType") && e.contains("observer"),
            "{e}"
        );
        let e = ensemble_error(&ENSEMBLE.replace("server.3", "server.256"), "1");
        assert!(
            e.starts_with("config key server.256") && e.contains("1..=255"),
            "{e}"
        );
        let e = ensemble_error(&ENSEMBLE.replace("server.3", "server.0"), "1");
        assert!(e.starts_with("config key server.0"), "{e}");
        let e = ensemble_error(&format!("{ENSEMBLE}server.2=c:7:8\n"), "1");
        assert!(
            e.starts_with("config key server.2") && e.contains("same server id"),
            "{e}"
        );
    }
}
