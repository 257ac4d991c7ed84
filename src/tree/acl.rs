//! ACL checks, ACL fix-up, and the digest scheme's id derivation.
//!
//! Mirrors `ZooKeeperServer.checkACL`, `PrepRequestProcessor.fixupACL`, and the `digest` and
//! `ip` providers (`server/auth/DigestAuthenticationProvider.java`,
//! `IPAuthenticationProvider.java`) of a default 3.8 server, whose provider registry holds
//! exactly `ip` and `digest`. Facts: ../shared/reference/zookeeper-formats.md A.8.
//!
//! `auth_ids` throughout are the caller's authenticated ids as the connection collected them:
//! `ip:<address>` always, `digest:user:hash` per successful `addauth digest`, and `super:` when
//! the digest matched the configured super digest.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use imbl::OrdSet;

use crate::tree::error::ZkError;
use crate::wire::records::{Acl, Id};

/// A znode's ACL list: immutable and shared. Nodes with equal lists hold one copy through
/// [`AclCache`] (ZooKeeper's `ReferenceCountedACLCache` stores a reference per node too); a
/// clone is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclList(Arc<[Acl]>);

impl AclList {
    /// The entries, owned (a reply or a txn carries them).
    pub fn to_vec(&self) -> Vec<Acl> {
        self.0.to_vec()
    }
}

impl Deref for AclList {
    type Target = [Acl];
    fn deref(&self) -> &[Acl] {
        &self.0
    }
}

impl Borrow<[Acl]> for AclList {
    fn borrow(&self) -> &[Acl] {
        &self.0
    }
}

impl From<Vec<Acl>> for AclList {
    fn from(acl: Vec<Acl>) -> AclList {
        AclList(acl.into())
    }
}

impl fmt::Debug for AclList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The distinct ACL lists of one tree, each held once. A persistent set, so that the tree's
/// snapshot copy (`DataTree: Clone`) stays O(1). Lists no node uses any more are dropped when the
/// cache has doubled since the last sweep (a list a node or a snapshot copy still holds has
/// more than the cache's one reference).
#[derive(Clone, Debug, Default)]
pub struct AclCache {
    lists: OrdSet<AclList>,
    /// Size at which the next sweep runs.
    sweep_at: usize,
}

/// The cache is never swept below this size.
const ACL_CACHE_SWEEP_MIN: usize = 64;

impl AclCache {
    /// The shared copy of `acl`, added if new.
    pub fn intern(&mut self, acl: &[Acl]) -> AclList {
        if let Some(list) = self.lists.get(acl) {
            return list.clone();
        }
        if self.lists.len() >= self.sweep_at.max(ACL_CACHE_SWEEP_MIN) {
            self.lists = self
                .lists
                .iter()
                .filter(|l| Arc::strong_count(&l.0) > 1)
                .cloned()
                .collect();
            self.sweep_at = 2 * self.lists.len();
        }
        let list = AclList::from(acl.to_vec());
        self.lists.insert(list.clone());
        list
    }

    /// Distinct lists held (some may no longer be used until the next sweep).
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// Holds no list.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

/// `world:anyone`.
pub fn anyone() -> Id {
    Id {
        scheme: "world".into(),
        id: "anyone".into(),
    }
}

/// `ZooKeeperServer.checkACL`: Ok if `acl` is empty, the caller is `super`, or some entry
/// grants any bit of `perm` to `world:anyone` or to an id the caller holds.
pub fn check_acl(acl: &[Acl], perm: i32, auth_ids: &[Id]) -> Result<(), ZkError> {
    if acl.is_empty() || auth_ids.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    for entry in acl.iter().filter(|a| a.perms & perm != 0) {
        let id = &entry.id;
        if id.scheme == "world" && id.id == "anyone" {
            return Ok(());
        }
        if !is_registered_scheme(&id.scheme) {
            continue;
        }
        let matched = auth_ids
            .iter()
            .filter(|a| a.scheme == id.scheme)
            .any(|a| scheme_matches(&id.scheme, &a.id, &id.id));
        if matched {
            return Ok(());
        }
    }
    Err(ZkError::NoAuth)
}

/// Schemes with a server authentication provider (`ProviderRegistry`), plus `sasl`/`x509`,
/// whose ids only exist on connections that a configured provider authenticated.
fn is_registered_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "ip" | "sasl" | "x509")
}

