//! Sweep results: one row per (point, seed) in Parquet, shards merged by the report step, and the
//! comparison report (per-point medians and spread across seeds, a latency/cost trade-off chart,
//! the Pareto frontier of the points' medians, the runs that violated checks).
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
///
/// The report marks the Pareto frontier of the points' medians (cost per proven tx against block
/// proving p95, lower being better on both) among the points whose runs all passed their checks;
/// a point with a violated check in any run is labelled and excluded from it (see
/// `frontier_status`).
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
    let points = point_summaries(&summary)?;
    let (png, svg) = tradeoff_chart(out, &merged, &points)?;
    write_html(out, name, &merged, &summary, &points, &png, &svg)?;
    Ok(Merged { runs: merged.height(), violated })
}

/// Where a sweep point stands with respect to the Pareto frontier of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frontier {
    /// On the frontier: no other eligible point is at most as costly and at most as slow while
    /// strictly better on one of the two.
    On,
    /// Not on it: dominated by an eligible point, or without both medians.
    Off,
    /// Left out of the frontier: at least one of the point's runs violated a check.
    Excluded,
}

impl Frontier {
    /// The cell of the "Pareto frontier" column.
    fn label(self) -> &'static str {
        match self {
            Frontier::On => "yes",
            Frontier::Off => "no",
            Frontier::Excluded => "excluded: violated checks",
        }
    }
}

/// Which points are on the Pareto frontier of `(cost, latency)`, lower being better on both.
///
/// A point is on the frontier when both its values are present and finite and no other such point
/// is at most as costly and at most as slow while strictly better on at least one of the two. Equal
/// points do not dominate each other, so tied points are all on the frontier. A missing or
/// non-finite value (NaN, infinite) keeps a point off the frontier, and such a point dominates
/// nothing. Only comparisons of finite values are made: no sort, so nothing can panic on NaN.
fn pareto_front(points: &[(Option<f64>, Option<f64>)]) -> Vec<bool> {
    let valid: Vec<Option<(f64, f64)>> = points
        .iter()
        .map(|p| match *p {
            (Some(cost), Some(latency)) if cost.is_finite() && latency.is_finite() => Some((cost, latency)),
            _ => None,
        })
        .collect();
    valid
        .iter()
        .map(|me| {
            let Some((cost, latency)) = *me else { return false };
            !valid.iter().flatten().any(|&(c, l)| c <= cost && l <= latency && (c < cost || l < latency))
        })
        .collect()
}

/// The frontier status of every point from its medians `(cost per proven tx, block proving p95)`
/// and its count of runs with violated checks (`violated[i]` belongs to `medians[i]`; a missing
/// count is taken as zero).
///
/// Decision: the frontier is computed over the points whose runs all passed their checks only. A
/// point with a violated check in any run is [`Frontier::Excluded`]: it is neither on the frontier
/// nor pushes another point off it, since its figures come from runs the checks flag as wrong. It
/// is not hidden either: the table, the chart and the list under the chart label it with its count
/// of violating runs ("violated checks in N of M runs") and as excluded from the frontier.
fn frontier_status(medians: &[(Option<f64>, Option<f64>)], violated: &[u64]) -> Vec<Frontier> {
    let excluded: Vec<bool> = (0..medians.len()).map(|i| violated.get(i).copied().unwrap_or(0) > 0).collect();
    let eligible: Vec<(Option<f64>, Option<f64>)> =
        medians.iter().zip(&excluded).map(|(m, &out)| if out { (None, None) } else { *m }).collect();
    pareto_front(&eligible)
        .into_iter()
        .zip(excluded)
        .map(|(on, out)| match (out, on) {
            (true, _) => Frontier::Excluded,
            (false, true) => Frontier::On,
            (false, false) => Frontier::Off,
        })
        .collect()
}

/// One sweep point as the report shows it.
#[derive(Debug, Clone, PartialEq)]
struct PointSummary {
    /// The point's row in the summary frame.
    row: usize,
    /// Point position in the sweep file.
    index: u64,
    /// Point name.
    name: String,
    /// Runs of the point.
    runs: u64,
    /// Runs with a violated check.
    violated: u64,
    /// Median cost per proven tx, ZKPoW.
    cost_median: Option<f64>,
    /// Median block proving time p95, s.
    p95_median: Option<f64>,
    /// Where the point stands with respect to the frontier.
    frontier: Frontier,
}

