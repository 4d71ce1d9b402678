//! Sweeps: a sharded sweep merged by the report step gives the same results table as an
//! unsharded one, and an interrupted sweep resumes without redoing finished runs.

use std::path::PathBuf;
use std::process::Command;

use polars::prelude::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn zkcrowd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkcrowd")).current_dir(repo()).args(args).output().expect("run zkcrowd")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkcrowd-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn results(dir: &std::path::Path) -> DataFrame {
    let file = std::fs::File::open(dir.join("results.parquet")).expect("results.parquet");
    ParquetReader::new(file).finish().unwrap()
}

/// Goal: shards 0/2 and 1/2 (one via --shard, one via JOB_COMPLETION_INDEX) merged by `--report`
/// give exactly the unsharded table; a resumed sweep skips finished runs.
#[test]
fn sharded_equals_unsharded_and_resume_skips() {
    let whole = temp_dir("whole");
    let output =
        zkcrowd(&["sweep", "scenarios/tests/sweep-small.yaml", "--jobs", "2", "--out", whole.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let unsharded = results(&whole);
    assert_eq!(unsharded.height(), 4, "2 points x 2 seeds");
    assert!(whole.join("sweep-report.html").is_file());
    assert!(whole.join("tradeoff.png").is_file());

    let sharded = temp_dir("sharded");
    let out = sharded.to_str().unwrap();
    assert!(zkcrowd(&["sweep", "scenarios/tests/sweep-small.yaml", "--shard", "0/2", "--out", out]).status.success());
    let second = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .current_dir(repo())
        .env("JOB_COMPLETION_INDEX", "1")
        .env("ZKCROWD_SHARDS", "2")
        .args(["sweep", "scenarios/tests/sweep-small.yaml", "--out", out])
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(zkcrowd(&["sweep", "scenarios/tests/sweep-small.yaml", "--report", "--out", out]).status.success());
    let merged = results(&sharded);
    // Same rows, except the reproduce command names each sweep's own directory.
    let drop = |df: &DataFrame| df.drop("reproduce").unwrap();
    assert!(drop(&merged).equals_missing(&drop(&unsharded)), "merged:\n{merged}\nunsharded:\n{unsharded}");

    // Resume: remove one run, rerun; the others are not redone (their summaries are untouched).
    let point_dirs: Vec<PathBuf> =
        std::fs::read_dir(whole.join("points")).unwrap().map(|e| e.unwrap().path()).collect();
    let kept = point_dirs[0].join("seed-1").join("summary.json");
    let removed = point_dirs[1].join("seed-2");
    let kept_time = std::fs::metadata(&kept).unwrap().modified().unwrap();
    std::fs::remove_dir_all(&removed).unwrap();
    assert!(zkcrowd(&["sweep", "scenarios/tests/sweep-small.yaml", "--out", whole.to_str().unwrap()]).status.success());
    assert!(removed.join("summary.json").is_file(), "the missing run is redone");
    assert_eq!(std::fs::metadata(&kept).unwrap().modified().unwrap(), kept_time, "finished runs are skipped");
    assert!(results(&whole).equals_missing(&unsharded));
}
