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

/// The whitespace that separates a key from its value in a Java properties line.
const PROPERTY_WHITESPACE: [char; 3] = [' ', '\t', '\x0c'];

/// Splits properties text into `(key, value)` pairs in file order.
fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line
            .find(['=', ':'])
            // Java's `Properties` separators are ASCII (space, tab, form feed); a Unicode space
            // such as U+0085 is part of the key, and every separator is one byte long.
            .or_else(|| line.find(PROPERTY_WHITESPACE));
        let Some(at) = split else {
            return Err(ConfigError::Syntax {
                line_no: i + 1,
                line: raw.to_string(),
            });
        };
        let key = line[..at].trim();
        let value = line[at + 1..].trim();
        if key.is_empty() {
            return Err(ConfigError::Syntax {
                line_no: i + 1,
                line: raw.to_string(),
            });
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
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

fn bad(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse::<T>()
        .map_err(|e| bad(key, value, e.to_string()))
}

fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

/// A flag ZooKeeper reads with `Boolean.parseBoolean`, which takes anything but `true` as
/// false: only `true`/`false` (any case) are accepted here, so a `yes` cannot silently mean
/// "off".
fn java_boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

/// A session timeout bound: a positive number of ms, or -1 for "use the default".
fn timeout_bound(key: &str, value: &str) -> Result<Option<u32>, ConfigError> {
    let v: i64 = num(key, value)?;
    match v {
        -1 => Ok(None),
        1..=0x7FFF_FFFF => Ok(Some(v as u32)),
        _ => Err(bad(
            key,
            value,
            "must be a positive number of milliseconds or -1",
        )),
    }
}

/// Reasons of [`ConfigError::Unsupported`].
const OBSERVER: &str = "an observer needs an ensemble (two or more server.N lines)";
const STANDALONE_DISABLED: &str = "standaloneEnabled=false needs server.N lines";
const RECONFIG: &str = "dynamic reconfiguration of an ensemble is not supported yet";
const DYNAMIC_CONFIG: &str =
    "a dynamic configuration file (an ensemble's server.N lines) is not supported yet";
const HIERARCHICAL: &str = "hierarchical quorums (group.N, weight.N) are not supported yet";

/// Pass-through keys ZooKeeper also accepts with the `zookeeper.` system-property prefix.
const PREFIXABLE: &[&str] = &[
    "DigestAuthenticationProvider.superDigest",
    "extendedTypesEnabled",
    "enforceQuota",
    "snapCount",
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

    /// Ensemble mode? Refuses the lines that ask for a mode zabkeeper does not run.
    fn check_mode(&self) -> Result<bool, ConfigError> {
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
    fn check_ensemble(
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

/// A TCP port 1..=65535 (0 would mean "any port", which no one can connect to by name).
fn port_number(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|&port| port != 0)
}

/// Parses `host:quorumPort:electionPort[:role][;[clientHost:]clientPort]`.
fn peer_spec(key: &str, value: &str) -> Result<PeerSpec, ConfigError> {
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
        assert_eq!(err_key(&format!("{base}peerType=leader\n")), "peerType");
        assert_eq!(
            err_key(&format!("{base}standaloneEnabled=maybe\n")),
            "standaloneEnabled"
        );
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
    fn a_unicode_space_is_not_a_separator() {
        // Fuzzing (zoo_cfg) found a panic: U+0085 was taken as the separator and the value
        // sliced from inside it.
        match ServerConfig::parse("N\u{85}H\x0e") {
            Err(ConfigError::Syntax { line_no: 1, .. }) => {}
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let c = ServerConfig::parse("dataDir=/d\nclientPort\t2181\ntickTime\x0c100\n")
            .expect("tab and form feed separate");
        assert_eq!((c.client_port, c.tick_ms), (2181, 100));
    }

    #[test]
    fn syntax_error_names_the_line() {
        match ServerConfig::parse("dataDir=/d\njunkline\n") {
            Err(ConfigError::Syntax { line_no, .. }) => assert_eq!(line_no, 2),
            other => panic!("expected syntax error, got {other:?}"),
        }
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