impl PointSummary {
    /// "violated checks in N of M runs", when a run of the point violated a check.
    fn violation_note(&self) -> Option<String> {
        (self.violated > 0).then(|| format!("violated checks in {} of {} runs", self.violated, self.runs))
    }

    /// The point's name, followed by its violation note if it has one.
    fn title(&self) -> String {
        match self.violation_note() {
            Some(note) => format!("{} ({note})", self.name),
            None => self.name.clone(),
        }
    }

    /// The medians as a chart position, when both are present and finite.
    fn median(&self) -> Option<(f64, f64)> {
        match (self.cost_median, self.p95_median) {
            (Some(c), Some(l)) if c.is_finite() && l.is_finite() => Some((c, l)),
            _ => None,
        }
    }
}

/// The points of the summary frame, sorted by point index, with their frontier status.
fn point_summaries(summary: &DataFrame) -> Result<Vec<PointSummary>, String> {
    let e = |e: PolarsError| e.to_string();
    let u64s = |name: &str| -> Result<Vec<Option<u64>>, String> {
        Ok(summary.column(name).map_err(e)?.cast(&DataType::UInt64).map_err(e)?.u64().map_err(e)?.iter().collect())
    };
    let f64s = |name: &str| -> Result<Vec<Option<f64>>, String> {
        Ok(summary.column(name).map_err(e)?.cast(&DataType::Float64).map_err(e)?.f64().map_err(e)?.iter().collect())
    };
    let names: Vec<String> = summary
        .column("point")
        .map_err(e)?
        .str()
        .map_err(e)?
        .iter()
        .map(|s| s.unwrap_or_default().to_owned())
        .collect();
    let index = u64s("point_index")?;
    let runs = u64s("runs")?;
    let violated = u64s("violated")?;
    let cost = f64s("cost_per_tx_median")?;
    let p95 = f64s("block_p95_median_s")?;
    let mut points: Vec<PointSummary> = names
        .into_iter()
        .enumerate()
        .map(|(row, name)| PointSummary {
            row,
            index: index[row].unwrap_or(u64::MAX),
            name,
            runs: runs[row].unwrap_or(0),
            violated: violated[row].unwrap_or(0),
            cost_median: cost[row],
            p95_median: p95[row],
            frontier: Frontier::Off,
        })
        .collect();
    points.sort_by_key(|p| (p.index, p.row));
    let medians: Vec<_> = points.iter().map(|p| (p.cost_median, p.p95_median)).collect();
    let violated: Vec<u64> = points.iter().map(|p| p.violated).collect();
    for (point, status) in points.iter_mut().zip(frontier_status(&medians, &violated)) {
        point.frontier = status;
    }
    Ok(points)
}

/// The frontier points' medians, cheapest first (ties: faster first, then by point index): the
/// line the chart draws and the order the report lists them in.
fn frontier_line(points: &[PointSummary]) -> Vec<(usize, (f64, f64))> {
    let mut line: Vec<(usize, (f64, f64))> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.frontier == Frontier::On)
        .filter_map(|(i, p)| Some((i, p.median()?)))
        .collect();
    line.sort_by(|a, b| {
        a.1.0.total_cmp(&b.1.0).then(a.1.1.total_cmp(&b.1.1)).then(points[a.0].index.cmp(&points[b.0].index))
    });
    line
}

