//! zoo.cfg parser → validated [`ServerConfig`] (durations and sizes carry their unit in the name).
//!
//! Role in the data flow: the binary reads the file once at start-up; everything the server, the
//! session tracker, the four-letter words and storage need comes from the value built here.
//! Keys and defaults follow ZooKeeper 3.8's `QuorumPeerConfig.parseProperties`
//! (../shared/reference/zookeeper-formats.md C.7). Unknown keys are logged and ignored, as
//! ZooKeeper turns them into unused system properties; a bad value stops start-up with an error
//! that names the key.
//!
//! Two modes, as ZooKeeper decides them (`QuorumPeerConfig.isDistributed`):
//!
//! - *Standalone*: no `server.N` line, or one participant line with `standaloneEnabled=true` (the
//!   default; its quorum and election ports are not used, with a warning).
//! - *Ensemble*: two or more `server.N` lines, or one with `standaloneEnabled=false`. The server's
//!   id is read from `dataDir/myid` (a decimal number on the first line, as ZooKeeper reads it) and
//!   must name one of the lines; `initLimit` and `syncLimit` are required; the line's role
//!   (`:observer`) and `peerType` must agree; no two lines may share a host:port (quorum, election
//!   or client port); at least one line must be a participant; ids are 1..=255 (the top byte of
//!   a session id). The client port is the server's own line's (`;[addr:]port`), else
//!   `clientPort`.
//!
//! A configuration that cannot work stops start-up with a one-line error naming the key (or the
//! `myid` file). What zabkeeper does not run is refused with a one-line
//! [`ConfigError::Unsupported`] naming the line: `dynamicConfigFile`, hierarchical quorums
//! (`group.N`, `weight.N`), `reconfigEnabled=true` in an ensemble, `standaloneEnabled=false`
//! without `server.N` lines.

mod ensemble;
mod properties;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Every four-letter word ZooKeeper 3.8 knows (`FourLetterCommands`).
pub const KNOWN_FOUR_LETTER_WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst",
    "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

/// Default `tickTime` (ZooKeeper's `ZooKeeperServer.DEFAULT_TICK_TIME`).
pub const DEFAULT_TICK_MS: u32 = 3000;
/// Default `maxClientCnxns` per client IP.
pub const DEFAULT_MAX_CLIENT_CNXNS: u32 = 60;
/// Default `snapCount`.
pub const DEFAULT_SNAP_COUNT: u64 = 100_000;
/// Default `commitLogCount` (ZooKeeper's `ZKDatabase.DEFAULT_COMMIT_LOG_COUNT`).
pub const DEFAULT_COMMIT_LOG_COUNT: u64 = 500;
/// Default and minimum `autopurge.snapRetainCount`.
pub const MIN_SNAP_RETAIN_COUNT: u32 = 3;
/// Default `jute.maxbuffer` (0xFFFFF).
pub const DEFAULT_JUTE_MAX_BUFFER_BYTES: u32 = 0xF_FFFF;
/// Default admin server port.
pub const DEFAULT_ADMIN_PORT: u16 = 8080;
/// Default bound on a connection's time from accept to a complete first frame
/// (`NIOServerCnxnFactory`'s `zookeeper.nio.sessionlessCnxnTimeout` default).
pub const DEFAULT_SESSIONLESS_CNXN_TIMEOUT_MS: u32 = 10_000;

/// Why a configuration was rejected. Every variant names the offending key or line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is neither `key=value`, a comment nor blank.
    #[error("config line {line_no}: expected key=value, got {line:?}")]
    Syntax {
        /// 1-based line number.
        line_no: usize,
        /// The offending line.
        line: String,
    },
    /// A value does not parse or is out of range.
    #[error("config key {key}: bad value {value:?}: {reason}")]
    BadValue {
        /// The key as written.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required key is absent.
    #[error("config key {key} is required")]
    Missing {
        /// The missing key.
        key: &'static str,
    },
    /// `dataDir/myid` is missing, unreadable, not a number, or names no `server.N` line.
    #[error("myid file {path}: {reason}")]
    MyId {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A line asks for a mode zabkeeper does not run (see the module docs).
    #[error("{key}={value}: {reason}")]
    Unsupported {
        /// The key as written.
        key: String,
        /// The value as written.
        value: String,
        /// Which mode it implies.
        reason: &'static str,
    },
}

/// Which four-letter words may run (`4lw.commands.whitelist`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    /// `*`: every known word.
    All,
    /// Only these words.
    Only(BTreeSet<String>),
}

