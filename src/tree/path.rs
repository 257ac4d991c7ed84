//! Znode paths: validation, parent/child split, sequential suffixes.
//!
//! `validate_path` mirrors ZooKeeper's `common/PathUtils.validatePath` character for character
//! (Java checks UTF-16 code units; a code point above U+FFFF is a surrogate pair there and is
//! rejected, so we reject it too). Facts: ../shared/reference/zookeeper-formats.md A.13.

use crate::tree::error::ZkError;

/// The root path.
pub const ROOT: &str = "/";

/// Checks a path exactly as `PathUtils.validatePath`; every failure is `BadArguments`.
pub fn validate_path(path: &str) -> Result<(), ZkError> {
    let chars: Vec<char> = path.chars().collect();
    if chars.first() != Some(&'/') {
        return Err(ZkError::BadArguments);
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars.last() == Some(&'/') {
        return Err(ZkError::BadArguments);
    }
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let at_segment_end = i + 1 == chars.len() || chars[i + 1] == '/';
        let bad = if c == '\0' || (c == '/' && last == '/') {
            true
        } else if c == '.' && last == '.' {
            chars[i - 2] == '/' && at_segment_end
        } else if c == '.' {
            chars[i - 1] == '/' && at_segment_end
        } else {
            is_forbidden_char(c)
        };
        if bad {
            return Err(ZkError::BadArguments);
        }
        last = c;
    }
    Ok(())
}

/// Characters PathUtils rejects: controls, the private-use/surrogate block, specials, and
/// (because Java sees them as surrogates) everything beyond the Basic Multilingual Plane.
fn is_forbidden_char(c: char) -> bool {
    let u = c as u32;
    (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || u >= 0xfff0
}

/// Splits at the last `/`: `"/a/b"` → `("/a", "b")`, `"/a"` → `("/", "a")`.
///
/// Mirrors `path.substring(0, lastSlash)` with ZooKeeper's `""` root alias mapped to `"/"`.
/// `BadArguments` if there is no `/` or the path contains NUL (PRP `validatePathForCreate`).
pub fn split_parent(path: &str) -> Result<(&str, &str), ZkError> {
    if path.contains('\0') {
        return Err(ZkError::BadArguments);
    }
    match path.rfind('/') {
        None => Err(ZkError::BadArguments),
        Some(0) => Ok((ROOT, &path[1..])),
        Some(i) => Ok((&path[..i], &path[i + 1..])),
    }
}

/// The parent of a valid non-root path (`"/"` for `"/a"`); `None` for the root.
pub fn parent_of(path: &str) -> Option<&str> {
    if path == ROOT {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some(ROOT),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// Appends the sequential suffix: the parent's persisted cversion as `%010d` (a negative
/// value after int overflow keeps its sign inside the 10 characters, as Java's formatter does).
pub fn sequential_name(path: &str, parent_cversion: i32) -> String {
    format!("{path}{parent_cversion:010}")
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == ROOT {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/.a",
            "/a.",
            "/..a",
            "/a/...",
            "/zookeeper/quota",
            "/é",
        ] {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_invalid_paths() {
        for p in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a/.",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/\u{1F600}",
        ] {
            assert_eq!(validate_path(p), Err(ZkError::BadArguments), "{p:?}");
        }
    }

    #[test]
    fn splits_parent_and_child() {
        assert_eq!(split_parent("/a"), Ok(("/", "a")));
        assert_eq!(split_parent("/a/b"), Ok(("/a", "b")));
        assert_eq!(split_parent("/"), Ok(("/", "")));
        assert_eq!(split_parent("/a/"), Ok(("/a", "")));
        assert_eq!(split_parent("a"), Err(ZkError::BadArguments));
        assert_eq!(split_parent("/a\0"), Err(ZkError::BadArguments));
        assert_eq!(parent_of("/"), None);
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b/c"), Some("/a/b"));
    }

    #[test]
    fn sequential_suffix_is_ten_digits() {
        assert_eq!(sequential_name("/q/seq-", 0), "/q/seq-0000000000");
        assert_eq!(sequential_name("/q/seq-", 12), "/q/seq-0000000012");
        assert_eq!(sequential_name("/x", i32::MAX), "/x2147483647");
        assert_eq!(sequential_name("/x", -1), "/x-000000001");
        assert_eq!(sequential_name("/x", i32::MIN), "/x-2147483648");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