fn tradeoff_chart(out: &Path, merged: &DataFrame, points: &[PointSummary]) -> Result<(String, String), String> {
    load_font()?;
    let e = |e: PolarsError| e.to_string();
    let run_point: Vec<Option<u64>> =
        merged.column("point_index").map_err(e)?.cast(&DataType::UInt64).map_err(e)?.u64().map_err(e)?.iter().collect();
    let cost: Vec<Option<f64>> =
        merged.column("cost_per_proven_tx_zkpow").map_err(e)?.f64().map_err(e)?.iter().collect();
    let latency: Vec<Option<f64>> = merged.column("block_proving_p95_s").map_err(e)?.f64().map_err(e)?.iter().collect();
    let runs: Vec<(usize, f64, f64)> = run_point
        .iter()
        .zip(cost.iter().zip(&latency))
        .filter_map(|(p, (c, l))| Some((points.iter().position(|x| Some(x.index) == *p)?, (*c)?, (*l)?)))
        .filter(|r| r.1.is_finite() && r.2.is_finite())
        .collect();
    let medians = points.iter().filter_map(PointSummary::median);
    let x_max = runs.iter().map(|r| r.1).chain(medians.clone().map(|m| m.0)).fold(0.1, f64::max) * 1.15;
    let y_max = runs.iter().map(|r| r.2).chain(medians.map(|m| m.1)).fold(1.0, f64::max) * 1.15;
    let png = "tradeoff.png".to_string();
    let svg = "tradeoff.svg".to_string();
    draw_tradeoff(
        BitMapBackend::new(&out.join(&png), crate::charts::SIZE).into_drawing_area(),
        points,
        &runs,
        x_max,
        y_max,
    )?;
    draw_tradeoff(
        SVGBackend::new(&out.join(&svg), crate::charts::SIZE).into_drawing_area(),
        points,
        &runs,
        x_max,
        y_max,
    )?;
    Ok((png, svg))
}

