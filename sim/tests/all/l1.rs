//! The L1 in the simulator, through the command line: a run with every L1 fault (outage, an agent
//! skipping its slots, one submitting out of slot, one submitting a wrong pre root) still ends with
//! every block of the run on the L1, in wrapped ranges accepted once each and tiling the chain from
//! block 1, each rejection recorded with its revert reason; anvil and the embedded L1 give the same
//! digest, and anvil the same L1 block hash in separate processes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkcrowd-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `scenario` (seed 1) into `out` and returns its summary and event log.
fn run(scenario: &Path, out: &Path) -> (serde_json::Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .current_dir(repo())
        .args(["run", scenario.to_str().unwrap(), "--seed", "1", "--quiet", "--out", out.to_str().unwrap()])
        .arg("--events")
        .output()
        .expect("run zkcrowd");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    (summary, std::fs::read_to_string(out.join("events.jsonl")).unwrap())
}

#[test]
fn l1_faults_are_survived_with_reasons() {
    let dir = temp_dir("l1-faults");
    let (summary, events) = run(&repo().join("scenarios/tests/l1-tiny.yaml"), &dir);
    let l1 = &summary["l1"];
    assert_eq!(l1["kind"], "embedded");
    let head = l1["proven_head"].as_u64().unwrap();
    assert!(head > 20, "{l1}");
    assert_eq!(summary["checks"]["l1_caught_up"], "ok", "every block of the run is on the L1: {l1}");
    assert!(head <= l1["l2_fully_proven_head"].as_u64().unwrap(), "{l1}");
    assert_eq!(summary["blocks_on_l1"].as_u64(), Some(head));
    let submissions = &l1["submissions"];
    for class in ["reverted: NotSlotOwner", "reverted: WrongPreRoot", "not sent: L1 unavailable"] {
        assert!(submissions[class].as_u64().unwrap_or(0) > 0, "{class} missing: {submissions}");
    }
    let submitted: Vec<serde_json::Value> = events
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|e| e["type"] == "l1_submission")
        .collect();
    // The accepted ranges tile [1, head], each accepted once.
    let mut next = 1;
    for accepted in submitted.iter().filter(|e| e["outcome"] == "accepted") {
        assert_eq!(accepted["first_block"].as_u64(), Some(next), "ranges accepted in order, once: {accepted}");
        next = accepted["last_block"].as_u64().unwrap() + 1;
    }
    assert_eq!(next, head + 1);
    assert_eq!(
        submissions["accepted"].as_u64(),
        Some(submitted.iter().filter(|e| e["outcome"] == "accepted").count() as u64)
    );
    // Per agent: 0 only with a wrong pre root, 1 skips (never appears), 2 submits out of slot, 3 is
    // honest.
    let by = |agent: u64| submitted.iter().filter(move |e| e["agent"] == agent);
    assert_eq!(by(1).count(), 0, "the skipping agent submitted");
    // Outcomes are typed: `{"reverted": {"not_slot_owner": {"sender": …, "owner": …, "slot": …}}}`.
    assert!(by(2).any(|e| e["outcome"]["reverted"]["not_slot_owner"]["slot"].is_u64()));
    assert!(by(0).any(|e| e["outcome"]["reverted"]["wrong_pre_root"]["expected"].is_string()));
    assert!(by(0).all(|e| {
        let outcome = &e["outcome"];
        outcome["reverted"]["wrong_pre_root"]["expected"].is_string() || outcome["not_sent"].is_object()
    }));
    assert!(by(3).any(|e| e["outcome"] == "accepted"));
}

/// `scenarios/tests/l1-tiny.yaml` on anvil instead of the embedded L1, written into `dir`.
fn anvil_variant(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("scenarios/tests/l1-tiny.yaml")).unwrap();
    let anvil = dir.join("l1-anvil.yaml");
    std::fs::write(&anvil, text.replace("kind: embedded", "kind: anvil")).unwrap();
    anvil
}

#[test]
fn anvil_and_embedded_agree_and_anvil_reproduces() {
    let dir = temp_dir("l1-anvil");
    let anvil = anvil_variant(&dir);
    let (embedded, _) = run(&repo().join("scenarios/tests/l1-tiny.yaml"), &dir.join("embedded"));
    let (first, _) = run(&anvil, &dir.join("anvil-1"));
    let (second, _) = run(&anvil, &dir.join("anvil-2"));
    assert_eq!(first["l1"]["kind"], "anvil");
    assert_eq!(first["digest"], second["digest"], "anvil runs reproduce");
    let hash = first["l1"]["l1_head_hash"].as_str().expect("anvil has block hashes");
    assert_eq!(Some(hash), second["l1"]["l1_head_hash"].as_str(), "same L1 head hash");
    assert_eq!(first["digest"], embedded["digest"], "same transactions, outcomes and gas on both L1s");
    assert_eq!(first["l1"]["proven_head"], second["l1"]["proven_head"]);
    assert_eq!(first["checks"]["l1_caught_up"], "ok");
}

/// A missing toolchain (contracts not built, no anvil) is a one-line setup error with exit status 2,
/// not a crash of the simulation.
#[test]
fn missing_l1_toolchain_is_a_setup_error() {
    let dir = temp_dir("l1-setup");
    let anvil = anvil_variant(&dir);
    for (scenario, variable, expected) in [
        (repo().join("scenarios/tests/l1-tiny.yaml"), "ZKCROWD_CONTRACTS_OUT", "contract artifact"),
        (anvil, "ZKCROWD_ANVIL", "could not start anvil"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
            .current_dir(repo())
            .env(variable, dir.join("nothing-here"))
            .args(["run", scenario.to_str().unwrap(), "--quiet", "--out", dir.join("out").to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected) && stderr.contains("scripts/setup"), "{stderr}");
    }
}
