//! Message loss on client links: every honest, always-online plugin keeps proving to the end, and
//! every user transaction is settled, over several seeds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use alloy::primitives::Address;
use zkcrowd_sim::observer::Verdict;
use zkcrowd_sim::runner::{RunOptions, run};
use zkcrowd_sim::scenario::Scenario;

/// Goal: with a quarter of client messages lost from the first second for 140 s
/// (`scenarios/tests/lossy-clients.yaml`), each of the twelve honest, always-online plugins has a
/// proof accepted in the last 40 s of the loss, for four seeds, and every check holds. Method: the
/// observer's job rows (an attempt's outcome and its time) per plugin address. A client that
/// never asks again for a lost account or subscription fails this: the plugin never registers, or
/// never hears of its jobs.
#[test]
fn every_honest_plugin_keeps_proving_under_client_message_loss() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/tests/lossy-clients.yaml");
    let scenario = Scenario::from_file(&path).expect("the scenario loads");
    let loss_end_ms = 140_000;
    let window_start_ms = loss_end_ms - 40_000;
    for seed in 1..=4 {
        let output = run(&scenario, seed, RunOptions::default());
        for (check, verdict) in &output.verdicts {
            assert_eq!(*verdict, Verdict::Ok, "seed {seed}: {check}");
        }
        assert_eq!(output.plugins.len(), 12);
        let mut proofs_in_window: BTreeMap<Address, u64> = BTreeMap::new();
        for row in &output.observer.jobs {
            let in_window = row.outcome_ms.is_some_and(|t| (window_start_ms..loss_end_ms).contains(&t));
            if row.outcome == "proven" && in_window {
                *proofs_in_window.entry(row.plugin).or_default() += 1;
            }
        }
        for (index, (address, _, _)) in output.plugins.iter().enumerate() {
            let proofs = proofs_in_window.get(address).copied().unwrap_or(0);
            assert!(
                proofs > 0,
                "seed {seed}: plugin {index} ({address}) has no proof accepted from {}s to {}s, under loss; totals {:?}; rows {:?}",
                window_start_ms / 1_000,
                loss_end_ms / 1_000,
                output.observer.plugin_totals.get(address),
                output
                    .observer
                    .jobs
                    .iter()
                    .filter(|r| r.plugin == *address)
                    .map(|r| (r.assigned_ms, r.outcome, r.outcome_ms))
                    .collect::<Vec<_>>()
            );
        }
        let lost = output.net.lost;
        assert!(lost > 100, "seed {seed}: the fault lost messages ({lost})");
    }
}