impl FourLetterWhitelist {
    /// Whether `word` may run.
    pub fn allows(&self, word: &str) -> bool {
        match self {
            FourLetterWhitelist::All => true,
            FourLetterWhitelist::Only(words) => words.contains(word),
        }
    }
}

impl Default for FourLetterWhitelist {
    /// ZooKeeper 3.8's default: `srvr` only.
    fn default() -> Self {
        FourLetterWhitelist::Only(BTreeSet::from(["srvr".to_string()]))
    }
}

use ensemble::peer_spec;
pub use ensemble::{PeerRole, PeerSpec};
use properties::{bad, boolean, java_boolean, num, parse_properties, timeout_bound};

/// The validated configuration of one server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `tickTime`: the base time unit.
    pub tick_ms: u32,
    /// `initLimit` in ticks (an ensemble setting; a standalone server does not use it).
    pub init_limit_ticks: Option<u32>,
    /// `syncLimit` in ticks (an ensemble setting; a standalone server does not use it).
    pub sync_limit_ticks: Option<u32>,
    /// `dataDir`: snapshots, epochs, `myid`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the txn log (defaults to `dataDir`).
    pub data_log_dir: PathBuf,
    /// `clientPort`.
    pub client_port: u16,
    /// `clientPortAddress` (all interfaces when absent).
    pub client_port_address: Option<IpAddr>,
    /// `maxClientCnxns` per client IP; 0 = unlimited. Counts every open connection, with or
    /// without a session.
    pub max_client_cnxns: u32,
    /// `nio.sessionlessCnxnTimeout` (system property `zookeeper.nio.sessionlessCnxnTimeout`):
    /// a connection that has not sent its whole ConnectRequest (or four-letter word) this long
    /// after accept is closed.
    pub sessionless_cnxn_timeout_ms: u32,
    /// `minSessionTimeout` (default 2 × tickTime).
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout` (default 20 × tickTime).
    pub max_session_timeout_ms: u32,
    /// `snapCount`: txns between snapshots (minimum 2).
    pub snap_count: u64,
    /// `commitLogCount`: committed txns the protocol core keeps in memory for DIFFs (the
    /// runtime drops older ones, `server/driver`); a learner further behind gets a SNAP.
    pub commit_log_count: u64,
    /// `autopurge.snapRetainCount` (minimum 3).
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 = off.
    pub autopurge_purge_interval_hours: u32,
    /// `4lw.commands.whitelist`.
    pub four_letter_whitelist: FourLetterWhitelist,
    /// `jute.maxbuffer`: the largest client frame accepted.
    pub jute_max_buffer_bytes: u32,
    /// `server.N` lines (in standalone mode at most one participant, whose ports are unused).
    pub servers: BTreeMap<u64, PeerSpec>,
    /// This server's id (`dataDir/myid`) in ensemble mode; `None` when standalone.
    pub my_id: Option<u64>,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `admin.enableServer`.
    pub admin_enable_server: bool,
    /// `admin.serverPort`.
    pub admin_server_port: u16,
    /// `DigestAuthenticationProvider.superDigest`: `super:base64(sha1(super:password))`.
    pub super_digest: Option<String>,
    /// `extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types_enabled: bool,
    /// `enforceQuota` (ZooKeeper's `zookeeper.enforceQuota`): creates and setData over a hard
    /// quota limit fail with QuotaExceeded (-125).
    pub enforce_quota: bool,
    /// `znode.container.checkIntervalMs`: how often the container/TTL reaper runs.
    pub container_check_interval_ms: u64,
}

