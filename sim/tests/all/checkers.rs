//! Every checker shown to fire: for each checker the simulator declares, a small scenario under
//! `scenarios/tests/checkers/` breaks exactly what it guards (a deliberate node bug from the
//! `test-bugs` feature, or a simulator sabotage). The run must exit with the checker's declared
//! status, report that checker violated and every other check held, print a reproduce line, and
//! the reproduce line must replay the same run (same exit status, same digest).

use std::path::PathBuf;
use std::process::{Command, Output};

use strum::IntoEnumIterator;
use zkcrowd_sim::scenario::Checker;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn zkcrowd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkcrowd")).current_dir(repo()).args(args).output().expect("run zkcrowd")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkcrowd-checker-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json")).expect("json")
}

/// Runs `args` (a `zkcrowd run …` command line without the program) into `out`.
fn run(args: &[String], out: &std::path::Path) -> Output {
    let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
    full.extend(["--quiet", "--no-report", "--out", out.to_str().expect("utf-8 path")]);
    zkcrowd(&full)
}

fn fires(checker: Checker) {
    let file = format!("scenarios/tests/checkers/{}.yaml", checker.name());
    assert!(repo().join(&file).exists(), "checker {} has no scenario that makes it fire ({file})", checker.name());
    let dir = temp_dir(checker.name());
    let output = run(&["run".into(), file.clone(), "--seed".into(), "1".into()], &dir);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = checker.class().exit_code();
    assert_eq!(output.status.code(), Some(i32::from(expected)), "{file}\n{stdout}\n{stderr}");

    let summary = summary(&dir);
    let checks = summary["checks"].as_object().expect("checks");
    let verdict = checks.get(checker.name()).and_then(|v| v.as_str()).unwrap_or("absent");
    assert!(verdict.starts_with("violated"), "{}: {verdict}", checker.name());
    for (name, verdict) in checks {
        if name != checker.name() {
            assert_eq!(verdict.as_str(), Some("ok"), "{file}: {name} should hold, got {verdict}");
        }
    }

    // The reproduce line replays the run: same status, same digest.
    let line = stdout.lines().find_map(|l| l.strip_prefix("reproduce: zkcrowd ")).expect("a reproduce line");
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let again_dir = temp_dir(&format!("{}-again", checker.name()));
    let again = run(&args, &again_dir);
    assert_eq!(again.status.code(), output.status.code(), "{line}");
    assert_eq!(summary["digest"], self::summary(&again_dir)["digest"], "{line}: the replay differs");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(again_dir);
}

/// Goal: no checker can exist without a scenario that makes it fire, with its declared exit status.
/// Method: every variant of `Checker`, one run and one replay each.
#[test]
fn every_checker_fires_on_its_own_violation() {
    for checker in Checker::iter() {
        fires(checker);
    }
}
