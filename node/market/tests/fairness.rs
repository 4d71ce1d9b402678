//! Assignment fairness: over many draws every eligible plugin receives work at the same rate.

mod support;

use std::collections::BTreeMap;

use alloy::primitives::{B256, U256, keccak256};
use support::{Behaviour, Harness, plugin_address};
use zkcrowd_market::{EventKind, MarketParams, draw};

/// Chi-square critical value for 19 degrees of freedom at p = 0.001.
const CHI2_19_P001: f64 = 43.82;

fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
}

/// Goal: the draw `keccak256(parent ‖ job ‖ attempt) mod n` is uniform: a chi-square test over
/// 20 plugins and 4,000 first assignments per parent hash, for five parent hashes, stays below the
/// p = 0.001 critical value. Deterministic (fixed hashes), so it cannot flake.
#[test]
fn assignment_is_uniform() {
    for seed in 0..5u8 {
        let params = MarketParams { jobs_per_plugin_max: 1_000_000, ..MarketParams::default() };
        let mut h = Harness::new(params, vec![Behaviour::Lazy; 20]);
        h.parent = keccak256([seed]);
        let heartbeats = h.heartbeats();
        let events = h.block(heartbeats, 4_000);
        let mut counts: BTreeMap<_, u64> = (0..20).map(|i| (plugin_address(i), 0)).collect();
        for event in events {
            if let EventKind::JobAssigned { plugin, .. } = event.kind {
                *counts.get_mut(&plugin).expect("known plugin") += 1;
            }
        }
        let counts: Vec<u64> = counts.into_values().collect();
        assert_eq!(counts.iter().sum::<u64>(), 4_000);
        let chi2 = chi_square(&counts);
        assert!(chi2 < CHI2_19_P001, "seed {seed}: chi-square {chi2:.1} over {counts:?}");
    }
}

/// Goal: the raw draw, reduced modulo 20, is uniform over job ids and attempts too, and a biased
/// reduction would be caught: taking the draw's top bits only (`draw >> 124`, 16 values) over 20
/// buckets must fail the same test.
#[test]
fn draw_is_uniform_and_the_test_has_power() {
    let parent = B256::repeat_byte(0x42);
    let mut fair = vec![0u64; 20];
    let mut biased = vec![0u64; 20];
    for job in 0..20_000u64 {
        let value = draw(parent, job, (job % 3) as u32);
        fair[(value % 20) as usize] += 1;
        biased[((value >> 124) % 20) as usize] += 1;
    }
    assert!(chi_square(&fair) < CHI2_19_P001, "{fair:?}");
    assert!(chi_square(&biased) > CHI2_19_P001, "the test cannot see a biased draw: {biased:?}");
    let _ = U256::ZERO;
}
