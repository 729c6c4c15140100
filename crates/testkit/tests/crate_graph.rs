//! The workspace's crate graph, read from `cargo metadata`, is the one `crates/README.md`
//! draws (so the picture cannot drift), reads top-down as the data flow (every crate's
//! dependencies sit above it), and keeps the edges that must never exist out.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Pipeline stages: none may depend, directly or through another crate, on the data
/// generators (`synth`, `implant`) or on training (`train`): inference never needs training.
const STAGES: &[&str] = &[
    "preproc", "measure", "register", "atlas", "report", "infer", "eval", "deliver", "pipeline",
    "serve",
];
const NOT_UNDER_A_STAGE: &[(&str, &str)] = &[
    ("synth", "the data generator"),
    ("implant", "the implant generator"),
    ("train", "training"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn short(name: &str) -> String {
    name.strip_prefix("strokeseg-").unwrap_or(name).to_string()
}

/// Crate → its workspace dependencies (normal ones: what ships), from `cargo metadata`.
/// `cargo metadata` of the workspace (no dependencies resolved).
fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every workspace package's normal dependencies (not dev, not build), by package name,
/// external ones included.
fn all_deps() -> BTreeMap<String, Vec<String>> {
    let m = metadata();
    m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// The workspace's own crates and their normal dependencies among them.
fn graph() -> BTreeMap<String, Vec<String>> {
    let all = all_deps();
    let names: Vec<String> = all.keys().cloned().collect();
    all.iter()
        .map(|(n, deps)| {
            let mut deps: Vec<String> = deps
                .iter()
                .filter(|d| names.contains(d))
                .map(|d| short(d))
                .collect();
            deps.sort();
            deps.dedup();
            (short(n), deps)
        })
        .collect()
}

/// `from` and everything it depends on, through any number of crates.
fn reach(g: &BTreeMap<String, Vec<String>>, from: &str) -> Vec<String> {
    let mut seen = vec![from.to_string()];
    let mut i = 0;
    while i < seen.len() {
        for d in g.get(&seen[i]).into_iter().flatten() {
            if !seen.contains(d) {
                seen.push(d.clone());
            }
        }
        i += 1;
    }
    seen
}

fn drawn() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("crates/README.md")).unwrap();
    let start = text
        .find("<!-- crate-graph:start -->")
        .expect("crates/README.md has the crate-graph block");
    let end = text.find("<!-- crate-graph:end -->").unwrap();
    text[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            let deps = cells[2]
                .split(',')
                .map(|d| d.trim().trim_matches('`').to_string())
                .filter(|d| !d.is_empty() && d != "—")
                .collect();
            (name, deps)
        })
        .collect()
}

fn block(rows: &[(String, Vec<String>)]) -> String {
    rows.iter()
        .map(|(n, d)| {
            let deps = if d.is_empty() {
                "—".to_string()
            } else {
                d.iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("| `{n}` | {deps} |\n")
        })
        .collect()
}

#[test]
fn crates_readme_draws_the_real_graph_in_flow_order() {
    let g = graph();
    let rows = drawn();
    // the same crates with the same dependencies (the README's order kept, so the message
    // shows what to paste)
    let mut expected: Vec<(String, Vec<String>)> = rows
        .iter()
        .filter(|(n, _)| g.contains_key(n))
        .map(|(n, _)| (n.clone(), g[n].clone()))
        .collect();
    for (n, d) in &g {
        if !rows.iter().any(|(r, _)| r == n) {
            expected.push((n.clone(), d.clone()));
        }
    }
    assert_eq!(
        block(&rows),
        block(&expected),
        "crates/README.md's crate-graph block differs from `cargo metadata`; it should read:\n{}",
        block(&expected)
    );
    // top-down: every dependency is drawn above the crate that uses it
    for (i, (n, deps)) in rows.iter().enumerate() {
        for d in deps {
            let pos = rows.iter().position(|(r, _)| r == d).unwrap();
            assert!(pos < i, "`{n}` depends on `{d}`, drawn below it");
        }
    }
}

#[test]
fn no_forbidden_edge() {
    let g = graph();
    for from in STAGES {
        assert!(g.contains_key(*from), "no crate `{from}`");
        let deps = reach(&g, from);
        for (to, what) in NOT_UNDER_A_STAGE {
            assert!(
                !deps.iter().any(|d| d == to),
                "`{from}` → … → `{to}`: a pipeline stage must not depend on {what}"
            );
        }
    }
    // the binary is a leaf, and test helpers are never shipped
    for (n, deps) in &g {
        assert!(
            !deps.iter().any(|d| d == "strokeseg"),
            "`{n}` depends on the binary"
        );
        assert!(
            !deps.iter().any(|d| d == "testkit"),
            "`{n}` ships the test helpers (make testkit a dev-dependency)"
        );
    }
}

#[test]
fn only_the_binary_uses_anyhow() {
    // Libraries return typed errors (thiserror) that say whether the user can fix them; the
    // binary alone turns them into messages and exit codes.
    for (n, deps) in all_deps() {
        if n != "strokeseg" {
            assert!(
                !deps.iter().any(|d| d == "anyhow"),
                "`{n}` depends on anyhow: give it a typed error"
            );
        }
    }
}
