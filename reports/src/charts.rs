//! The charts of a run report, drawn with plotters as PNG and SVG from the same code.
//!
//! Text uses DejaVu Sans from a package: the npm package `dejavu-fonts-ttf` installed by
//! `scripts/setup` into `reports/node_modules`, or Debian's `fonts-dejavu-core`, or the file named
//! by `ZKCROWD_FONT`. Nothing is drawn by hand.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use polars::prelude::*;

use crate::RunTables;
use crate::metrics::floats;

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (1200, 700);
const FONT: &str = "sans-serif";

/// Where a font is looked for, in order.
pub fn font_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(path) = std::env::var_os("ZKCROWD_FONT") {
        out.push(PathBuf::from(path));
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/dejavu-fonts-ttf/ttf/DejaVuSans.ttf"));
    out.push(PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    out
}

/// Registers DejaVu Sans as the charts' font (once per process).
pub fn load_font() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let candidates = font_candidates();
            let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
                format!(
                    "no chart font found (looked at {}): run scripts/setup, or set ZKCROWD_FONT to a TrueType file",
                    candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                )
            })?;
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font(FONT, FontStyle::Normal, bytes)
                .map_err(|_| format!("{} is not a usable font", path.display()))
        })
        .clone()
}

/// A fault window to shade, in seconds.
#[derive(Debug, Clone)]
pub struct FaultWindow {
    /// Start.
    pub start_s: f64,
    /// End.
    pub end_s: f64,
    /// What.
    pub what: String,
}

