//! `src/server` is layered one way: every module path a file of `src/server` names
//! (`crate::server::x…`, `super::x…`) points to a module further down the order that
//! `src/server/mod.rs` states under "# Layers", never up it. This reads that order from the doc,
//! checks that it lists exactly the modules `mod.rs` declares and that `spec/server.md` states the
//! same one, then scans every `.rs` file under `src/server` (a file in `src/server/driver/` belongs
//! to `driver`) and fails on each back edge, naming the file and the path. `mod.rs` itself, which
//! starts every task, may name any module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/server.md");

/// The arrow line of the layer order, as backticked names in the text after `marker`.
fn stated_order(text: &str, marker: &str) -> Vec<String> {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} section"));
    let mut order = Vec::new();
    let mut seen_arrow = false;
    for line in text[start..].lines().skip(1) {
        let line = line.trim_start_matches("//!").trim();
        if !line.contains('→') {
            if seen_arrow {
                break;
            }
            continue;
        }
        seen_arrow = true;
        order.extend(
            line.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .filter(|name| !name.is_empty()),
        );
    }
    assert!(!order.is_empty(), "no `a` → `b` line after {marker:?}");
    order
}

/// The modules `mod.rs` declares (`pub mod x;` / `mod x;`).
fn declared_modules(mod_rs: &str) -> BTreeSet<String> {
    mod_rs
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

/// Code without `//` comments (prose may name any module).
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of each path in a `{a, b::c, D}` group starting at `text[0] == '{'`.
fn group_heads(text: &str) -> Vec<String> {
    let mut depth = 0;
    let mut heads = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    heads.push(std::mem::take(&mut current));
                    break;
                }
            }
            ',' if depth == 1 => {
                heads.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        if depth >= 1 {
            current.push(c);
        }
    }
    heads
        .iter()
        .map(|h| head(h.trim()))
        .filter(|h| !h.is_empty())
        .collect()
}

/// The first path segment of `text`.
fn head(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The server-level names a file's code reaches, each with whether it came after
/// `crate::server::` (else after `super::` climbing out of the file's own module; `depth` is 1
/// for `server/x.rs`, 2 for `server/x/y.rs`). A file's inline `mod tests` is one level deeper
/// than the file, which this cannot see: there `super::name` names the file's own items, which
/// are no modules, and the caller skips them.
fn reached(code: &str, depth: usize) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut take = |rest: &str, via_crate: bool| {
        let names = if rest.starts_with('{') {
            group_heads(rest)
        } else {
            vec![head(rest)]
        };
        out.extend(names.into_iter().map(|n| (n, via_crate)));
    };
    for (i, _) in code.match_indices("crate::server::") {
        take(&code[i + "crate::server::".len()..], true);
    }
    let bytes = code.as_bytes();
    for (i, _) in code.match_indices("super::") {
        let preceded = i >= "super::".len() && &code[i - "super::".len()..i] == "super::";
        let word_before = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if preceded || word_before {
            continue;
        }
        let mut rest = &code[i..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            climbs += 1;
        }
        if climbs >= depth {
            take(rest, false);
        }
    }
    out.retain(|(name, _)| !name.is_empty());
    out
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read src/server") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The back edges (and unlisted or non-module names) in `source`, a file of module `module` at
/// `depth`, against `order`.
fn violations(module: &str, depth: usize, source: &str, order: &[String]) -> Vec<String> {
    let rank = |name: &str| order.iter().position(|m| m == name);
    let Some(mine) = rank(module) else {
        return vec![format!("module `{module}` is not in the layer order")];
    };
    let mut found = Vec::new();
    for (name, via_crate) in reached(&code_of(source), depth) {
        match rank(&name) {
            Some(r) if r >= mine => {}
            Some(_) => found.push(format!("back edge `{module}` → `{name}`")),
            None if via_crate => found.push(format!(
                "`{module}` names `crate::server::{name}`: name the module that defines it"
            )),
            None => {}
        }
    }
    found
}

#[test]
fn every_server_module_points_down_the_stated_order() {
    let mod_rs = std::fs::read_to_string(format!("{SERVER}/mod.rs")).expect("mod.rs");
    let order = stated_order(&mod_rs, "# Layers");
    let listed: BTreeSet<String> = order.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        order.len(),
        "a module listed twice: {order:?}"
    );
    assert_eq!(
        listed,
        declared_modules(&mod_rs),
        "the layer order and mod.rs's modules differ"
    );
    let spec = std::fs::read_to_string(SPEC).expect("spec/server.md");
    assert_eq!(
        stated_order(&spec, "Module layers"),
        order,
        "spec/server.md states another order than src/server/mod.rs"
    );
    let mut all = Vec::new();
    for path in rust_files(Path::new(SERVER)) {
        let rel = path.strip_prefix(SERVER).expect("under src/server");
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().expect("utf-8")).collect();
        if parts == ["mod.rs"] {
            continue;
        }
        let module = parts[0].trim_end_matches(".rs");
        let source = std::fs::read_to_string(&path).expect("read");
        for v in violations(module, parts.len(), &source, &order) {
            all.push(format!("{}: {v}", rel.display()));
        }
    }
    assert!(all.is_empty(), "src/server layering:\n{}", all.join("\n"));
}

/// The checker is not vacuous: a back edge, a grouped back edge, a `super::` back edge and a
/// path to a re-export are each reported; downward and internal paths are not.
#[test]
fn the_checker_reports_back_edges() {
    let order: Vec<String> = ["client", "driver", "pipeline", "conn"]
        .map(String::from)
        .to_vec();
    let down = "use crate::server::conn::ConnHandle;\nuse crate::server::{conn, pipeline::X};\n";
    assert_eq!(violations("driver", 1, down, &order), Vec::<String>::new());
    let up = "use crate::server::client::Handler;\n";
    assert_eq!(
        violations("driver", 1, up, &order),
        ["back edge `driver` → `client`"]
    );
    let grouped = "use crate::server::{conn::ConnHandle, driver::NodeMsg};\n";
    assert_eq!(
        violations("pipeline", 1, grouped, &order),
        ["back edge `pipeline` → `driver`"]
    );
    let via_super = "fn f() { super::client::g() }\nmod tests { use super::*; }\n";
    assert_eq!(
        violations("conn", 1, via_super, &order),
        ["back edge `conn` → `client`"]
    );
    let child = "use super::Driver;\nuse super::super::client::Handler;\n";
    assert_eq!(
        violations("driver", 2, child, &order),
        ["back edge `driver` → `client`"]
    );
    let reexport = "use crate::server::Shared;\n";
    assert_eq!(violations("conn", 1, reexport, &order).len(), 1);
    let comment = "// see crate::server::client\n";
    assert!(violations("conn", 1, comment, &order).is_empty());
}
