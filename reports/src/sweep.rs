//! Sweep results: one row per (point, seed) in Parquet, shards merged by the report step, and the
//! comparison report (per-point medians and spread across seeds, a latency/cost trade-off chart,
//! the runs that violated checks).
//!
//! Only simulated quantities go into the results (no wall-clock time), so a sharded sweep merged
//! here gives exactly the table an unsharded one gives.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use plotters::prelude::*;
use polars::prelude::*;

use crate::charts::load_font;

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// Point name.
    pub point: String,
    /// Point position in the sweep file.
    pub point_index: u64,
    /// The point's overrides (JSON).
    pub overrides: String,
    /// Seed.
    pub seed: u64,
    /// Run digest.
    pub digest: String,
    /// Exit status of the run.
    pub exit_code: i64,
    /// Whether every check held.
    pub checks_ok: bool,
    /// Violated checks with reasons.
    pub violations: String,
    /// Blocks committed.
    pub blocks_committed: u64,
    /// Blocks fully proven.
    pub blocks_fully_proven: u64,
    /// User txs committed.
    pub txs_committed: u64,
    /// Deadlines missed.
    pub jobs_missed: u64,
    /// Proofs rejected.
    pub proofs_rejected: u64,
    /// Shortfall minted, ZKPoW.
    pub shortfall_zkpow: f64,
    /// Block proving time p50, s.
    pub block_proving_p50_s: Option<f64>,
    /// Block proving time p95, s.
    pub block_proving_p95_s: Option<f64>,
    /// Tx latency p50, s.
    pub tx_latency_p50_s: Option<f64>,
    /// Tx latency p95, s.
    pub tx_latency_p95_s: Option<f64>,
    /// Cost per proven tx, ZKPoW.
    pub cost_per_proven_tx_zkpow: Option<f64>,
    /// Plugin net income p50, ZKPoW.
    pub plugin_income_p50_zkpow: Option<f64>,
    /// Plugins in debt, share.
    pub plugins_in_debt_share: Option<f64>,
    /// Blocks the L1 accepted (0 without an L1).
    pub blocks_on_l1: u64,
    /// L2 commit to L1 acceptance p50, s.
    pub l1_finality_p50_s: Option<f64>,
    /// L2 commit to L1 acceptance p95, s.
    pub l1_finality_p95_s: Option<f64>,
    /// L1 gas per L2 user transaction.
    pub l1_gas_per_user_tx: Option<f64>,
    /// The command that replays the run.
    pub reproduce: String,
}

fn frame(rows: &[ResultRow]) -> PolarsResult<DataFrame> {
    macro_rules! c {
        ($name:literal, |$r:ident| $e:expr) => {
            Column::from(Series::new($name.into(), rows.iter().map(|$r| $e).collect::<Vec<_>>()))
        };
    }
    DataFrame::new_infer_height(vec![
        c!("point", |r| r.point.clone()),
        c!("point_index", |r| r.point_index),
        c!("overrides", |r| r.overrides.clone()),
        c!("seed", |r| r.seed),
        c!("digest", |r| r.digest.clone()),
        c!("exit_code", |r| r.exit_code),
        c!("checks_ok", |r| r.checks_ok),
        c!("violations", |r| r.violations.clone()),
        c!("blocks_committed", |r| r.blocks_committed),
        c!("blocks_fully_proven", |r| r.blocks_fully_proven),
        c!("txs_committed", |r| r.txs_committed),
        c!("jobs_missed", |r| r.jobs_missed),
        c!("proofs_rejected", |r| r.proofs_rejected),
        c!("shortfall_zkpow", |r| r.shortfall_zkpow),
        c!("block_proving_p50_s", |r| r.block_proving_p50_s),
        c!("block_proving_p95_s", |r| r.block_proving_p95_s),
        c!("tx_latency_p50_s", |r| r.tx_latency_p50_s),
        c!("tx_latency_p95_s", |r| r.tx_latency_p95_s),
        c!("cost_per_proven_tx_zkpow", |r| r.cost_per_proven_tx_zkpow),
        c!("plugin_income_p50_zkpow", |r| r.plugin_income_p50_zkpow),
        c!("plugins_in_debt_share", |r| r.plugins_in_debt_share),
        c!("blocks_on_l1", |r| r.blocks_on_l1),
        c!("l1_finality_p50_s", |r| r.l1_finality_p50_s),
        c!("l1_finality_p95_s", |r| r.l1_finality_p95_s),
        c!("l1_gas_per_user_tx", |r| r.l1_gas_per_user_tx),
        c!("reproduce", |r| r.reproduce.clone()),
    ])
}