/// `ServerAuthenticationProvider.matches` for each scheme.
fn scheme_matches(scheme: &str, id: &str, acl_expr: &str) -> bool {
    match scheme {
        "ip" => ip_matches(id, acl_expr),
        _ => id == acl_expr,
    }
}

/// `PrepRequestProcessor.fixupACL`: dedups (first occurrence wins), rejects an empty list,
/// expands `auth` entries into the caller's authenticated ids, validates other ids.
pub fn fixup_acl(acl: &[Acl], auth_ids: &[Id]) -> Result<Vec<Acl>, ZkError> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ZkError::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        let id = &a.id;
        if id.scheme == "world" && id.id == "anyone" {
            out.push(a.clone());
        } else if id.scheme == "auth" {
            // Only ids of providers whose isAuthenticated() is true count; `ip` does not.
            let mut any = false;
            for cid in auth_ids
                .iter()
                .filter(|c| is_authenticated_scheme(&c.scheme))
            {
                any = true;
                out.push(Acl {
                    perms: a.perms,
                    id: cid.clone(),
                });
            }
            if !any {
                return Err(ZkError::InvalidAcl);
            }
        } else if is_valid_id(&id.scheme, &id.id) {
            out.push(a.clone());
        } else {
            return Err(ZkError::InvalidAcl);
        }
    }
    Ok(out)
}

fn is_authenticated_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509")
}

/// Provider `isValid` for ACL ids: `digest` needs exactly two `:`-separated parts (Java
/// `split(":")`, trailing empty parts dropped), `ip` an IPv4 address with optional `/bits`.
fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        "digest" => java_split_len(id, ':') == 2,
        "ip" => ip_is_valid(id),
        _ => false,
    }
}

/// Number of parts Java's `String.split` returns for a one-character separator.
fn java_split_len(s: &str, sep: char) -> usize {
    if !s.contains(sep) {
        return 1;
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len()
}

/// Java `Integer.parseInt` for decimal: optional sign then at least one ASCII digit.
fn java_parse_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().and_then(|v| i32::try_from(v).ok())
}

/// `IPAuthenticationProvider.v4addr2Bytes` (3.8 supports IPv4 only).
fn ipv4_bytes(addr: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (slot, part) in b.iter_mut().zip(parts) {
        let v = java_parse_int(part)?;
        *slot = u8::try_from(v).ok()?;
    }
    Some(b)
}

/// Parses `addr[/bits]` into the address and the prefix length.
fn ip_expr(expr: &str) -> Option<([u8; 4], u32)> {
    let (addr, bits) = match expr.split_once('/') {
        None => (expr, None),
        Some((a, b)) => (a, Some(b)),
    };
    let bytes = ipv4_bytes(addr)?;
    let bits = match bits {
        None => 32,
        Some(b) => u32::try_from(java_parse_int(b)?)
            .ok()
            .filter(|b| *b <= 32)?,
    };
    Some((bytes, bits))
}

fn ip_is_valid(id: &str) -> bool {
    ip_expr(id).is_some()
}

/// `IPAuthenticationProvider.matches`: same network under the ACL's prefix length.
fn ip_matches(id: &str, acl_expr: &str) -> bool {
    let Some((acl_addr, bits)) = ip_expr(acl_expr) else {
        return false;
    };
    let Some(remote) = ipv4_bytes(id) else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from_be_bytes(acl_addr) & mask == u32::from_be_bytes(remote) & mask
}

/// The getACL masking rule (FinalRequestProcessor): a caller without ADMIN sees digest ids
/// as `user:x` (everything from the first `:` replaced; Java's `replaceAll(":.*", ":x")`).
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme != "digest" {
                return a.clone();
            }
            let masked = match a.id.id.split_once(':') {
                // `.` does not cross a line break in Java regexes.
                Some((user, rest)) => {
                    let tail = rest.find(['\n', '\r']).map_or("", |i| &rest[i..]);
                    format!("{user}:x{tail}")
                }
                None => a.id.id.clone(),
            };
            Acl {
                perms: a.perms,
                id: Id {
                    scheme: "digest".into(),
                    id: masked,
                },
            }
        })
        .collect()
}

/// The stored id of a digest user: `user:base64(sha1("user:password"))`.
pub fn digest_id(user: &str, password: &str) -> String {
    digest_of_auth(&format!("{user}:{password}"))
}

