//! Every seeded historical bug is caught inside its CI bounds: `zabkeeper-check run` exits 1
//! with a counterexample of the expected property, and writes the trace as text, JSON and
//! Mermaid. This is what proves the properties can fail.

mod common;

use zabkeeper_models::mutants;

#[test]
fn every_mutant_is_caught_with_a_trace() {
    let dir = std::env::temp_dir().join(format!("zabkeeper-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut failures = Vec::new();
    for m in mutants::catalogue() {
        let base = dir.join(m.bug.name());
        let base = base.to_str().expect("utf-8 path");
        let mut args = vec!["run", m.model];
        args.extend_from_slice(m.args);
        args.extend_from_slice(&["--bug", m.bug.name(), "--trace-out", base]);
        let out = common::check(&args);
        let violations: Vec<String> = out.summary["violations"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let steps = out.summary["trace_steps"].as_u64().unwrap_or(0);
        let ok = out.code == 1 && violations.iter().any(|v| v == m.expected) && steps > 0;
        if !ok {
            failures.push(format!(
                "{}: exit {} violations {violations:?} (expected {})",
                m.bug.name(),
                out.code,
                m.expected
            ));
            continue;
        }
        let text = std::fs::read_to_string(format!("{base}.txt")).expect("text trace");
        assert!(text.contains("Counterexample to"), "{text}");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{base}.json")).expect("json trace"),
        )
        .expect("valid json");
        assert_eq!(json["steps"].as_array().map(Vec::len), Some(steps as usize));
        let mermaid = std::fs::read_to_string(format!("{base}.mmd")).expect("mermaid trace");
        assert!(mermaid.starts_with("sequenceDiagram"), "{mermaid}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "mutants not caught:\n{}",
        failures.join("\n")
    );
}

#[test]
fn list_json_names_every_mutant_with_its_history() {
    let out = common::check(&["list", "--json"]);
    assert_eq!(out.code, 0);
    let bugs = out.summary["bugs"].as_array().expect("bugs");
    assert_eq!(bugs.len(), zabkeeper::protocol::Bug::ALL.len());
    for b in bugs {
        assert!(
            b["history"]
                .as_str()
                .is_some_and(|h| h.contains("ZOOKEEPER") || h.contains("TLA") || h == "new"),
            "{b}"
        );
        assert!(b["args"].as_array().is_some_and(|a| !a.is_empty()));
    }
    let models = out.summary["models"].as_array().expect("models");
    assert!(models.iter().any(|m| m["name"] == "zab"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(common::check(&["run", "nosuchmodel"]).code, 2);
    assert_eq!(common::check(&["run", "zab", "--bug", "nosuchbug"]).code, 2);
    assert_eq!(common::check(&["run", "zab", "--symmetry"]).code, 2);
}
