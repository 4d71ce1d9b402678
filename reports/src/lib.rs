//! Reports: a run's tables (polars DataFrames, Parquet on disk), its key figures, its charts
//! (plotters, PNG and SVG) and its `report.html`; and the comparison report of a sweep.
//!
//! Everything here is computed from the tables and `summary.json` a run wrote, never the other way
//! round: `zkcrowd report DIR` rebuilds a report from a run directory alone.

pub mod charts;
pub mod html;
pub mod metrics;
pub mod sweep;
pub mod tables;

use std::path::Path;

pub use charts::{ChartFile, FaultWindow};
pub use metrics::KeyFigures;
pub use tables::{BlockRow, JobRow, PluginRow, RunTables, SampleRow};

/// Renders the charts and `report.html` of the run in `dir` from its `summary.json` and tables.
pub fn render_report(dir: &Path) -> Result<(), String> {
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("summary.json"))
            .map_err(|e| format!("cannot read {}/summary.json: {e}", dir.display()))?,
    )
    .map_err(|e| format!("summary.json: {e}"))?;
    let tables = RunTables::read(dir).map_err(|e| e.to_string())?;
    let figures = KeyFigures::from_tables(&tables).map_err(|e| e.to_string())?;
    let faults: Vec<FaultWindow> = summary["fault_windows"]
        .as_array()
        .map(|windows| {
            windows
                .iter()
                .map(|w| FaultWindow {
                    start_s: w["start_s"].as_f64().unwrap_or(0.0),
                    end_s: w["end_s"].as_f64().unwrap_or(0.0),
                    what: w["what"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let l1 = summary["l1"]["kind"].as_str().unwrap_or("none").to_owned();
    let charts_dir = dir.join("charts");
    std::fs::create_dir_all(&charts_dir).map_err(|e| format!("cannot create {}: {e}", charts_dir.display()))?;
    let mut charts = charts::render(&charts_dir, &tables, &faults, &l1)?;
    for chart in &mut charts {
        chart.png = format!("charts/{}", chart.png);
        chart.svg = format!("charts/{}", chart.svg);
    }
    let behaviours = metrics::by_behaviour(&tables.plugins).map_err(|e| e.to_string())?;
    html::write(dir, &summary, &figures, &behaviours, &charts)
}
