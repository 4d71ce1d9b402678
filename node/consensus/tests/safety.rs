//! Safety under arbitrary asynchrony and faults: random delays and reorderings, message loss,
//! timeouts firing early, late or unasked, invalid proposals and Byzantine validators holding less
//! than a third of the stake. No two honest nodes may ever decide different values at a height.

mod support;

use std::collections::BTreeSet;

use proptest::prelude::*;
use support::{Config, Network};
use zkcrowd_consensus::ValidatorIndex;

/// Simulated time per case: about twenty default propose timeouts.
const CASE_TIME_MS: u64 = 60_000;
/// Heights after which a case stops early.
const CASE_HEIGHTS: u64 = 6;

/// A network from the proptest parameters. Byzantine validators are taken in index order from
/// `byzantine_mask` while their total stake stays strictly below a third.
fn config(
    seed: u64,
    stakes: Vec<u64>,
    loss_percent: u64,
    latency_ms_max: u64,
    invalid_percent: u64,
    timeout_jitter: bool,
    byzantine_mask: u8,
) -> Config {
    let total: u64 = stakes.iter().sum();
    let mut byzantine = BTreeSet::new();
    let mut byzantine_stake = 0;
    for (index, stake) in stakes.iter().enumerate() {
        if byzantine_mask & (1 << index) != 0 && 3 * (byzantine_stake + stake) < total {
            byzantine_stake += stake;
            byzantine.insert(ValidatorIndex::try_from(index).expect("at most 7 validators"));
        }
    }
    let mut config = Config::honest(stakes, seed);
    config.loss_percent = loss_percent;
    config.latency_ms_max = latency_ms_max;
    config.invalid_percent = invalid_percent;
    config.timeout_jitter = timeout_jitter;
    config.spurious_timeout_interval_ms = Some(10_000);
    config.byzantine = byzantine;
    config.observer = true;
    config.gossip_interval_ms = Some(2_000);
    config.sync_after_ms = Some(10_000);
    config
}

/// Runs one case; the network panics with the configuration on any safety violation.
fn run(config: Config) -> Network {
    let mut network = Network::new(config);
    let validators = network.honest_validators();
    network.run_until(CASE_TIME_MS, |network| network.min_decided_height(&validators) >= CASE_HEIGHTS);
    network
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No two honest nodes decide different values at one height, whatever the schedule; checked
    /// at every decision by the network (see `support`), over 4-7 validators with random stakes,
    /// delays up to the shortest timeout, 0-30 % loss, jittered and spurious timeouts, a shared
    /// random validity verdict and Byzantine equivocators below a third of the stake.
    #[test]
    fn honest_nodes_never_decide_differently(
        seed in any::<u64>(),
        stakes in proptest::collection::vec(1u64..=100, 4..=7),
        loss_percent in 0u64..=30,
        latency_ms_max in 1u64..=1_000,
        invalid_percent in 0u64..=50,
        timeout_jitter in any::<bool>(),
        byzantine_mask in any::<u8>(),
    ) {
        run(config(seed, stakes, loss_percent, latency_ms_max, invalid_percent, timeout_jitter, byzantine_mask));
    }
}

/// The property above is not vacuous: over fixed seeds of the same fault mix (two Byzantine
/// equivocators, loss, latency up to 1 s, jittered and spurious timeouts), every case reaches
/// [`CASE_HEIGHTS`], nearly all of it by consensus rather than block sync, so the agreement checks
/// compare many real decisions; and equivocation is seen. Method: run 40 cases and count.
#[test]
fn faulty_runs_still_decide_and_see_equivocation() {
    let mut decisions = 0;
    let mut synced_heights = 0;
    let mut equivocations = 0;
    for case in 0..40u64 {
        let stakes = vec![10 + case % 7, 20, 30, 15, 25, 5 + case % 3];
        let config = config(case, stakes, case % 31, 1 + case * 25, case % 51, case % 2 == 0, 0b10_0001);
        assert_eq!(config.byzantine.len(), 2);
        let network = run(config);
        let validators = network.honest_validators();
        assert!(network.min_decided_height(&validators) >= CASE_HEIGHTS, "case {case} stalled");
        decisions += network.decisions.len() as u64;
        synced_heights += network.synced_heights;
        equivocations += network
            .honest_nodes()
            .iter()
            .map(|node| network.machine(*node).expect("honest").equivocations())
            .sum::<u64>();
    }
    assert!(decisions >= 9 * synced_heights, "{decisions} decisions, {synced_heights} heights synced");
    assert!(equivocations > 0);
}
