//! The protocol core is IO-free and deterministic (spec/README.md, style: `src/protocol/` has no
//! tokio, sockets, files, threads, clocks, randomness or hash-ordered maps). This test scans its
//! sources and fails on any forbidden name outside comments.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "tokio",
    "std::net",
    "std::fs",
    "std::thread",
    "Instant",
    "SystemTime",
    "rand",
    "HashMap",
    "HashSet",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The source with `//` and `/* */` comments blanked out (string literals kept: a forbidden name
/// in a string is still suspicious). Line structure is kept for reporting.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let (mut in_str, mut block_depth) = (false, 0usize);
    while let Some(c) = chars.next() {
        if block_depth > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                block_depth -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                block_depth += 1;
            } else if c == '\n' {
                out.push('\n');
            }
            continue;
        }
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                block_depth = 1;
            }
            _ => out.push(c),
        }
    }
    out
}

/// Does `word` occur in `line` as a whole identifier (or path)?
fn mentions(line: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn protocol_core_uses_no_io_clock_randomness_or_hash_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() >= 10,
        "found only {} files under {}",
        files.len(),
        root.display()
    );
    let mut hits = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).expect("read source");
        for (n, line) in strip_comments(&src).lines().enumerate() {
            for word in FORBIDDEN {
                if mentions(line, word) {
                    hits.push(format!(
                        "{}:{}: `{word}` in `{}`",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the protocol core must stay IO-free:\n{}",
        hits.join("\n")
    );
}

#[test]
fn scanner_sees_code_and_skips_comments() {
    let src = "use std::collections::HashMap; // tokio\n/* rand */ let t = Instant::now();\n/// HashSet\n";
    let code = strip_comments(src);
    assert!(mentions(&code, "HashMap"));
    assert!(mentions(&code, "Instant"));
    assert!(!mentions(&code, "tokio"));
    assert!(!mentions(&code, "rand"));
    assert!(!mentions(&code, "HashSet"));
    assert!(
        !mentions("let operand = 1;", "rand"),
        "whole identifiers only"
    );
    assert!(mentions("rand::random()", "rand"));
}
