//! Price-driven plugins: elastic supply answers a desert (most plugins gone) by bringing reserve
//! plugins in as bounties rise, and the backlog drains faster than with inelastic supply.

use std::path::PathBuf;

use zkcrowd_sim::observer::{Sample, Verdict};
use zkcrowd_sim::runner::{RunOptions, run};
use zkcrowd_sim::scenario::{Rule, Scenario};

fn desert() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/desert.yaml");
    Scenario::from_file(&path).expect("the scenario loads")
}

/// Mean of `value` over the samples in `[from_ms, to_ms)`.
fn mean(samples: &[Sample], from_ms: u64, to_ms: u64, value: impl Fn(&Sample) -> u64) -> f64 {
    let window: Vec<u64> = samples.iter().filter(|s| s.t_ms >= from_ms && s.t_ms < to_ms).map(value).collect();
    assert!(!window.is_empty(), "no samples in {from_ms}..{to_ms}");
    window.iter().sum::<u64>() as f64 / window.len() as f64
}

/// Goal: in `scenarios/desert.yaml` (98% of the online plugins leave for 4 minutes; half the honest
/// plugins are price-driven with the threshold rule), the reserve plugins still online join as the
/// quoted bounty rises — more plugins are active during the desert than under inelastic supply
/// (`rule: static`, same seed, same costs, same departures) — and the proving backlog (blocks not
/// yet fully proven, integrated over the desert and its aftermath) is smaller and gone sooner.
/// Method: the observer's per-block samples of both runs; every check holds in both.
#[test]
fn elastic_plugins_return_in_a_desert_and_the_backlog_drains_faster() {
    let elastic = desert();
    let mut inelastic = elastic.clone();
    inelastic.plugins.economics.as_mut().expect("the desert has economics").rule = Rule::Static;
    let (desert_from_ms, desert_to_ms) = (3 * 60_000, 7 * 60_000);
    let end_ms = elastic.duration.as_millis();
    let mut figures = Vec::new();
    for scenario in [&elastic, &inelastic] {
        let output = run(scenario, 1, RunOptions::default());
        for (check, verdict) in &output.verdicts {
            assert_eq!(*verdict, Verdict::Ok, "{:?}: {check}", scenario.plugins.economics.unwrap().rule);
        }
        let samples = &output.observer.samples;
        // Past the heartbeat window (80 s): the departed are no longer counted active.
        let active = mean(samples, desert_from_ms + 90_000, desert_to_ms, |s| s.active_plugins);
        let backlog = mean(samples, desert_from_ms, end_ms, |s| s.unproven_blocks);
        let drained_ms = samples
            .iter()
            .filter(|s| s.t_ms >= desert_to_ms)
            .find(|s| s.unproven_blocks <= 10)
            .map_or(u64::MAX, |s| s.t_ms);
        figures.push((active, backlog, drained_ms));
    }
    let [(active_elastic, backlog_elastic, drained_elastic), (active_static, backlog_static, drained_static)] =
        figures[..]
    else {
        unreachable!("two runs")
    };
    let shown = format!(
        "active in the desert {active_elastic:.1} vs {active_static:.1}; mean unproven blocks {backlog_elastic:.1} vs \
         {backlog_static:.1}; drained at {drained_elastic} ms vs {drained_static} ms"
    );
    eprintln!("{shown}");
    assert!(active_elastic > active_static + 2.0, "reserve plugins joined: {shown}");
    assert!(backlog_elastic < backlog_static * 0.8, "the backlog is smaller with elastic supply: {shown}");
    assert!(drained_elastic <= drained_static, "and gone no later: {shown}");
}