/// One chart of the report.
#[derive(Debug, Clone)]
pub struct ChartFile {
    /// File stem (`latency`, …).
    pub name: &'static str,
    /// Caption for the page.
    pub title: &'static str,
    /// What it shows, one sentence.
    pub description: String,
    /// PNG file name.
    pub png: String,
    /// SVG file name.
    pub svg: String,
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn both(
    dir: &Path,
    name: &'static str,
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
    draw_svg: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<(String, String), String> {
    let png = format!("{name}.png");
    let svg = format!("{name}.svg");
    {
        let path = dir.join(&png);
        let root = BitMapBackend::new(&path, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    {
        let path = dir.join(&svg);
        let root = SVGBackend::new(&path, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_svg(&root)?;
        root.present().map_err(err)?;
    }
    Ok((png, svg))
}

macro_rules! render {
    ($dir:expr, $name:expr, |$root:ident| $body:expr) => {
        both($dir, $name, |$root| $body, |$root| $body)
    };
}

fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted.iter().enumerate().map(|(i, v)| (*v, (i + 1) as f64 / n)).collect()
}

fn upper(values: impl Iterator<Item = f64>, floor: f64) -> f64 {
    let max = values.fold(floor, f64::max);
    (max * 1.08).max(floor)
}

fn notice<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, lines: &[&str]) -> DrawResult {
    root.draw(&Text::new(title.to_string(), (60, 60), (FONT, 34).into_font().color(&BLACK))).map_err(err)?;
    for (i, line) in lines.iter().enumerate() {
        root.draw(&Text::new(
            line.to_string(),
            (60, 150 + 40 * i as i32),
            (FONT, 24).into_font().color(&RGBColor(70, 70, 70)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

fn latency<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, blocks: &[f64], txs: &[f64]) -> DrawResult {
    if blocks.is_empty() && txs.is_empty() {
        return notice(root, "Proof latency", &["No proof was accepted in this run."]);
    }
    let x_max = upper(blocks.iter().chain(txs).copied(), 1.0);
    let mut chart = ChartBuilder::on(root)
        .caption("Proof latency (cumulative distribution)", (FONT, 32))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, 0f64..1.02f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds (job created → proof accepted; block committed → fully proven)")
        .y_desc("fraction ≤ x")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    for (values, label, color) in [(txs, "user tx jobs", BLUE), (blocks, "blocks (root proof)", RED)] {
        if values.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(cdf(values), color.stroke_width(3)))
            .map_err(err)?
            .label(format!("{label} (n = {})", values.len()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 22))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn shade<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    faults: &[FaultWindow],
    y_max: f64,
) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let fill = RGBColor(255, 160, 0).mix(0.18).filled();
    chart
        .draw_series(faults.iter().map(|f| Rectangle::new([(f.start_s / 60.0, 0.0), (f.end_s / 60.0, y_max)], fill)))
        .map_err(err)?;
    Ok(())
}

fn backlog<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &[f64],
    backlog: &[f64],
    active: &[f64],
    faults: &[FaultWindow],
) -> DrawResult {
    if t.is_empty() {
        return notice(root, "Backlog and active plugins", &["No block was committed in this run."]);
    }
    let t_max = upper(t.iter().map(|s| s / 60.0), 1.0);
    let b_max = upper(backlog.iter().copied(), 5.0);
    let a_max = upper(active.iter().copied(), 5.0);
    let mut chart = ChartBuilder::on(root)
        .caption("Backlog and active plugins (shaded: faults)", (FONT, 32))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .right_y_label_area_size(100)
        .build_cartesian_2d(0f64..t_max, 0f64..b_max)
        .map_err(err)?
        .set_secondary_coord(0f64..t_max, 0f64..a_max);
    chart
        .configure_mesh()
        .x_desc("simulated time (minutes)")
        .y_desc("blocks not yet fully proven")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_desc("active plugins")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    shade(&mut chart, faults, b_max)?;
    chart
        .draw_series(LineSeries::new(t.iter().zip(backlog).map(|(t, b)| (t / 60.0, *b)), RED.stroke_width(2)))
        .map_err(err)?
        .label("backlog (left axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], RED.stroke_width(3)));
    chart
        .draw_secondary_series(LineSeries::new(t.iter().zip(active).map(|(t, a)| (t / 60.0, *a)), BLUE.stroke_width(2)))
        .map_err(err)?
        .label("active plugins (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], BLUE.stroke_width(3)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 22))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn bounty<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &[f64],
    bounty: &[f64],
    faults: &[FaultWindow],
) -> DrawResult {
    if t.is_empty() {
        return notice(root, "Bounty level", &["No block was committed in this run."]);
    }
    let t_max = upper(t.iter().map(|s| s / 60.0), 1.0);
    let y_max = upper(bounty.iter().copied(), 1.0);
    let mut chart = ChartBuilder::on(root)
        .caption("Bounty of a fresh tx job (base × age × supply; shaded: faults)", (FONT, 30))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(100)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (minutes)")
        .y_desc("bounty (ZKPoW)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    shade(&mut chart, faults, y_max)?;
    chart
        .draw_series(LineSeries::new(t.iter().zip(bounty).map(|(t, b)| (t / 60.0, *b)), GREEN.stroke_width(3)))
        .map_err(err)?;
    Ok(())
}

fn behaviour_color(behaviour: &str) -> RGBColor {
    match behaviour {
        "honest" => RGBColor(30, 110, 200),
        "lazy" => RGBColor(200, 60, 40),
        "invalid_proofs" => RGBColor(150, 40, 170),
        "copier" => RGBColor(230, 140, 0),
        "withholder" => RGBColor(40, 150, 80),
        _ => RGBColor(90, 90, 90),
    }
}

fn income<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rows: &[(f64, String)]) -> DrawResult {
    if rows.is_empty() {
        return notice(root, "Plugin income", &["No plugin in this run."]);
    }
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let y_min = sorted.first().map_or(0.0, |r| r.0).min(0.0);
    let y_max = sorted.last().map_or(1.0, |r| r.0).max(1.0);
    let pad = (y_max - y_min) * 0.08;
    let mut chart = ChartBuilder::on(root)
        .caption("Who earns, who ends in debt: net income per plugin", (FONT, 30))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(100)
        .build_cartesian_2d(0f64..sorted.len() as f64, (y_min - pad)..(y_max + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("plugins, ranked by net income")
        .y_desc("income − penalties (ZKPoW)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), (sorted.len() as f64, 0.0)], BLACK.stroke_width(1))).map_err(err)?;
    let mut behaviours: Vec<String> = sorted.iter().map(|r| r.1.clone()).collect();
    behaviours.sort();
    behaviours.dedup();
    for behaviour in behaviours {
        let color = behaviour_color(&behaviour);
        let points: Vec<(f64, f64)> =
            sorted.iter().enumerate().filter(|(_, r)| r.1 == behaviour).map(|(i, r)| (i as f64, r.0)).collect();
        let count = points.len();
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(err)?
            .label(format!("{behaviour} ({count})"))
            .legend(move |(x, y)| Circle::new((x + 10, y), 6, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 22))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn l1_finality<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, finality: &[f64], l1: &str) -> DrawResult {
    if finality.is_empty() {
        return notice(
            root,
            "Time to L1 finality",
            &[
                &format!("No block reached an L1 in this run (l1: {l1})."),
                "Set l1: { kind: embedded } or { kind: anvil } in the scenario to post fully proven blocks.",
            ],
        );
    }
    let x_max = upper(finality.iter().copied(), 1.0);
    let mut chart = ChartBuilder::on(root)
        .caption("Time to L1 finality (cumulative distribution)", (FONT, 32))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, 0f64..1.02f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds (L2 commit → accepted on L1)")
        .y_desc("fraction of blocks ≤ x")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new(cdf(finality), MAGENTA.stroke_width(3))).map_err(err)?;
    Ok(())
}

fn l1_gas<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, gas: &[(f64, f64)], l1: &str) -> DrawResult {
    if gas.is_empty() {
        return notice(
            root,
            "L1 gas per block",
            &[
                &format!("No block was submitted to an L1 in this run (l1: {l1})."),
                "Set l1: { kind: embedded } or { kind: anvil } in the scenario to post fully proven blocks.",
            ],
        );
    }
    let x_min = gas.iter().map(|g| g.0).fold(f64::MAX, f64::min);
    let x_max = gas.iter().map(|g| g.0).fold(0.0, f64::max) + 1.0;
    let y_max = upper(gas.iter().map(|g| g.1 / 1_000.0), 1.0);
    let mut chart = ChartBuilder::on(root)
        .caption("L1 gas per accepted block", (FONT, 32))
        .margin(25)
        .x_label_area_size(70)
        .y_label_area_size(100)
        .build_cartesian_2d(x_min..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("L2 block height")
        .y_desc("L1 gas (thousands)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .draw()
        .map_err(err)?;
    chart.draw_series(gas.iter().map(|(h, g)| Circle::new((*h, g / 1_000.0), 3, CYAN.filled()))).map_err(err)?;
    Ok(())
}

/// Draws every chart of a run into `dir` (PNG and SVG); returns them in page order.
pub fn render(dir: &Path, tables: &RunTables, faults: &[FaultWindow], l1: &str) -> Result<Vec<ChartFile>, String> {
    load_font()?;
    let e = |e: PolarsError| e.to_string();
    let block_proving = floats(&tables.blocks, "proving_s").map_err(e)?;
    let jobs = &tables.jobs;
    let kinds: Vec<Option<&str>> = jobs.column("kind").map_err(e)?.str().map_err(e)?.iter().collect();
    let job_latency: Vec<Option<f64>> = jobs.column("latency_s").map_err(e)?.f64().map_err(e)?.iter().collect();
    let tx_latency: Vec<f64> =
        kinds.iter().zip(&job_latency).filter_map(|(k, l)| (*k == Some("tx")).then_some(*l).flatten()).collect();
    let t = floats(&tables.timeseries, "t_s").map_err(e)?;
    let to_f64 = |name: &str| -> Result<Vec<f64>, String> {
        Ok(tables
            .timeseries
            .column(name)
            .map_err(e)?
            .cast(&DataType::Float64)
            .map_err(e)?
            .f64()
            .map_err(e)?
            .iter()
            .flatten()
            .collect())
    };
    let backlog_blocks = to_f64("backlog_blocks")?;
    let active = to_f64("active_plugins")?;
    let bounty_level = floats(&tables.timeseries, "bounty_zkpow").map_err(e)?;
    let behaviours: Vec<String> = tables
        .plugins
        .column("behaviour")
        .map_err(e)?
        .str()
        .map_err(e)?
        .iter()
        .map(|s| s.unwrap_or_default().to_owned())
        .collect();
    let income_values = floats(&tables.plugins, "income_zkpow").map_err(e)?;
    let penalties = floats(&tables.plugins, "penalties_zkpow").map_err(e)?;
    let net: Vec<(f64, String)> =
        income_values.iter().zip(&penalties).zip(behaviours).map(|((i, p), b)| (i - p, b)).collect();
    let heights: Vec<Option<u64>> = tables.blocks.column("height").map_err(e)?.u64().map_err(e)?.iter().collect();
    let committed: Vec<Option<f64>> =
        tables.blocks.column("committed_s").map_err(e)?.f64().map_err(e)?.iter().collect();
    let accepted: Vec<Option<f64>> =
        tables.blocks.column("l1_accepted_s").map_err(e)?.f64().map_err(e)?.iter().collect();
    let l1_gas_column: Vec<Option<u64>> = tables.blocks.column("l1_gas").map_err(e)?.u64().map_err(e)?.iter().collect();
    let finality: Vec<f64> = committed.iter().zip(&accepted).filter_map(|(c, a)| Some((*a)? - (*c)?)).collect();
    let gas: Vec<(f64, f64)> =
        heights.iter().zip(&l1_gas_column).filter_map(|(h, g)| Some(((*h)? as f64, (*g)? as f64))).collect();

    let mut out = Vec::new();
    let mut add = |name: &'static str, title: &'static str, description: String, files: (String, String)| {
        out.push(ChartFile { name, title, description, png: files.0, svg: files.1 });
    };
    add(
        "latency",
        "Proof latency",
        "Cumulative distribution of the time from a user tx job's creation to its accepted proof, and from a block's commit to its root proof.".into(),
        render!(dir, "latency", |root| latency(root, &block_proving, &tx_latency))?,
    );
    add(
        "backlog",
        "Backlog and active plugins",
        "Committed blocks not yet fully proven, and plugins active in the market, over simulated time; fault windows shaded.".into(),
        render!(dir, "backlog", |root| backlog(root, &t, &backlog_blocks, &active, faults))?,
    );
    add(
        "bounty",
        "Bounty level",
        "The bounty a freshly created tx job would earn, block by block: the supply factor rises when active plugins drop.".into(),
        render!(dir, "bounty", |root| bounty(root, &t, &bounty_level, faults))?,
    );
    add(
        "income",
        "Plugin income",
        "Every plugin's income minus penalties, ranked, coloured by behaviour: below zero means the plugin ended in debt.".into(),
        render!(dir, "income", |root| income(root, &net))?,
    );
    add(
        "l1_finality",
        "Time to L1 finality",
        "Cumulative distribution of the time from a block's L2 commit to its acceptance by the L1 rollup contract."
            .into(),
        render!(dir, "l1_finality", |root| l1_finality(root, &finality, l1))?,
    );
    add(
        "l1_gas",
        "L1 gas per block",
        "L1 gas spent to submit each accepted block.".into(),
        render!(dir, "l1_gas", |root| l1_gas(root, &gas, l1))?,
    );
    Ok(out)
}