impl ServerConfig {
    /// A standalone configuration with ZooKeeper's defaults (for `serve --data-dir --port`).
    pub fn standalone(data_dir: PathBuf, client_port: u16, tick_ms: u32) -> ServerConfig {
        ServerConfig {
            tick_ms,
            init_limit_ticks: None,
            sync_limit_ticks: None,
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port,
            client_port_address: None,
            max_client_cnxns: DEFAULT_MAX_CLIENT_CNXNS,
            sessionless_cnxn_timeout_ms: DEFAULT_SESSIONLESS_CNXN_TIMEOUT_MS,
            min_session_timeout_ms: tick_ms.saturating_mul(2),
            max_session_timeout_ms: tick_ms.saturating_mul(20),
            snap_count: DEFAULT_SNAP_COUNT,
            commit_log_count: DEFAULT_COMMIT_LOG_COUNT,
            autopurge_snap_retain_count: MIN_SNAP_RETAIN_COUNT,
            autopurge_purge_interval_hours: 0,
            four_letter_whitelist: FourLetterWhitelist::default(),
            jute_max_buffer_bytes: DEFAULT_JUTE_MAX_BUFFER_BYTES,
            servers: BTreeMap::new(),
            my_id: None,
            reconfig_enabled: false,
            admin_enable_server: true,
            admin_server_port: DEFAULT_ADMIN_PORT,
            super_digest: None,
            extended_types_enabled: false,
            enforce_quota: false,
            container_check_interval_ms: 60_000,
        }
    }

    /// Reads and validates a zoo.cfg file.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ServerConfig::parse(&text)
    }

    /// Parses zoo.cfg text (Java properties subset: `key=value`, `#`/`!` comments); in ensemble
    /// mode reads `dataDir/myid` from the filesystem.
    pub fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::parse_with_myid(text, |path| std::fs::read_to_string(path))
    }

    /// [`ServerConfig::parse`] with the `myid` file read by `read_myid` (tests, fuzzing).
    pub fn parse_with_myid(
        text: &str,
        read_myid: impl FnOnce(&Path) -> std::io::Result<String>,
    ) -> Result<ServerConfig, ConfigError> {
        let props = parse_properties(text)?;
        let mut b = Builder::default();
        for (key, value) in &props {
            b.set(key, value)?;
        }
        b.finish(read_myid)
    }

    /// Ensemble mode (`my_id` is set)?
    pub fn is_ensemble(&self) -> bool {
        self.my_id.is_some()
    }

    /// The `conf` four-letter word's `key=value` lines, ZooKeeper 3.8's order.
    pub fn conf_lines(&self) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = vec![
            ("clientPort".into(), self.client_port.to_string()),
            ("secureClientPort".into(), "-1".into()),
            (
                "dataDir".into(),
                format!("{}/version-2", self.data_dir.display()),
            ),
            (
                "dataDirSize".into(),
                dir_size_bytes(&self.data_dir.join("version-2")).to_string(),
            ),
            (
                "dataLogDir".into(),
                format!("{}/version-2", self.data_log_dir.display()),
            ),
            (
                "dataLogSize".into(),
                dir_size_bytes(&self.data_log_dir.join("version-2")).to_string(),
            ),
            ("tickTime".into(), self.tick_ms.to_string()),
            ("maxClientCnxns".into(), self.max_client_cnxns.to_string()),
            (
                "minSessionTimeout".into(),
                self.min_session_timeout_ms.to_string(),
            ),
            (
                "maxSessionTimeout".into(),
                self.max_session_timeout_ms.to_string(),
            ),
            ("clientPortListenBacklog".into(), "-1".into()),
            ("serverId".into(), self.my_id.unwrap_or(0).to_string()),
        ];
        if let Some(mine) = self.my_id.and_then(|id| self.servers.get(&id)) {
            let num = |n: Option<u32>| n.unwrap_or(0).to_string();
            lines.extend([
                ("initLimit".into(), num(self.init_limit_ticks)),
                ("syncLimit".into(), num(self.sync_limit_ticks)),
                ("electionAlg".into(), "3".into()),
                ("electionPort".into(), mine.election_port.to_string()),
                ("quorumPort".into(), mine.quorum_port.to_string()),
                // ZooKeeper prints the LearnerType ordinal: 0 participant, 1 observer.
                (
                    "peerType".into(),
                    u8::from(mine.role == PeerRole::Observer).to_string(),
                ),
            ]);
        }
        lines
    }
}

