//! The two lowest layers of zoo.cfg: the Java properties syntax (`key=value`, `key:value` or
//! `key value` per line, `#`/`!` comments; ZooKeeper reads the file with `java.util.Properties`)
//! and the value parsers every key uses, whose errors name the key.

use super::ConfigError;

/// The whitespace that separates a key from its value in a Java properties line.
const PROPERTY_WHITESPACE: [char; 3] = [' ', '\t', '\x0c'];

/// Splits properties text into `(key, value)` pairs in file order.
pub(super) fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
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

/// A [`ConfigError::BadValue`] naming `key`.
pub(super) fn bad(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse::<T>()
        .map_err(|e| bad(key, value, e.to_string()))
}

pub(super) fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

/// A flag ZooKeeper reads with `Boolean.parseBoolean`, which takes anything but `true` as
/// false: only `true`/`false` (any case) are accepted here, so a `yes` cannot silently mean
/// "off".
pub(super) fn java_boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

/// A session timeout bound: a positive number of ms, or -1 for "use the default".
pub(super) fn timeout_bound(key: &str, value: &str) -> Result<Option<u32>, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;

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
}