/// `DigestAuthenticationProvider.generateDigest` of AuthPacket bytes `user:password`: the
/// user is the part before the first `:` (Java `split(":", 2)[0]`: the whole string when it has
/// no `:`), the hash covers the whole string. ZooKeeper refuses no credentials: `blah` becomes
/// `blah:base64(sha1("blah"))`.
pub fn digest_of_auth(id_password: &str) -> String {
    let user = id_password.split_once(':').map_or(id_password, |(u, _)| u);
    format!("{user}:{}", base64(&sha1(id_password.as_bytes())))
}

/// SHA-1 of `msg` (RustCrypto `sha1`), the hash `DigestAuthenticationProvider` uses.
fn sha1(msg: &[u8]) -> [u8; 20] {
    use ::sha1::Digest as _;
    ::sha1::Sha1::digest(msg).into()
}

/// Standard base64 with padding (RFC 4648 §4), as `java.util.Base64.getEncoder()`.
fn base64(bytes: &[u8]) -> String {
    use ::base64::Engine as _;
    ::base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::records::perms;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }
    fn acl(p: i32, scheme: &str, i: &str) -> Acl {
        Acl {
            perms: p,
            id: id(scheme, i),
        }
    }

    /// Equal lists share one copy; a sweep drops the lists nobody holds and keeps the others.
    #[test]
    fn the_cache_shares_equal_lists_and_sweeps_unused_ones() {
        let mut cache = AclCache::default();
        let open = cache.intern(&[acl(perms::ALL, "world", "anyone")]);
        let again = cache.intern(&[acl(perms::ALL, "world", "anyone")]);
        assert!(Arc::ptr_eq(&open.0, &again.0), "one copy");
        let read = cache.intern(&[acl(perms::READ, "world", "anyone")]);
        assert!(!Arc::ptr_eq(&open.0, &read.0));
        assert_eq!(cache.len(), 2);
        drop(read);
        // Fill the cache to its sweep size with lists nobody keeps: the next new list sweeps.
        for i in 0..ACL_CACHE_SWEEP_MIN {
            cache.intern(&[acl(perms::ALL, "digest", &format!("u{i}:h"))]);
        }
        // The 63rd new list found 64 held: the sweep kept `open` only (the rest had no holder),
        // then that list and the last one were added.
        assert_eq!(cache.len(), 3);
        let after = cache.intern(&[acl(perms::ALL, "world", "anyone")]);
        assert!(Arc::ptr_eq(&open.0, &after.0), "a held list survives");
        assert_eq!(cache.len(), 3);
    }

    /// `(user:password, id)` pairs printed by ZooKeeper 3.8's own
    /// `java -cp zookeeper.jar:slf4j-api.jar:slf4j-simple.jar
    /// org.apache.zookeeper.server.auth.DigestAuthenticationProvider user:password`.
    const ZOOKEEPER_DIGESTS: [(&str, &str); 8] = [
        ("super:test", "super:D/InIHSb7yEEbrWz8b9l71RjZJU="),
        ("user:password", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
        ("blah:blah", "blah:9EtlEWQ/U+2Iqsu31aQDyrnTaqE="),
        ("bob:pw", "bob:ikIaKsbtGweaHnb/jKn7OHqbunM="),
        // The user ends at the first `:`; the hash covers the whole string.
        ("a:b:c", "a:cLzgnoJ6mP5qz3w+mwvPE2vDgu0="),
        ("user:", "user:kd7q5xGKLW+18xQTfO8iqRaFvsM="),
        (":pw", ":krPDEYdCl854cFNT6IXnoMv+VVA="),
        // The hash is over the UTF-8 bytes (the same under -Dfile.encoding=ISO-8859-1).
        (
            "h\u{e9}llo:w\u{f6}rld",
            "h\u{e9}llo:lklmzcYC5fv8yymOuNqURv04ssg=",
        ),
    ];

    #[test]
    fn digests_match_zookeeper_generate_digest() {
        for (id_password, expected) in ZOOKEEPER_DIGESTS {
            assert_eq!(digest_of_auth(id_password), expected, "{id_password}");
        }
        // Same tool, argument `blah` (no password part): the hash alone.
        assert_eq!(base64(&sha1(b"blah")), "W/H9kn37hnlJai5s8Ay+UMHIcUU=");
    }

    #[test]
    fn base64_pads_like_java() {
        // RFC 4648 §10 vectors: java.util.Base64.getEncoder() pads with `=`.
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn digest_ids_match_zookeeper() {
        // zkCli: `addauth digest user:password` → digest:user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=
        assert_eq!(
            digest_id("user", "password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        assert_eq!(digest_of_auth("super:secret"), digest_id("super", "secret"));
        // Seen on ZooKeeper 3.8.0 (getACL of an `auth` ACL after addauth digest blah / ""):
        // tests/clients/test_differential.py.
        assert_eq!(digest_of_auth("blah"), "blah:W/H9kn37hnlJai5s8Ay+UMHIcUU=");
        assert_eq!(digest_of_auth(""), ":2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(
            digest_of_auth("a:b:c").split_once(':').map(|p| p.0),
            Some("a")
        );
    }

    #[test]
    fn check_acl_rules() {
        let ip = [id("ip", "10.1.2.3")];
        assert_eq!(check_acl(&[], perms::ALL, &ip), Ok(()));
        assert_eq!(check_acl(&Acl::read_unsafe(), perms::READ, &ip), Ok(()));
        assert_eq!(
            check_acl(&Acl::read_unsafe(), perms::WRITE, &ip),
            Err(ZkError::NoAuth)
        );
        let net = [acl(perms::ALL, "ip", "10.1.0.0/16")];
        assert_eq!(check_acl(&net, perms::WRITE, &ip), Ok(()));
        let other = [id("ip", "10.2.0.1")];
        assert_eq!(check_acl(&net, perms::WRITE, &other), Err(ZkError::NoAuth));
        let d = digest_id("u", "p");
        let dacl = [acl(perms::READ | perms::ADMIN, "digest", &d)];
        assert_eq!(check_acl(&dacl, perms::READ, &[id("digest", &d)]), Ok(()));
        assert_eq!(
            check_acl(&dacl, perms::WRITE, &[id("digest", &d)]),
            Err(ZkError::NoAuth)
        );
        assert_eq!(check_acl(&dacl, perms::WRITE, &[id("super", "")]), Ok(()));
        // READ|ADMIN mask matches if any bit is granted.
        assert_eq!(
            check_acl(&dacl, perms::READ | perms::WRITE, &[id("digest", &d)]),
            Ok(())
        );
    }

    #[test]
    fn fixup_expands_auth_and_validates() {
        let d = id("digest", &digest_id("u", "p"));
        let creator_all = [acl(perms::ALL, "auth", "")];
        assert_eq!(
            fixup_acl(&creator_all, &[id("ip", "1.2.3.4")]),
            Err(ZkError::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&creator_all, &[id("ip", "1.2.3.4"), d.clone()]),
            Ok(vec![Acl {
                perms: perms::ALL,
                id: d
            }])
        );
        assert_eq!(fixup_acl(&[], &[]), Err(ZkError::InvalidAcl));
        let open = Acl::open_unsafe();
        let twice = [open[0].clone(), open[0].clone()];
        assert_eq!(fixup_acl(&twice, &[]), Ok(open));
        assert_eq!(
            fixup_acl(&[acl(1, "world", "nobody")], &[]),
            Err(ZkError::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(1, "digest", "nocolon")], &[]),
            Err(ZkError::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(1, "digest", "a:b:c")], &[]),
            Err(ZkError::InvalidAcl)
        );
        assert!(fixup_acl(&[acl(1, "digest", "a:b:")], &[]).is_ok());
        assert!(fixup_acl(&[acl(1, "ip", "10.0.0.0/8")], &[]).is_ok());
        assert_eq!(
            fixup_acl(&[acl(1, "ip", "10.0.0/8")], &[]),
            Err(ZkError::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(1, "ip", "10.0.0.0/33")], &[]),
            Err(ZkError::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(1, "super", "x")], &[]),
            Err(ZkError::InvalidAcl)
        );
    }

    #[test]
    fn get_acl_masks_digests() {
        let masked = mask_digests(&[acl(1, "digest", "bob:abc=="), acl(1, "ip", "1.2.3.4")]);
        assert_eq!(
            masked,
            vec![acl(1, "digest", "bob:x"), acl(1, "ip", "1.2.3.4")]
        );
    }
}