/// Small dots: one per run, coloured by point (crosses for a point with violated checks). Large
/// markers: each point's medians, labelled with its name. Black line through ringed markers: the
/// Pareto frontier, cheapest first.
fn draw_tradeoff<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    points: &[PointSummary],
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
        if point.violated > 0 {
            chart
                .draw_series(mine.iter().map(|p| Cross::new(*p, 6, color.stroke_width(2))))
                .map_err(|x| err(&x))?
                .label(point.title())
                .legend(move |(x, y)| Cross::new((x + 10, y), 7, color.stroke_width(3)));
        } else {
            chart
                .draw_series(mine.iter().map(|p| Circle::new(*p, 6, color.mix(0.6).filled())))
                .map_err(|x| err(&x))?
                .label(point.title())
                .legend(move |(x, y)| Circle::new((x + 10, y), 7, color.filled()));
        }
    }
    let line: Vec<(f64, f64)> = frontier_line(points).into_iter().map(|(_, m)| m).collect();
    if !line.is_empty() {
        chart
            .draw_series(LineSeries::new(line.clone(), BLACK.stroke_width(3)))
            .map_err(|x| err(&x))?
            .label("Pareto frontier (points whose runs all passed), ringed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3)));
        chart.draw_series(line.iter().map(|m| Circle::new(*m, 15, BLACK.stroke_width(2)))).map_err(|x| err(&x))?;
    }
    for (i, point) in points.iter().enumerate() {
        let Some(median) = point.median() else { continue };
        let color = palette[i % palette.len()];
        if point.violated > 0 {
            chart.draw_series([Cross::new(median, 12, color.stroke_width(4))]).map_err(|x| err(&x))?;
        } else {
            chart
                .draw_series([Circle::new(median, 10, color.filled()), Circle::new(median, 10, BLACK.stroke_width(2))])
                .map_err(|x| err(&x))?;
        }
        chart
            .draw_series([EmptyElement::at(median) + Text::new(point.title(), (18, -22), ("sans-serif", 18))])
            .map_err(|x| err(&x))?;
    }
    if points.iter().any(|p| p.violated > 0) {
        chart
            .draw_series(std::iter::empty::<Cross<(f64, f64), i32>>())
            .map_err(|x| err(&x))?
            .label("cross: violated checks, excluded from the frontier")
            .legend(|(x, y)| Cross::new((x + 10, y), 7, BLACK.stroke_width(3)));
    }
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(|x| err(&x))?
        .label("large marker: the point's median across seeds")
        .legend(|(x, y)| Circle::new((x + 10, y), 9, BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 22))
        // See-through enough that a point under the legend (upper right: costly and slow) still shows.
        .background_style(WHITE.mix(0.7))
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

/// Text made safe to put inside HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A figure for the prose of the report: three decimals, or a dash.
fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

fn write_html(
    out: &Path,
    name: &str,
    merged: &DataFrame,
    summary: &DataFrame,
    points: &[PointSummary],
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
         <code>results.parquet</code> (one row per run).</p><h2>Per point</h2>",
        merged.height()
    );
    page.push_str(
        "<p>How to read the “Pareto frontier” column: lower-left is better (lower median cost per proven tx, \
         lower median block proving p95), and a point on the frontier cannot be made cheaper without being slower, \
         or faster without being costlier, while a point marked “no” is matched or beaten on both by another point \
         (or lacks one of the two medians). The frontier is computed only over the points whose runs all passed \
         their checks: a point with a violated check in any run is marked “excluded: violated checks”.</p><table><tr>",
    );
    for column in summary.columns() {
        let _ = write!(page, "<th>{}</th>", column.name());
        if column.name().as_str() == "point" {
            page.push_str("<th>Pareto frontier</th>");
        }
    }
    page.push_str("</tr>");
    for point in points {
        page.push_str("<tr>");
        for column in summary.columns() {
            let value = cell(column.get(point.row).map_err(e)?);
            if column.name().as_str() != "point" {
                let _ = write!(page, "<td>{value}</td>");
                continue;
            }
            match point.violation_note() {
                Some(note) => {
                    let _ = write!(page, "<td>{value}<br><span class=\"bad\">{note}</span></td>");
                }
                None => {
                    let _ = write!(page, "<td>{value}</td>");
                }
            }
            let _ = match point.frontier {
                Frontier::On => write!(page, "<td><b>{}</b></td>", Frontier::On.label()),
                Frontier::Off => write!(page, "<td>{}</td>", Frontier::Off.label()),
                Frontier::Excluded => write!(page, "<td class=\"bad\">{}</td>", Frontier::Excluded.label()),
            };
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
    let bytes = std::fs::read(out.join(png)).map_err(|err| err.to_string())?;
    let _ = write!(
        page,
        "<h2>Trade-off</h2><figure><img class=\"chart\" alt=\"trade-off\" src=\"data:image/png;base64,{}\" style=\"max-width:100%\">\
         <figcaption>Small dots: one per run, coloured by point; large markers: each point's medians, labelled with \
         its name; black line through ringed markers: the Pareto frontier among points whose runs all passed; \
         crosses: points with violated checks, excluded from the frontier. Down and left is better \
         (<a href=\"{svg}\">SVG</a>).</figcaption></figure>",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    let line = frontier_line(points);
    if line.is_empty() {
        page.push_str(
            "<p>Pareto frontier: no point, since no point whose runs all passed has both a median cost and a median \
             block proving p95.</p>",
        );
    } else {
        let steps: Vec<String> =
            line.iter().map(|(i, (c, l))| format!("{} ({c:.3} ZKPoW, {l:.3} s)", escape(&points[*i].name))).collect();
        let _ = write!(page, "<p>Pareto frontier, cheapest first: {}.</p>", steps.join(" → "));
    }
    let excluded: Vec<String> = points
        .iter()
        .filter(|p| p.frontier == Frontier::Excluded)
        .map(|p| {
            format!(
                "{} ({}; medians {} ZKPoW, {} s)",
                escape(&p.name),
                p.violation_note().unwrap_or_default(),
                figure(p.cost_median),
                figure(p.p95_median)
            )
        })
        .collect();
    if !excluded.is_empty() {
        let _ =
            write!(page, "<p class=\"bad\">Excluded from the frontier: violated checks: {}.</p>", excluded.join("; "));
    }
    page.push_str("<h2>Runs that violated checks</h2>");
    let ok = merged.column("checks_ok").map_err(e)?.bool().map_err(e)?;
    let violations = merged.column("violations").map_err(e)?.str().map_err(e)?;
    let reproduce = merged.column("reproduce").map_err(e)?.str().map_err(e)?;
    let run_point = merged.column("point_index").map_err(e)?.cast(&DataType::UInt64).map_err(e)?;
    let run_point = run_point.u64().map_err(e)?;
    let mut any = false;
    page.push_str("<ul>");
    for i in 0..merged.height() {
        if ok.get(i) == Some(false) {
            any = true;
            let point = points
                .iter()
                .find(|p| Some(p.index) == run_point.get(i))
                .map(|p| format!("<b>{}</b> ({}): ", escape(&p.name), p.violation_note().unwrap_or_default()))
                .unwrap_or_default();
            let _ = write!(
                page,
                "<li class=\"bad\">{point}{}<br><code>{}</code></li>",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A point beaten on both axes, and one beaten on one axis while tied on the other, are off
    /// the frontier; the points that beat them are on it.
    #[test]
    fn pareto_front_dominated_points() {
        let points = [
            (Some(1.0), Some(10.0)), // cheapest
            (Some(3.0), Some(2.0)),  // fastest
            (Some(4.0), Some(12.0)), // costlier and slower than both
            (Some(2.0), Some(5.0)),  // in between: on the frontier
            (Some(3.0), Some(6.0)),  // same cost as the fastest, slower
        ];
        assert_eq!(pareto_front(&points), vec![true, true, false, true, false]);
    }

    /// Equal points do not dominate each other; a tie on one axis is decided by the other.
    #[test]
    fn pareto_front_ties() {
        assert_eq!(pareto_front(&[(Some(2.0), Some(3.0)), (Some(2.0), Some(3.0))]), vec![true, true]);
        assert_eq!(
            pareto_front(&[(Some(2.0), Some(3.0)), (Some(2.0), Some(3.0)), (Some(2.0), Some(4.0))]),
            vec![true, true, false]
        );
        assert_eq!(pareto_front(&[(Some(5.0), Some(1.0)), (Some(4.0), Some(1.0))]), vec![false, true]);
    }

    /// A missing or non-finite median keeps a point off the frontier and dominates nothing; NaN
    /// does not panic.
    #[test]
    fn pareto_front_missing_values() {
        let points = [
            (None, Some(0.5)),
            (Some(0.1), None),
            (None, None),
            (Some(f64::NAN), Some(0.1)),
            (Some(0.1), Some(f64::INFINITY)),
            (Some(3.0), Some(3.0)),
        ];
        assert_eq!(pareto_front(&points), vec![false, false, false, false, false, true]);
        assert_eq!(pareto_front(&[(Some(f64::NAN), Some(f64::NAN))]), vec![false]);
    }

    /// A single point with both medians is the frontier; an empty sweep has none.
    #[test]
    fn pareto_front_single_point() {
        assert_eq!(pareto_front(&[(Some(7.0), Some(70.0))]), vec![true]);
        assert_eq!(pareto_front(&[(Some(7.0), None)]), vec![false]);
        assert_eq!(pareto_front(&[]), Vec::<bool>::new());
    }

    /// A violating point is excluded and does not push the points it would dominate off the
    /// frontier.
    #[test]
    fn frontier_status_excludes_violating_points() {
        let medians = [(Some(1.0), Some(1.0)), (Some(2.0), Some(5.0)), (Some(5.0), Some(2.0)), (Some(6.0), Some(6.0))];
        assert_eq!(
            frontier_status(&medians, &[1, 0, 0, 0]),
            vec![Frontier::Excluded, Frontier::On, Frontier::On, Frontier::Off]
        );
        assert_eq!(
            frontier_status(&medians, &[0, 0, 0, 0]),
            vec![Frontier::On, Frontier::Off, Frontier::Off, Frontier::Off]
        );
        assert_eq!(frontier_status(&medians, &[2, 2, 2, 2]), vec![Frontier::Excluded; 4]);
        assert_eq!(frontier_status(&[], &[]), Vec::<Frontier>::new());
    }

    fn summary_point(index: u64, cost: Option<f64>, p95: Option<f64>, frontier: Frontier) -> PointSummary {
        PointSummary {
            row: index as usize,
            index,
            name: format!("p{index}"),
            runs: 1,
            violated: 0,
            cost_median: cost,
            p95_median: p95,
            frontier,
        }
    }

    /// The frontier line runs cheapest first whatever the point order, ties broken by latency then
    /// by index, and skips points off the frontier.
    #[test]
    fn frontier_line_sorted_by_cost() {
        let points = [
            summary_point(0, Some(3.0), Some(1.0), Frontier::On),
            summary_point(1, Some(1.0), Some(4.0), Frontier::On),
            summary_point(2, Some(9.0), Some(9.0), Frontier::Off),
            summary_point(3, Some(2.0), Some(2.0), Frontier::On),
            summary_point(4, Some(2.0), Some(2.0), Frontier::On),
            summary_point(5, Some(0.5), Some(0.5), Frontier::Excluded),
        ];
        let line = frontier_line(&points);
        assert_eq!(line, vec![(1, (1.0, 4.0)), (3, (2.0, 2.0)), (4, (2.0, 2.0)), (0, (3.0, 1.0))]);
    }

    fn run(point: &str, point_index: u64, seed: u64, cost: Option<f64>, p95: Option<f64>, ok: bool) -> ResultRow {
        ResultRow {
            point: point.into(),
            point_index,
            overrides: "{}".into(),
            seed,
            digest: format!("d{point_index}-{seed}"),
            exit_code: if ok { 0 } else { 1 },
            checks_ok: ok,
            violations: if ok { String::new() } else { "liveness: a block was never proven".into() },
            blocks_committed: 10,
            blocks_fully_proven: 10,
            txs_committed: 100,
            jobs_missed: 0,
            proofs_rejected: 0,
            shortfall_zkpow: 0.0,
            block_proving_p50_s: p95.map(|x| x / 2.0),
            block_proving_p95_s: p95,
            tx_latency_p50_s: None,
            tx_latency_p95_s: None,
            cost_per_proven_tx_zkpow: cost,
            plugin_income_p50_zkpow: None,
            plugins_in_debt_share: None,
            blocks_on_l1: 0,
            l1_finality_p50_s: None,
            l1_finality_p95_s: None,
            l1_gas_per_user_tx: None,
            reproduce: format!("zkcrowd run --seed {seed}"),
        }
    }

    /// End to end: the summary table has the "Pareto frontier" column with the right cell per
    /// point (missing and NaN medians included), the violating point is labelled and excluded, and
    /// the chart is written.
    #[test]
    fn sweep_report_marks_the_frontier() {
        let out = std::env::temp_dir().join(format!("zkcrowd-sweep-pareto-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(out.join("shards")).unwrap();
        let rows = [
            run("cheap", 0, 1, Some(1.0), Some(30.0), true),
            run("cheap", 0, 2, Some(1.2), Some(34.0), true),
            run("fast", 1, 1, Some(4.0), Some(8.0), true),
            run("fast", 1, 2, Some(4.4), Some(9.0), true),
            run("worse", 2, 1, Some(5.0), Some(40.0), true),
            run("worse", 2, 2, Some(5.0), Some(41.0), true),
            run("broken", 3, 1, Some(0.5), Some(2.0), false),
            run("broken", 3, 2, Some(0.6), Some(3.0), true),
            run("unproven", 4, 1, None, Some(5.0), true),
            run("nan", 5, 1, Some(f64::NAN), Some(1.0), true),
        ];
        write_shard(&out.join("shards/0.parquet"), &rows[..5]).unwrap();
        write_shard(&out.join("shards/1.parquet"), &rows[5..]).unwrap();
        let merged = merge_and_report(&out, "pareto").unwrap();
        assert_eq!((merged.runs, merged.violated), (10, 1));
        let html = std::fs::read_to_string(out.join("sweep-report.html")).unwrap();
        assert!(html.contains("<th>point</th><th>Pareto frontier</th>"), "{html}");
        for expected in [
            "<td>cheap</td><td><b>yes</b></td>",
            "<td>fast</td><td><b>yes</b></td>",
            "<td>worse</td><td>no</td>",
            "<td>broken<br><span class=\"bad\">violated checks in 1 of 2 runs</span></td>\
             <td class=\"bad\">excluded: violated checks</td>",
            "<td>unproven</td><td>no</td>",
            "<td>nan</td><td>no</td>",
            "Pareto frontier, cheapest first: cheap (1.100 ZKPoW, 32.000 s) → fast (4.200 ZKPoW, 8.500 s).",
            "Excluded from the frontier: violated checks: broken (violated checks in 1 of 2 runs;",
            "lower-left is better",
        ] {
            assert!(html.contains(expected), "missing {expected:?} in {html}");
        }
        assert!(out.join("tradeoff.png").is_file() && out.join("tradeoff.svg").is_file());
        let svg = std::fs::read_to_string(out.join("tradeoff.svg")).unwrap();
        assert!(svg.contains("broken (violated checks in 1 of 2 runs)"), "{svg}");
        assert!(svg.contains("Pareto frontier"), "{svg}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
