//! Reports end to end: a run's Parquet tables read back with the documented schema, its
//! report.html opened in headless Chromium with every chart decoded and no page error, the
//! report rebuilt from the tables alone, and the generated table reference kept in step.

use std::path::{Path, PathBuf};
use std::process::Command;

use zkcrowd_reports::{KeyFigures, RunTables};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn zkcrowd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkcrowd")).current_dir(repo()).args(args).output().expect("run zkcrowd")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkcrowd-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `page` in headless Chromium; returns (charts on the page, charts decoded, page errors).
fn open_in_chromium(page: &Path) -> (u32, u32, Vec<String>) {
    let profile = temp_dir("chromium-profile");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is installed by scripts/setup");
    let dom = String::from_utf8_lossy(&output.stdout);
    let attribute = |name: &str| -> u32 {
        let key = format!("{name}=\"");
        dom.split(&key).nth(1).and_then(|rest| rest.split('"').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    // Page errors are logged as CONSOLE messages; the rest of stderr is the sandbox's missing D-Bus.
    let errors = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load resource"))
        .map(str::to_owned)
        .collect();
    (attribute("data-charts"), attribute("data-charts-loaded"), errors)
}

/// Goal: the run's report opens in headless Chromium with all six charts decoded and no page error;
/// a copy with one corrupted chart is caught (the check has teeth); `zkcrowd report` rebuilds the
/// page from the tables alone.
#[test]
fn report_opens_in_chromium_with_every_chart() {
    let dir = temp_dir("run");
    let output =
        zkcrowd(&["run", "scenarios/tests/tiny.yaml", "--seed", "2", "--quiet", "--out", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let page = dir.join("report.html");
    let (charts, loaded, errors) = open_in_chromium(&page);
    assert_eq!(charts, 6, "charts on the page");
    assert_eq!(loaded, 6, "charts decoded");
    assert!(errors.is_empty(), "page errors: {errors:?}");
    for name in ["latency", "backlog", "bounty", "income", "l1_finality", "l1_gas"] {
        for ext in ["png", "svg"] {
            let file = dir.join("charts").join(format!("{name}.{ext}"));
            let floor = if ext == "png" { 5_000 } else { 300 };
            assert!(std::fs::metadata(&file).map(|m| m.len() > floor).unwrap_or(false), "{}", file.display());
        }
    }

    // A corrupted chart must be seen as not loaded.
    let html = std::fs::read_to_string(&page).unwrap();
    let broken = html.replacen("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1);
    assert_ne!(broken, html);
    let broken_page = dir.join("broken.html");
    std::fs::write(&broken_page, broken).unwrap();
    let (charts, loaded, _) = open_in_chromium(&broken_page);
    assert_eq!((charts, loaded), (6, 5), "a broken image must be detected");

    // Rebuild from the tables.
    std::fs::remove_file(&page).unwrap();
    std::fs::remove_dir_all(dir.join("charts")).unwrap();
    let rebuilt = zkcrowd(&["report", dir.to_str().unwrap()]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    assert_eq!(open_in_chromium(&page).1, 6);
}

/// Goal: the Parquet tables a run writes load in polars with exactly the documented schema, the
/// key figures in summary.json are the ones computed from them, and `--csv` adds CSV copies.
#[test]
fn tables_load_with_the_documented_schema() {
    let dir = temp_dir("tables");
    let output = zkcrowd(&[
        "run",
        "scenarios/tests/tiny.yaml",
        "--seed",
        "4",
        "--quiet",
        "--csv",
        "--no-report",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let tables = RunTables::read(&dir).expect("documented schema");
    assert!(tables.blocks.height() > 10);
    assert!(tables.jobs.height() > tables.blocks.height());
    assert_eq!(tables.plugins.height(), 12);
    assert_eq!(tables.timeseries.height(), tables.blocks.height());
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let figures: KeyFigures = serde_json::from_value(summary["key_figures"].clone()).unwrap();
    assert_eq!(figures, KeyFigures::from_tables(&tables).unwrap());
    assert!(figures.cost_per_proven_tx_zkpow.unwrap() > 0.0);
    for name in ["blocks", "jobs", "plugins", "timeseries"] {
        assert!(dir.join(format!("{name}.csv")).is_file(), "{name}.csv");
    }
    assert!(!dir.join("report.html").exists(), "--no-report");
}

/// Goal: docs/tables.md is the generated schema reference, so it cannot drift from the code.
#[test]
fn table_reference_is_current() {
    let generated = zkcrowd_reports::tables::schema_markdown();
    let committed = std::fs::read_to_string(repo().join("docs/tables.md")).unwrap_or_default();
    assert!(
        committed.starts_with(&generated),
        "docs/tables.md is stale: run `zkcrowd tables-doc > docs/tables.md` and keep the appendix"
    );
}
