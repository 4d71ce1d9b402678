//! The simulator through its command line: determinism across processes, exit statuses,
//! reproduce lines, malformed scenarios, the schema, and every shipped scenario's validity.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn zkcrowd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkcrowd")).current_dir(repo()).args(args).output().expect("run zkcrowd")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkcrowd-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn digests(dir: &Path, seeds: std::ops::Range<u64>) -> BTreeMap<u64, String> {
    seeds
        .map(|seed| {
            let path = dir.join(format!("seed-{seed}")).join("summary.json");
            let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (seed, summary["digest"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Goal: the same scenario and seed give the same digest in separate processes, for 10 seeds,
/// and different seeds give different digests. Method: `zkcrowd seeds` twice into two directories.
#[test]
fn ten_seeds_twice_give_the_same_digests() {
    let first = temp_dir("det-a");
    let second = temp_dir("det-b");
    for dir in [&first, &second] {
        let output = zkcrowd(&[
            "seeds",
            "scenarios/tests/tiny.yaml",
            "--count",
            "10",
            "--jobs",
            "2",
            "--out",
            dir.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(stdout.contains("10 of 10 seeds passed"), "{stdout}");
    }
    let a = digests(&first, 1..11);
    let b = digests(&second, 1..11);
    assert_eq!(a, b, "digests differ between processes");
    let distinct: std::collections::BTreeSet<&String> = a.values().collect();
    assert_eq!(distinct.len(), 10, "two seeds gave the same digest");
}

/// Goal: a scenario whose liveness bound cannot be met exits with the liveness status (4) and a
/// reproduce line, and running that line again gives the same status and digest.
#[test]
fn unmeetable_liveness_exits_4_and_reproduces() {
    let dir = temp_dir("liveness");
    let out = dir.join("run");
    let output = zkcrowd(&[
        "run",
        "scenarios/tests/unmeetable-liveness.yaml",
        "--seed",
        "3",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(4), "{}", String::from_utf8_lossy(&output.stdout));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|l| l.starts_with("reproduce: ")).expect("a reproduce line");
    assert_eq!(line, "reproduce: zkcrowd run scenarios/tests/unmeetable-liveness.yaml --seed 3");
    let digest = |text: &str| text.split("digest ").nth(1).map(|rest| rest[..66].to_owned());
    let mut args: Vec<&str> = line.trim_start_matches("reproduce: zkcrowd ").split(' ').collect();
    let out_again = dir.join("again");
    args.extend(["--quiet", "--out", out_again.to_str().unwrap()]);
    let again = zkcrowd(&args);
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(digest(&String::from_utf8_lossy(&again.stdout)), digest(&stdout));
}

/// Goal: malformed scenarios (unknown key, bad duration, negative rate) are one-line errors with
/// file:line:column and exit status 2.
#[test]
fn malformed_scenarios_exit_2_with_location() {
    let dir = temp_dir("malformed");
    for (name, text, place) in [
        ("unknown.yaml", "name: x\nduration: 1m\nplugins:\n  populace: 5\n", ":4:3"),
        ("duration.yaml", "name: x\nduration: 1 fortnight\n", ":2:11"),
        ("rate.yaml", "name: x\nduration: 1m\nload:\n  tx_rate: -3/s\n", ":4:12"),
        ("real.yaml", "name: x\nduration: 1m\nproofs:\n  real: some\n", ":4:9"),
        ("l1.yaml", "name: x\nduration: 1m\nl1:\n  kind: mainnet\n", ":4:9"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let output = zkcrowd(&["run", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name}{place}")), "{name}: {stderr}");
    }
}

/// Goal: `zkcrowd schema` prints a JSON Schema whose properties are the scenario's sections.
#[test]
fn schema_command() {
    let output = zkcrowd(&["schema"]);
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in ["name", "duration", "chain", "plugins", "market", "faults", "checks"] {
        assert!(schema["properties"].get(key).is_some(), "schema lacks {key}");
    }
}

/// Goal: every shipped scenario parses and validates, and starts with a comment saying what
/// question it answers.
#[test]
fn shipped_scenarios_are_valid_and_documented() {
    let mut checked = 0;
    for dir in ["scenarios", "scenarios/ci", "scenarios/tests", "scenarios/sweeps", "scenarios/bench"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(text.starts_with("# "), "{} must open with a comment", path.display());
                // A sweep file names its base scenario; its points are validated as scenarios.
                if text.lines().any(|line| line.starts_with("base:")) {
                    let out = std::env::temp_dir();
                    zkcrowd_sim::sweep::resolve(&path, &out).unwrap_or_else(|e| panic!("{e:#}"));
                } else {
                    zkcrowd_sim::scenario::Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "found only {checked} scenarios");
}
