//! `report.html`: one self-contained page per run (charts embedded as PNG data; the SVGs sit
//! next to it for print). Built from `summary.json` and the tables only.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;
use polars::prelude::*;
use serde_json::Value;

use crate::charts::ChartFile;
use crate::metrics::KeyFigures;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn figure(value: Option<f64>, unit: &str, decimals: usize) -> String {
    match value {
        Some(v) => format!("{v:.decimals$} {unit}").trim_end().to_string(),
        None => "—".into(),
    }
}

fn share(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

const STYLE: &str = "body{font-family:'DejaVu Sans',sans-serif;margin:2em auto;max-width:1250px;color:#222}\
h1{margin-bottom:.2em}code{background:#f3f3f3;padding:.1em .3em}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.35em .7em;text-align:left}\
th{background:#f5f5f5}.ok{color:#17702c;font-weight:bold}.bad{color:#b3261e;font-weight:bold}\
figure{margin:2em 0}figcaption{color:#444;margin-top:.3em}img{max-width:100%;border:1px solid #ddd}\
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.6em 1em}";

/// The L1 paragraph: proven head against the L2's, submissions by outcome, gas, and which verifier
/// the Rollup ran (the summary's `l1.verifier`: the generated plonky2 verifier, or the
/// simulation-only one that checks modeled records).
fn l1_section(l1: &serde_json::Value) -> String {
    if l1["kind"].as_str().unwrap_or("none") == "none" {
        return String::new();
    }
    let submissions: Vec<String> = l1["submissions"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{} {}", escape(k), v)).collect())
        .unwrap_or_default();
    format!(
        "<h2>L1</h2><p>Rollup contract on <b>{}</b>: proven head {} (the L2's last fully proven block: {}); submissions: {}. \
         Gas per accepted block {} (mean), per L2 user transaction {}; L2 commit to L1 acceptance p50 {} s, p95 {} s. \
         L1 verifier: <b>{}</b>.</p>",
        escape(l1["kind"].as_str().unwrap_or("?")),
        l1["proven_head"],
        l1["l2_fully_proven_head"],
        submissions.join(", "),
        l1["gas_per_block"]["mean"].as_f64().map_or("-".to_owned(), |g| format!("{g:.0}")),
        l1["gas_per_l2_user_tx"].as_f64().map_or("-".to_owned(), |g| format!("{g:.0}")),
        l1["l2_commit_to_l1_seconds"]["p50"],
        l1["l2_commit_to_l1_seconds"]["p95"],
        escape(l1["verifier"].as_str().unwrap_or("unknown")),
    )
}

/// Writes `report.html` into `dir`.
pub fn write(
    dir: &Path,
    summary: &Value,
    figures: &KeyFigures,
    behaviours: &DataFrame,
    charts: &[ChartFile],
) -> Result<(), String> {
    let text = |key: &str| summary[key].as_str().map(str::to_owned).unwrap_or_else(|| summary[key].to_string());
    let mut page = String::new();
    let name = text("scenario");
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>zkcrowd report: {}</title><style>{STYLE}</style></head><body>",
        escape(&name)
    );
    let _ = write!(
        page,
        "<h1>zkcrowd run: {}</h1><p>Scenario <code>{}</code>, seed <code>{}</code>, {} simulated seconds ({} s of wall time).<br>Digest <code>{}</code> — \
         the same scenario and seed give the same digest: <code>zkcrowd run {} --seed {}</code></p>",
        escape(&name),
        escape(&text("scenario_file")),
        escape(&text("seed")),
        summary["sim_seconds"],
        summary["wall_seconds"].as_f64().map_or("?".into(), |w| format!("{w:.1}")),
        escape(&text("digest")),
        escape(&text("scenario_file")),
        escape(&text("seed")),
    );

    page.push_str("<h2>Checks</h2><table><tr><th>Check</th><th>Verdict</th></tr>");
    if let Some(checks) = summary["checks"].as_object() {
        for (check, verdict) in checks {
            let verdict = verdict.as_str().unwrap_or_default();
            let class = if verdict == "ok" { "ok" } else { "bad" };
            let _ = write!(
                page,
                "<tr><td><code>{}</code></td><td class=\"{class}\">{}</td></tr>",
                escape(check),
                escape(verdict)
            );
        }
    }
    page.push_str("</table>");

    let proofs_real = summary["proofs_real"].as_u64().unwrap_or(0);
    let proofs_modeled = summary["proofs_modeled"].as_u64().unwrap_or(0);
    page.push_str("<h2>Key figures</h2><table>");
    let rows = [
        (
            "Blocks committed / fully proven / on L1",
            format!(
                "{} / {} / {}",
                summary["blocks_committed"], summary["blocks_fully_proven"], summary["blocks_on_l1"]
            ),
        ),
        ("User transactions committed / proven", format!("{} / {}", summary["txs_committed"], figures.txs_proven)),
        (
            "Block proving time p50 / p95 / p99",
            format!(
                "{} / {} / {}",
                figure(figures.block_proving_p50_s, "s", 1),
                figure(figures.block_proving_p95_s, "s", 1),
                figure(figures.block_proving_p99_s, "s", 1)
            ),
        ),
        (
            "Tx job latency p50 / p95 / p99",
            format!(
                "{} / {} / {}",
                figure(figures.tx_latency_p50_s, "s", 1),
                figure(figures.tx_latency_p95_s, "s", 1),
                figure(figures.tx_latency_p99_s, "s", 1)
            ),
        ),
        ("Cost per proven tx (all bounties / txs proven)", figure(figures.cost_per_proven_tx_zkpow, "ZKPoW", 3)),
        (
            "Plugin net income p10 / p50 / p90",
            format!(
                "{} / {} / {}",
                figure(figures.plugin_income_p10_zkpow, "ZKPoW", 2),
                figure(figures.plugin_income_p50_zkpow, "ZKPoW", 2),
                figure(figures.plugin_income_p90_zkpow, "ZKPoW", 2)
            ),
        ),
        ("Plugins ending in debt", share(figures.plugins_in_debt_share)),
        (
            "Share of real proofs",
            format!("{} ({proofs_real} real, {proofs_modeled} modeled)", share(figures.real_proof_share)),
        ),
        (
            "L1 finality p50 / p95",
            format!("{} / {}", figure(figures.l1_finality_p50_s, "s", 1), figure(figures.l1_finality_p95_s, "s", 1)),
        ),
        ("Deadlines missed / proofs rejected", format!("{} / {}", summary["jobs_missed"], summary["proofs_rejected"])),
        ("Shortfall minted", format!("{} ZKPoW", summary["shortfall_minted_zkpow"])),
    ];
    for (label, value) in rows {
        let _ = write!(page, "<tr><th>{}</th><td>{}</td></tr>", escape(label), escape(&value));
    }
    page.push_str("</table>");

    let profile = &summary["cost_profile"];
    let provisional = profile["provisional"].as_bool().unwrap_or(false);
    let _ = write!(
        page,
        "<p class=\"note\">Proofs: {proofs_real} real (plonky2, verified) and {proofs_modeled} <b>modeled</b> (a record standing for a proof nobody \
         computed; its validity comes from the plugin's behaviour model). Proving times follow the <code>{}</code> cost profile \
         (tx {} ms, aggregation {} ms on the reference device{}). L1: {}.</p>{}",
        escape(profile["name"].as_str().unwrap_or("?")),
        profile["tx_ms"],
        profile["aggregate_ms"],
        if provisional { "; provisional targets until <code>zkcrowd calibrate</code> measures them" } else { "" },
        escape(summary["l1"]["kind"].as_str().unwrap_or("none")),
        l1_section(&summary["l1"]),
    );

    if let Some(kinds) = summary["real_proving"]["by_kind"].as_object().filter(|k| !k.is_empty()) {
        page.push_str(
            "<h2>Real proofs: measured vs modeled time</h2><table><tr><th>job kind</th><th>real proofs produced</th>\
             <th>measured wall-clock, p50 (ms)</th><th>modeled (simulated), p50 (ms)</th></tr>",
        );
        for (kind, row) in kinds {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td></tr>",
                escape(kind),
                row["count"],
                row["measured_ms_p50"].as_f64().unwrap_or(f64::NAN),
                row["modeled_ms_p50"],
            );
        }
        let _ = write!(
            page,
            "</table><p class=\"note\">Measured on the machine that ran the simulation, outside simulated time: \
             the simulation uses the modeled time, so measurements never change the run. {} real proofs could not be produced.</p>",
            summary["real_proving"]["failed"],
        );
    }

    page.push_str("<h2>Plugins by behaviour</h2><table><tr>");
    for column in behaviours.columns() {
        let _ = write!(page, "<th>{}</th>", escape(column.name()));
    }
    page.push_str("</tr>");
    for row in 0..behaviours.height() {
        page.push_str("<tr>");
        for column in behaviours.columns() {
            let value = column.get(row).map(|v| match v {
                AnyValue::Float64(f) => format!("{f:.3}"),
                AnyValue::String(s) => s.to_string(),
                other => other.to_string(),
            });
            let _ = write!(page, "<td>{}</td>", escape(&value.unwrap_or_default()));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");

    page.push_str("<h2>Charts</h2>");
    for chart in charts {
        let bytes = std::fs::read(dir.join(&chart.png)).map_err(|e| format!("cannot read {}: {e}", chart.png))?;
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = write!(
            page,
            "<figure id=\"{}\"><img class=\"chart\" alt=\"{}\" src=\"data:image/png;base64,{data}\"><figcaption><b>{}.</b> {} \
             (<a href=\"{}\">SVG</a>)</figcaption></figure>",
            chart.name,
            escape(chart.title),
            escape(chart.title),
            escape(&chart.description),
            escape(&chart.svg),
        );
    }
    // Marks the page once every chart has decoded, for the headless browser test.
    page.push_str(
        "<script>window.addEventListener('load',function(){var i=document.querySelectorAll('img.chart');\
         var ok=0;i.forEach(function(x){if(x.complete&&x.naturalWidth>0){ok++;}});\
         document.body.setAttribute('data-charts',i.length);document.body.setAttribute('data-charts-loaded',ok);});</script>",
    );
    page.push_str("</body></html>");
    std::fs::write(dir.join("report.html"), page).map_err(|e| format!("cannot write report.html: {e}"))
}