/// Sum of the sizes of the regular files directly in `dir` (0 when absent).
pub fn dir_size_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Accumulates keys; defaults that depend on other keys are resolved in `finish`.
#[derive(Default)]
struct Builder {
    tick_ms: Option<u32>,
    init_limit_ticks: Option<u32>,
    sync_limit_ticks: Option<u32>,
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
    client_port: Option<u16>,
    client_port_address: Option<IpAddr>,
    max_client_cnxns: Option<u32>,
    sessionless_cnxn_timeout_ms: Option<u32>,
    min_session_timeout_ms: Option<u32>,
    max_session_timeout_ms: Option<u32>,
    snap_count: Option<u64>,
    commit_log_count: Option<u64>,
    snap_retain_count: Option<u32>,
    purge_interval_hours: Option<u32>,
    whitelist: Option<FourLetterWhitelist>,
    jute_max_buffer_bytes: Option<u32>,
    servers: BTreeMap<u64, PeerSpec>,
    /// The `server.N` lines as written, in file order (for error messages).
    server_lines: Vec<(String, String)>,
    /// The same lines by server id.
    line_of: BTreeMap<u64, (String, String)>,
    /// Lines that ask for a mode zabkeeper does not run, in file order, with the reason.
    unsupported: Vec<(String, String, &'static str)>,
    /// `standaloneEnabled` as written (key, value), when false.
    standalone_disabled: Option<(String, String)>,
    /// `peerType` as written, when given: (key, value, role).
    peer_type: Option<(String, String, PeerRole)>,
    /// `reconfigEnabled` as written, when true.
    reconfig_line: Option<(String, String)>,
    reconfig_enabled: Option<bool>,
    admin_enable_server: Option<bool>,
    admin_server_port: Option<u16>,
    super_digest: Option<String>,
    extended_types_enabled: Option<bool>,
    enforce_quota: Option<bool>,
    container_check_interval_ms: Option<u64>,
}

/// Reasons of [`ConfigError::Unsupported`] (the ensemble-mode ones are in `ensemble.rs`).
const DYNAMIC_CONFIG: &str =
    "a dynamic configuration file (an ensemble's server.N lines) is not supported yet";
const HIERARCHICAL: &str = "hierarchical quorums (group.N, weight.N) are not supported yet";

/// Pass-through keys ZooKeeper also accepts with the `zookeeper.` system-property prefix.
const PREFIXABLE: &[&str] = &[
    "DigestAuthenticationProvider.superDigest",
    "extendedTypesEnabled",
    "enforceQuota",
    "snapCount",
    "commitLogCount",
    "jute.maxbuffer",
    "4lw.commands.whitelist",
    "znode.container.checkIntervalMs",
    "nio.sessionlessCnxnTimeout",
];

impl Builder {
    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let canonical = match key.strip_prefix("zookeeper.") {
            Some(rest) if PREFIXABLE.contains(&rest) => rest,
            _ => key,
        };
        match canonical {
            "tickTime" => {
                let v: u32 = num(key, value)?;
                if v == 0 {
                    return Err(bad(key, value, "must be positive"));
                }
                self.tick_ms = Some(v);
            }
            "initLimit" => self.init_limit_ticks = Some(self.positive(key, value)?),
            "syncLimit" => self.sync_limit_ticks = Some(self.positive(key, value)?),
            "dataDir" => self.data_dir = Some(self.path(key, value)?),
            "dataLogDir" => self.data_log_dir = Some(self.path(key, value)?),
            "clientPort" => {
                let v: u16 = num(key, value)?;
                if v == 0 {
                    return Err(bad(key, value, "must be a port number 1..65535"));
                }
                self.client_port = Some(v);
            }
            "clientPortAddress" => self.client_port_address = Some(num(key, value)?),
            "maxClientCnxns" => self.max_client_cnxns = Some(num(key, value)?),
            "nio.sessionlessCnxnTimeout" => {
                let v: i64 = num(key, value)?;
                if !(1..=i64::from(i32::MAX)).contains(&v) {
                    return Err(bad(key, value, "must be a positive number of milliseconds"));
                }
                self.sessionless_cnxn_timeout_ms = Some(v as u32);
            }
            "minSessionTimeout" => self.min_session_timeout_ms = timeout_bound(key, value)?,
            "maxSessionTimeout" => self.max_session_timeout_ms = timeout_bound(key, value)?,
            "snapCount" => {
                let v: u64 = num(key, value)?;
                if v < 2 {
                    tracing::warn!(key, value, "snapCount below the minimum 2; using 2");
                }
                self.snap_count = Some(v.max(2));
            }
            "commitLogCount" => self.commit_log_count = Some(num(key, value)?),
            "autopurge.snapRetainCount" => {
                let v: u32 = num(key, value)?;
                if v < MIN_SNAP_RETAIN_COUNT {
                    tracing::warn!(key, value, "snapRetainCount below the minimum 3; using 3");
                }
                self.snap_retain_count = Some(v.max(MIN_SNAP_RETAIN_COUNT));
            }
            "autopurge.purgeInterval" => {
                let v: i64 = num(key, value)?;
                if !(0..=i64::from(u32::MAX)).contains(&v) {
                    return Err(bad(key, value, "must be a number of hours, 0 = off"));
                }
                self.purge_interval_hours = Some(v as u32);
            }
            "4lw.commands.whitelist" => self.whitelist = Some(whitelist(value)),
            "jute.maxbuffer" => {
                let v: i64 = num(key, value)?;
                if !(1024..=i64::from(i32::MAX)).contains(&v) {
                    return Err(bad(key, value, "must be between 1024 and 2147483647 bytes"));
                }
                self.jute_max_buffer_bytes = Some(v as u32);
            }
            "reconfigEnabled" => {
                let on = boolean(key, value)?;
                self.reconfig_enabled = Some(on);
                self.reconfig_line = on.then(|| (key.to_string(), value.to_string()));
            }
            "admin.enableServer" => self.admin_enable_server = Some(boolean(key, value)?),
            "admin.serverPort" => self.admin_server_port = Some(num(key, value)?),
            "DigestAuthenticationProvider.superDigest" => {
                if !value.contains(':') {
                    return Err(bad(
                        key,
                        value,
                        "expected super:base64(sha1(super:password))",
                    ));
                }
                self.super_digest = Some(value.to_string());
            }
            "extendedTypesEnabled" => self.extended_types_enabled = Some(boolean(key, value)?),
            "enforceQuota" => self.enforce_quota = Some(java_boolean(key, value)?),
            "znode.container.checkIntervalMs" => {
                let v: u64 = num(key, value)?;
                if v == 0 {
                    return Err(bad(key, value, "must be positive"));
                }
                self.container_check_interval_ms = Some(v);
            }
            "standaloneEnabled" => {
                self.standalone_disabled =
                    (!boolean(key, value)?).then(|| (key.to_string(), value.to_string()));
            }
            "peerType" => {
                let role = match value.to_ascii_lowercase().as_str() {
                    "participant" => PeerRole::Participant,
                    "observer" => PeerRole::Observer,
                    _ => return Err(bad(key, value, "must be participant or observer")),
                };
                self.peer_type = Some((key.to_string(), value.to_string(), role));
            }
            "dynamicConfigFile" => self.refuse(key, value, DYNAMIC_CONFIG),
            _ if canonical.starts_with("group.") || canonical.starts_with("weight.") => {
                self.refuse(key, value, HIERARCHICAL);
            }
            "electionAlg"
            | "admin.serverAddress"
            | "admin.idleTimeout"
            | "admin.commandURL"
            | "metricsProvider.className"
            | "preAllocSize"
            | "forceSync"
            | "syncEnabled"
            | "quorumListenOnAllIPs"
            | "localSessionsEnabled"
            | "localSessionsUpgradingEnabled"
            | "clientPortListenBacklog"
            | "globalOutstandingLimit" => {
                tracing::info!(
                    key,
                    value,
                    "config key accepted but has no effect in zabkeeper"
                );
            }
            "secureClientPort" | "secureClientPortAddress" => {
                tracing::warn!(key, value, "config key not supported by zabkeeper; ignored");
            }
            _ if canonical.starts_with("server.") => {
                let id: u64 = num(key, &canonical["server.".len()..])?;
                let spec = peer_spec(key, value)?;
                if self.servers.insert(id, spec).is_some() {
                    return Err(bad(key, value, "a second line for the same server id"));
                }
                self.server_lines.push((key.to_string(), value.to_string()));
                self.line_of
                    .insert(id, (key.to_string(), value.to_string()));
            }
            _ => tracing::warn!(key, value, "unknown config key; ignored"),
        }
        Ok(())
    }