/// Writes one shard's rows.
pub fn write_shard(path: &Path, rows: &[ResultRow]) -> PolarsResult<()> {
    let mut df = frame(rows)?;
    ParquetWriter::new(File::create(path)?).finish(&mut df)?;
    Ok(())
}

/// What the report step found.
#[derive(Debug, Clone, Copy)]
pub struct Merged {
    /// Runs in the merged table.
    pub runs: usize,
    /// Runs with a violated check.
    pub violated: usize,
}

/// Reads every shard under `out/shards`, writes `out/results.parquet` sorted by point and seed,
/// and `out/sweep-report.html` with its chart.
pub fn merge_and_report(out: &Path, name: &str) -> Result<Merged, String> {
    let e = |e: PolarsError| e.to_string();
    let shard_dir = out.join("shards");
    let mut files: Vec<_> = std::fs::read_dir(&shard_dir)
        .map_err(|err| format!("no shards in {}: {err}", shard_dir.display()))?
        .filter_map(|entry| entry.ok().map(|x| x.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no shard results in {}", shard_dir.display()));
    }
    let frames: Vec<LazyFrame> = files
        .iter()
        .map(|path| -> Result<LazyFrame, String> {
            let file = File::open(path).map_err(|err| format!("{}: {err}", path.display()))?;
            Ok(ParquetReader::new(file).finish().map_err(e)?.lazy())
        })
        .collect::<Result<_, _>>()?;
    let mut merged = concat(frames, UnionArgs::default())
        .map_err(e)?
        .unique(None, UniqueKeepStrategy::First)
        .sort(["point_index", "seed"], Default::default())
        .collect()
        .map_err(e)?;
    ParquetWriter::new(File::create(out.join("results.parquet")).map_err(|err| err.to_string())?)
        .finish(&mut merged)
        .map_err(e)?;
    let violated =
        merged.column("checks_ok").map_err(e)?.bool().map_err(e)?.iter().filter(|v| *v == Some(false)).count();
    let summary = merged
        .clone()
        .lazy()
        .group_by([col("point_index"), col("point")])
        .agg([
            len().alias("runs"),
            col("checks_ok").not().cast(DataType::UInt32).sum().alias("violated"),
            col("cost_per_proven_tx_zkpow").median().alias("cost_per_tx_median"),
            col("cost_per_proven_tx_zkpow").min().alias("cost_per_tx_min"),
            col("cost_per_proven_tx_zkpow").max().alias("cost_per_tx_max"),
            col("block_proving_p95_s").median().alias("block_p95_median_s"),
            col("block_proving_p95_s").min().alias("block_p95_min_s"),
            col("block_proving_p95_s").max().alias("block_p95_max_s"),
            col("tx_latency_p95_s").median().alias("tx_p95_median_s"),
            col("plugin_income_p50_zkpow").median().alias("income_p50_median"),
            col("plugins_in_debt_share").median().alias("in_debt_median"),
            col("shortfall_zkpow").median().alias("shortfall_median"),
        ])
        .sort(["point_index"], Default::default())
        .collect()
        .map_err(e)?;
    let (png, svg) = tradeoff_chart(out, &merged, &summary)?;
    write_html(out, name, &merged, &summary, &png, &svg)?;
    Ok(Merged { runs: merged.height(), violated })
}

fn tradeoff_chart(out: &Path, merged: &DataFrame, summary: &DataFrame) -> Result<(String, String), String> {
    load_font()?;
    let e = |e: PolarsError| e.to_string();
    let points: Vec<String> = summary
        .column("point")
        .map_err(e)?
        .str()
        .map_err(e)?
        .iter()
        .map(|s| s.unwrap_or_default().to_owned())
        .collect();
    let run_point: Vec<Option<&str>> = merged.column("point").map_err(e)?.str().map_err(e)?.iter().collect();
    let cost: Vec<Option<f64>> =
        merged.column("cost_per_proven_tx_zkpow").map_err(e)?.f64().map_err(e)?.iter().collect();
    let latency: Vec<Option<f64>> = merged.column("block_proving_p95_s").map_err(e)?.f64().map_err(e)?.iter().collect();
    let runs: Vec<(usize, f64, f64)> = run_point
        .iter()
        .zip(cost.iter().zip(&latency))
        .filter_map(|(p, (c, l))| Some((points.iter().position(|x| Some(x.as_str()) == *p)?, (*c)?, (*l)?)))
        .collect();
    let x_max = runs.iter().map(|r| r.1).fold(0.1, f64::max) * 1.15;
    let y_max = runs.iter().map(|r| r.2).fold(1.0, f64::max) * 1.15;
    let png = "tradeoff.png".to_string();
    let svg = "tradeoff.svg".to_string();
    draw_tradeoff(
        BitMapBackend::new(&out.join(&png), crate::charts::SIZE).into_drawing_area(),
        &points,
        &runs,
        x_max,
        y_max,
    )?;
    draw_tradeoff(
        SVGBackend::new(&out.join(&svg), crate::charts::SIZE).into_drawing_area(),
        &points,
        &runs,
        x_max,
        y_max,
    )?;
    Ok((png, svg))
}

fn draw_tradeoff<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    points: &[String],
    runs: &[(usize, f64, f64)],
    x_max: f64,
    y_max: f64,
) -> Result<(), String> {
    let palette = PALETTE;
    let err = |x: &dyn std::fmt::Debug| format!("{x:?}");
    root.fill(&WHITE).map_err(|x| err(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Trade-off: block proving time against cost per proven tx", ("sans-serif", 30))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|x| err(&x))?;
    chart
        .configure_mesh()
        .x_desc("cost per proven user tx (ZKPoW, all bounties / txs proven)")
        .y_desc("block proving time p95 (s)")
        .label_style(("sans-serif", 20))
        .axis_desc_style(("sans-serif", 22))
        .draw()
        .map_err(|x| err(&x))?;
    for (i, point) in points.iter().enumerate() {
        let color = palette[i % palette.len()];
        let mine: Vec<(f64, f64)> = runs.iter().filter(|r| r.0 == i).map(|r| (r.1, r.2)).collect();
        chart
            .draw_series(mine.iter().map(|p| Circle::new(*p, 6, color.filled())))
            .map_err(|x| err(&x))?
            .label(point.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 7, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 22))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| err(&x))?;
    root.present().map_err(|x| err(&x))
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(30, 110, 200),
    RGBColor(200, 60, 40),
    RGBColor(40, 150, 80),
    RGBColor(150, 40, 170),
    RGBColor(230, 140, 0),
    RGBColor(20, 160, 160),
    RGBColor(120, 80, 40),
    RGBColor(90, 90, 90),
];

fn cell(value: AnyValue<'_>) -> String {
    match value {
        AnyValue::Float64(f) => format!("{f:.3}"),
        AnyValue::Null => "—".into(),
        AnyValue::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn write_html(
    out: &Path,
    name: &str,
    merged: &DataFrame,
    summary: &DataFrame,
    png: &str,
    svg: &str,
) -> Result<(), String> {
    use base64::Engine;
    let e = |e: PolarsError| e.to_string();
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>zkcrowd sweep: {name}</title><style>\
         body{{font-family:'DejaVu Sans',sans-serif;margin:2em auto;max-width:1300px}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3em .6em}}th{{background:#f5f5f5}}.bad{{color:#b3261e}}</style></head><body>\
         <h1>Sweep {name}</h1><p>{} runs. Medians and ranges across seeds per point; every figure comes from \
         <code>results.parquet</code> (one row per run).</p><h2>Per point</h2><table><tr>",
        merged.height()
    );
    for column in summary.columns() {
        let _ = write!(page, "<th>{}</th>", column.name());
    }
    page.push_str("</tr>");
    for row in 0..summary.height() {
        page.push_str("<tr>");
        for column in summary.columns() {
            let _ = write!(page, "<td>{}</td>", cell(column.get(row).map_err(e)?));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
    let bytes = std::fs::read(out.join(png)).map_err(|err| err.to_string())?;
    let _ = write!(
        page,
        "<h2>Trade-off</h2><figure><img class=\"chart\" alt=\"trade-off\" src=\"data:image/png;base64,{}\" style=\"max-width:100%\">\
         <figcaption>One dot per run, coloured by point: down and left is better (<a href=\"{svg}\">SVG</a>).</figcaption></figure>",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    page.push_str("<h2>Runs that violated checks</h2>");
    let ok = merged.column("checks_ok").map_err(e)?.bool().map_err(e)?;
    let violations = merged.column("violations").map_err(e)?.str().map_err(e)?;
    let reproduce = merged.column("reproduce").map_err(e)?.str().map_err(e)?;
    let mut any = false;
    page.push_str("<ul>");
    for i in 0..merged.height() {
        if ok.get(i) == Some(false) {
            any = true;
            let _ = write!(
                page,
                "<li class=\"bad\">{}<br><code>{}</code></li>",
                violations.get(i).unwrap_or_default().replace('<', "&lt;"),
                reproduce.get(i).unwrap_or_default()
            );
        }
    }
    page.push_str("</ul>");
    if !any {
        page.push_str("<p>None: every check held in every run.</p>");
    }
    page.push_str("</body></html>");
    std::fs::write(out.join("sweep-report.html"), page).map_err(|err| err.to_string())
}