    fn refuse(&mut self, key: &str, value: &str, reason: &'static str) {
        self.unsupported
            .push((key.to_string(), value.to_string(), reason));
    }

    fn positive(&self, key: &str, value: &str) -> Result<u32, ConfigError> {
        let v: u32 = num(key, value)?;
        if v == 0 {
            return Err(bad(key, value, "must be positive"));
        }
        Ok(v)
    }

    fn path(&self, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
        if value.is_empty() {
            return Err(bad(key, value, "must not be empty"));
        }
        Ok(PathBuf::from(value))
    }

    fn finish(
        self,
        read_myid: impl FnOnce(&Path) -> std::io::Result<String>,
    ) -> Result<ServerConfig, ConfigError> {
        let ensemble = self.check_mode()?;
        let tick_ms = self.tick_ms.unwrap_or(DEFAULT_TICK_MS);
        let data_dir = self
            .data_dir
            .clone()
            .ok_or(ConfigError::Missing { key: "dataDir" })?;
        let my_id = if ensemble {
            if self.init_limit_ticks.is_none() {
                return Err(ConfigError::Missing { key: "initLimit" });
            }
            if self.sync_limit_ticks.is_none() {
                return Err(ConfigError::Missing { key: "syncLimit" });
            }
            Some(self.check_ensemble(&data_dir, read_myid)?)
        } else {
            None
        };
        let mine = my_id.and_then(|id| self.servers.get(&id));
        let client_port = match (mine.and_then(|s| s.client_port), self.client_port) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => self
                .servers
                .values()
                .find_map(|s| s.client_port)
                .filter(|_| !ensemble)
                .ok_or(ConfigError::Missing { key: "clientPort" })?,
        };
        let client_port_address = match mine.and_then(|s| s.client_address.as_deref()) {
            Some(addr) => Some(addr.parse().map_err(|_| {
                let id = my_id.expect("mine implies an id");
                bad(
                    &format!("server.{id}"),
                    addr,
                    "the client address must be an IP address",
                )
            })?),
            None => self.client_port_address,
        };
        let min = self
            .min_session_timeout_ms
            .unwrap_or(tick_ms.saturating_mul(2));
        let max = self
            .max_session_timeout_ms
            .unwrap_or(tick_ms.saturating_mul(20));
        if min > max {
            return Err(bad(
                "minSessionTimeout",
                &min.to_string(),
                format!("must not exceed maxSessionTimeout {max}"),
            ));
        }
        let extended = self.extended_types_enabled.unwrap_or(false);
        if extended {
            if let Some((&id, _)) = self.servers.iter().find(|(&id, _)| id > 254) {
                return Err(bad(
                    &format!("server.{id}"),
                    &id.to_string(),
                    "server ids must be <= 254 when extendedTypesEnabled=true",
                ));
            }
        }
        Ok(ServerConfig {
            tick_ms,
            init_limit_ticks: self.init_limit_ticks,
            sync_limit_ticks: self.sync_limit_ticks,
            data_log_dir: self.data_log_dir.unwrap_or_else(|| data_dir.clone()),
            data_dir,
            client_port,
            client_port_address,
            max_client_cnxns: self.max_client_cnxns.unwrap_or(DEFAULT_MAX_CLIENT_CNXNS),
            sessionless_cnxn_timeout_ms: self
                .sessionless_cnxn_timeout_ms
                .unwrap_or(DEFAULT_SESSIONLESS_CNXN_TIMEOUT_MS),
            min_session_timeout_ms: min,
            max_session_timeout_ms: max,
            snap_count: self.snap_count.unwrap_or(DEFAULT_SNAP_COUNT),
            commit_log_count: self.commit_log_count.unwrap_or(DEFAULT_COMMIT_LOG_COUNT),
            autopurge_snap_retain_count: self.snap_retain_count.unwrap_or(MIN_SNAP_RETAIN_COUNT),
            autopurge_purge_interval_hours: self.purge_interval_hours.unwrap_or(0),
            four_letter_whitelist: self.whitelist.unwrap_or_default(),
            jute_max_buffer_bytes: self
                .jute_max_buffer_bytes
                .unwrap_or(DEFAULT_JUTE_MAX_BUFFER_BYTES),
            servers: self.servers,
            my_id,
            reconfig_enabled: self.reconfig_enabled.unwrap_or(false),
            admin_enable_server: self.admin_enable_server.unwrap_or(true),
            admin_server_port: self.admin_server_port.unwrap_or(DEFAULT_ADMIN_PORT),
            super_digest: self.super_digest,
            extended_types_enabled: extended,
            enforce_quota: self.enforce_quota.unwrap_or(false),
            container_check_interval_ms: self.container_check_interval_ms.unwrap_or(60_000),
        })
    }
}

/// `4lw.commands.whitelist`: comma list, `*` = all; unknown words are logged and dropped.
fn whitelist(value: &str) -> FourLetterWhitelist {
    let mut words = BTreeSet::new();
    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if word == "*" {
            return FourLetterWhitelist::All;
        }
        if KNOWN_FOUR_LETTER_WORDS.contains(&word) {
            words.insert(word.to_string());
        } else {
            tracing::warn!(
                word,
                "4lw.commands.whitelist: unknown four-letter word; ignored"
            );
        }
    }
    FourLetterWhitelist::Only(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# The number of milliseconds of each tick
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2181
";

    #[test]
    fn debian_sample_parses_with_defaults() {
        let c = ServerConfig::parse(SAMPLE).expect("sample parses");
        assert_eq!(c.tick_ms, 2000);
        assert_eq!(c.init_limit_ticks, Some(10));
        assert_eq!(c.sync_limit_ticks, Some(5));
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(c.data_log_dir, c.data_dir);
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.min_session_timeout_ms, 4000);
        assert_eq!(c.max_session_timeout_ms, 40000);
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.sessionless_cnxn_timeout_ms, 10_000);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.commit_log_count, 500);
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_hours, 0);
        assert_eq!(c.jute_max_buffer_bytes, 0xFFFFF);
        assert!(c.four_letter_whitelist.allows("srvr"));
        assert!(!c.four_letter_whitelist.allows("ruok"));
        assert!(!c.reconfig_enabled);
        assert!(c.admin_enable_server);
        assert!(!c.extended_types_enabled);
    }

    #[test]
    fn every_key_is_read() {
        let text = "\
tickTime=100
initLimit=10
syncLimit=5
dataDir=/d
dataLogDir=/l
clientPort = 3000
clientPortAddress=127.0.0.1
maxClientCnxns=0
nio.sessionlessCnxnTimeout=300
minSessionTimeout=150
maxSessionTimeout=9000
snapCount=10
zookeeper.commitLogCount=7
autopurge.snapRetainCount=5
autopurge.purgeInterval=2
4lw.commands.whitelist=ruok, stat ,mntr
jute.maxbuffer=4096
reconfigEnabled=true
admin.enableServer=false
zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
zookeeper.extendedTypesEnabled=true
server.1=h1:2889:3889;127.0.0.1:2182
";
        let c = ServerConfig::parse(text).expect("parses");
        assert_eq!(c.tick_ms, 100);
        assert_eq!(c.data_log_dir, PathBuf::from("/l"));
        assert_eq!(c.client_port, 3000);
        assert_eq!(
            c.client_port_address,
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(c.max_client_cnxns, 0);
        assert_eq!(c.sessionless_cnxn_timeout_ms, 300);
        assert_eq!(c.min_session_timeout_ms, 150);
        assert_eq!(c.max_session_timeout_ms, 9000);
        assert_eq!(c.snap_count, 10);
        assert_eq!(c.commit_log_count, 7);
        assert_eq!(c.autopurge_snap_retain_count, 5);
        assert_eq!(c.autopurge_purge_interval_hours, 2);
        assert!(c.four_letter_whitelist.allows("stat"));
        assert!(c.four_letter_whitelist.allows("mntr"));
        assert!(!c.four_letter_whitelist.allows("srvr"));
        assert_eq!(c.jute_max_buffer_bytes, 4096);
        assert!(c.reconfig_enabled);
        assert!(!c.admin_enable_server);
        assert_eq!(
            c.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert!(c.extended_types_enabled);
        assert_eq!(c.servers.len(), 1);
        let s1 = &c.servers[&1];
        assert_eq!(s1.host, "h1");
        assert_eq!((s1.quorum_port, s1.election_port), (2889, 3889));
        assert_eq!(s1.role, PeerRole::Participant);
        assert_eq!(s1.client_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(s1.client_port, Some(2182));
    }

    #[test]
    fn standalone_spellings_are_accepted() {
        let base = "dataDir=/d\nclientPort=1\n";
        for extra in [
            "standaloneEnabled=true\n",
            "peerType=participant\n",
            "server.1=a:1:2\n",
            "server.1=a:1:2:participant\nstandaloneEnabled=true\n",
            "electionAlg=3\nquorumListenOnAllIPs=true\n",
        ] {
            let text = format!("{base}{extra}");
            if let Err(e) = ServerConfig::parse(&text) {
                panic!("{text:?} refused: {e}");
            }
        }
    }

    #[test]
    fn star_whitelist_allows_everything() {
        let c = ServerConfig::parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=*\n")
            .expect("parses");
        assert_eq!(c.four_letter_whitelist, FourLetterWhitelist::All);
        assert!(c.four_letter_whitelist.allows("dump"));
    }

    fn err_key(text: &str) -> String {
        match ServerConfig::parse(text) {
            Err(ConfigError::BadValue { key, .. }) => key,
            Err(ConfigError::Missing { key }) => key.to_string(),
            Err(ConfigError::Unsupported { key, .. }) => key,
            other => panic!("expected a key error, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let base = "dataDir=/d\nclientPort=1\n";
        assert_eq!(err_key(&format!("{base}peerType=leader\n")), "peerType");
        assert_eq!(
            err_key(&format!("{base}standaloneEnabled=maybe\n")),
            "standaloneEnabled"
        );
        assert_eq!(err_key("dataDir=/d\nclientPort=abc\n"), "clientPort");
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\ntickTime=0\n"),
            "tickTime"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\ntickTime=-5\n"),
            "tickTime"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nreconfigEnabled=maybe\n"),
            "reconfigEnabled"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\njute.maxbuffer=1\n"),
            "jute.maxbuffer"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nserver.1=h:1:1\n"),
            "server.1"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nserver.x=h:1:2\n"),
            "server.x"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nminSessionTimeout=5000\nmaxSessionTimeout=4000\n"),
            "minSessionTimeout"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nnio.sessionlessCnxnTimeout=0\n"),
            "nio.sessionlessCnxnTimeout"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nzookeeper.nio.sessionlessCnxnTimeout=10s\n"),
            "zookeeper.nio.sessionlessCnxnTimeout"
        );
        assert_eq!(err_key("clientPort=1\n"), "dataDir");
        assert_eq!(err_key("dataDir=/d\n"), "clientPort");
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nserver.1=a:1:2\nserver.2=b:1:2\nsyncLimit=2\n"),
            "initLimit"
        );
    }

    #[test]
    fn unknown_keys_are_ignored_and_minimums_apply() {
        let c = ServerConfig::parse(
            "dataDir=/d\nclientPort=1\nfooBar=1\nsnapCount=1\nautopurge.snapRetainCount=1\n",
        )
        .expect("parses");
        assert_eq!(c.snap_count, 2);
        assert_eq!(c.autopurge_snap_retain_count, 3);
    }

    #[test]
    fn enforce_quota_is_read_as_zookeeper_reads_it() {
        let base = "dataDir=/d\nclientPort=1\n";
        assert!(!ServerConfig::parse(base).expect("parses").enforce_quota);
        for (line, on) in [
            ("enforceQuota=true", true),
            ("enforceQuota=TRUE", true),
            ("zookeeper.enforceQuota=true", true),
            ("enforceQuota=false", false),
        ] {
            let c = ServerConfig::parse(&format!("{base}{line}\n")).expect(line);
            assert_eq!(c.enforce_quota, on, "{line}");
        }
        // ZooKeeper would read `yes` as false; refuse it rather than guess.
        assert_eq!(
            err_key(&format!("{base}enforceQuota=yes\n")),
            "enforceQuota"
        );
    }

    #[test]
    fn sessionless_timeout_takes_the_system_property_form_too() {
        let c = ServerConfig::parse(
            "dataDir=/d\nclientPort=1\nzookeeper.nio.sessionlessCnxnTimeout=1500\n",
        )
        .expect("parses");
        assert_eq!(c.sessionless_cnxn_timeout_ms, 1500);
    }

    #[test]
    fn client_port_may_come_from_the_server_line() {
        let c = ServerConfig::parse("dataDir=/d\nserver.1=h:1:2;2181\n").expect("parses");
        assert_eq!(c.client_port, 2181);
    }

    #[test]
    fn port_zero_is_refused_in_a_server_line_too() {
        // Fuzzing (zoo_cfg) found a configuration with client port 0 accepted: `clientPort=0`
        // was refused, the same port taken from a server.N line was not.
        assert_eq!(
            err_key("tmit=5\ndataDir=0\nserver.0=h9:2889:89;0\n"),
            "server.0"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nserver.1=h:0:2\n"),
            "server.1"
        );
        assert_eq!(
            err_key("dataDir=/d\nclientPort=1\nserver.1=h:1:0\n"),
            "server.1"
        );
    }
}
