//! Market properties under random plugin populations and schedules: no job lost, none assigned
//! twice at once, tokens conserved, inactive plugins never assigned or charged, bounded liveness
//! with one honest plugin, and the debt limit.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, U256};
use proptest::prelude::*;
use support::{Behaviour, Harness, plugin_address};
use zkcrowd_market::{AfterDeadline, CallError, EventKind, JobId, JobStatus, MarketCall, MarketParams};
use zkcrowd_primitives::{SignedZkpow, Zkpow};

/// splitmix64: a tiny deterministic generator for per-block choices inside one proptest case.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn params(deadline: u64, extra_window: u64, jobs_max: u32, open: bool) -> MarketParams {
    MarketParams {
        heartbeat_window_blocks: deadline + extra_window,
        proof_deadline_blocks: deadline,
        jobs_per_plugin_max: jobs_max,
        after_deadline: if open { AfterDeadline::Open } else { AfterDeadline::AssignedOnly },
        ..MarketParams::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Goal: the safety invariants hold after every block of a random run with honest and lazy
    /// plugins that heartbeat irregularly, go inactive and come back, under both late-proof policies.
    /// Method: track assignments from the event stream and compare with the market's own state.
    #[test]
    fn safety_invariants(
        behaviours in proptest::collection::vec((any::<bool>(), 1u64..4), 1..9),
        deadline in 2u64..6,
        extra_window in 1u64..8,
        jobs_max in 1u32..4,
        open in any::<bool>(),
        seed in any::<u64>(),
        blocks in 20u64..70,
    ) {
        let behaviours: Vec<Behaviour> = behaviours
            .iter()
            .map(|&(honest, delay)| if honest { Behaviour::Honest { delay_blocks: delay.min(deadline) } } else { Behaviour::Lazy })
            .collect();
        let n = behaviours.len();
        let mut h = Harness::new(params(deadline, extra_window, jobs_max, open), behaviours);
        let mut rng = Rng(seed);
        let mut assigned: BTreeMap<JobId, Address> = BTreeMap::new();
        let mut created: BTreeMap<JobId, u64> = BTreeMap::new();
        let mut fully_proven: BTreeSet<u64> = BTreeSet::new();
        let mut job_block: BTreeMap<JobId, u64> = BTreeMap::new();
        let mut kinds: BTreeMap<JobId, zkcrowd_market::JobKind> = BTreeMap::new();
        let mut wrapped: BTreeSet<u64> = BTreeSet::new();
        for _ in 0..blocks {
            let mut calls = Vec::new();
            for i in 0..n {
                match rng.below(10) {
                    0..=3 => calls.push((plugin_address(i), MarketCall::Heartbeat, U256::ZERO)),
                    4 if rng.below(4) == 0 => calls.push((plugin_address(i), MarketCall::GoInactive, U256::ZERO)),
                    _ => {}
                }
            }
            let events = h.block(calls, rng.below(5));
            let number = h.number();
            for event in &events {
                match &event.kind {
                    EventKind::JobCreated { job, kind } => {
                        created.insert(*job, number);
                        job_block.insert(*job, kind.block());
                        kinds.insert(*job, *kind);
                    }
                    EventKind::JobAssigned { job, plugin, .. } => {
                        prop_assert!(assigned.insert(*job, *plugin).is_none(), "job {job} assigned twice at once");
                        let p = h.market.plugin(plugin).unwrap();
                        prop_assert!(h.market.is_active(p, number), "inactive {plugin} assigned job {job}");
                        prop_assert!(p.last_heartbeat_block + h.market.params().heartbeat_window_blocks
                            >= number + h.market.params().proof_deadline_blocks);
                    }
                    EventKind::JobMissed { job, plugin, .. } => {
                        let removed = assigned.remove(job);
                        prop_assert_eq!(removed.as_ref(), Some(plugin));
                    }
                    EventKind::ProofAccepted { job, .. } => {
                        assigned.remove(job);
                    }
                    EventKind::PenaltyCharged { plugin, .. } => {
                        let p = h.market.plugin(plugin).unwrap();
                        // Charged for a deadline while active, or for abandoning jobs in the very
                        // call that made it inactive.
                        let abandoned_now = events.iter().any(|e| matches!(&e.kind,
                            EventKind::WentInactive { plugin: q, .. } if q == plugin));
                        prop_assert!(h.market.is_active(p, number) || abandoned_now, "inactive {plugin} charged");
                    }
                    EventKind::BlockFullyProven { block_number, .. } => {
                        fully_proven.insert(*block_number);
                    }
                    EventKind::RangeWrapped { first_block, last_block, .. } => {
                        for block in *first_block..=*last_block {
                            prop_assert!(block == 1 || fully_proven.contains(&block), "range wrapped before block {block} was fully proven");
                        }
                        prop_assert!(wrapped.insert(*first_block), "range {first_block} wrapped twice");
                    }
                    _ => {}
                }
            }
            // No job lost: each is live with a consistent status, or its block is fully proven.
            for &job in created.keys() {
                match h.market.job(job) {
                    Some(live) => match live.status {
                        JobStatus::Assigned { plugin, .. } => {
                            let address = h.market.plugins().nth(plugin as usize).unwrap().address;
                            prop_assert_eq!(assigned.get(&job), Some(&address));
                        }
                        JobStatus::Open => prop_assert!(!assigned.contains_key(&job)),
                        JobStatus::Proven { .. } => prop_assert!(!assigned.contains_key(&job)),
                    },
                    // A range's job (its aggregates, its wrap) goes once the range is wrapped.
                    None if kinds[&job].is_range() => {
                        prop_assert!(wrapped.contains(&job_block[&job]), "job {job} of an unwrapped range vanished")
                    }
                    None => prop_assert!(fully_proven.contains(&job_block[&job]), "job {job} vanished"),
                }
            }
            // Held counts match the assignments.
            for plugin in h.market.plugins() {
                let held = assigned.values().filter(|a| **a == plugin.address).count() as u32;
                prop_assert_eq!(plugin.held, held, "held count of {}", plugin.address);
            }
            // Tokens: the pool and the balances balance.
            prop_assert!(h.market.accounts().identity_holds(h.market.balances_total().wei()));
        }
    }

    /// Goal: with one honest plugin and F lazy ones, all heartbeating, every job (aggregates
    /// included) is proven within (F + 1) × (deadline + 1) blocks of its creation, and every block
    /// becomes fully proven.
    #[test]
    fn bounded_liveness_with_one_honest_plugin(
        lazy in 0usize..7,
        honest_position in 0usize..8,
        deadline in 1u64..5,
        seed in any::<u64>(),
    ) {
        let mut behaviours = vec![Behaviour::Lazy; lazy];
        behaviours.insert(honest_position.min(lazy), Behaviour::Honest { delay_blocks: 1 });
        let mut h = Harness::new(params(deadline, 2, 1_000, false), behaviours);
        let mut rng = Rng(seed);
        let bound = (lazy as u64 + 1) * (deadline + 1);
        let mut created: BTreeMap<JobId, u64> = BTreeMap::new();
        let mut proven: BTreeMap<JobId, u64> = BTreeMap::new();
        let mut blocks_with_txs = BTreeSet::new();
        let mut fully_proven = BTreeSet::new();
        let burst_blocks = 6;
        let total = burst_blocks + bound * 3 + 10;
        for b in 0..total {
            let txs = if b < burst_blocks { 1 + rng.below(4) } else { 0 };
            let heartbeats = h.heartbeats();
            let events = h.block(heartbeats, txs);
            let number = h.number();
            if txs > 0 { blocks_with_txs.insert(number); }
            for event in events {
                match event.kind {
                    EventKind::JobCreated { job, .. } => { created.insert(job, number); }
                    EventKind::ProofAccepted { job, .. } => { proven.insert(job, number); }
                    EventKind::BlockFullyProven { block_number, .. } => { fully_proven.insert(block_number); }
                    _ => {}
                }
            }
        }
        for (job, at) in &created {
            let done = proven.get(job);
            prop_assert!(done.is_some(), "job {job} (created at {at}) never proven");
            prop_assert!(done.unwrap() - at <= bound, "job {job} took {} blocks, bound {bound}", done.unwrap() - at);
        }
        for block in blocks_with_txs {
            prop_assert!(fully_proven.contains(&block), "block {block} not fully proven");
        }
    }
}

/// Goal: a plugin whose balance falls below the debt limit gets no work until it repays, and
/// repaying with attached value restores it.
#[test]
fn debt_limit_blocks_work_until_repaid() {
    let mut p = params(2, 10, 100, false);
    p.penalty = Zkpow::from_zkpow(5);
    p.debt_limit = SignedZkpow::from_zkpow(-10);
    let mut h = Harness::new(p, vec![Behaviour::Lazy]);
    let lazy = plugin_address(0);
    // Three missed jobs: -15 ZKPOW, below the -10 limit.
    for _ in 0..12 {
        let heartbeats = h.heartbeats();
        h.block(heartbeats, 1);
    }
    let balance = h.market.plugin(&lazy).unwrap().balance;
    assert!(balance < SignedZkpow::from_zkpow(-10), "{balance}");
    let open_before = h.market.open_jobs();
    let heartbeats = h.heartbeats();
    let events = h.block(heartbeats, 1);
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::JobAssigned { .. })), "indebted plugin assigned");
    assert_eq!(h.market.open_jobs(), open_before + 1);
    let debt = U256::from((-balance.wei()) as u128);
    let events = h.block(vec![(lazy, MarketCall::Repay, debt), (lazy, MarketCall::Heartbeat, U256::ZERO)], 0);
    assert_eq!(h.last_results[0], Ok(()));
    assert_eq!(h.market.plugin(&lazy).unwrap().balance, SignedZkpow::ZERO);
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::JobAssigned { .. })), "repaid plugin not assigned");
    assert!(h.market.accounts().identity_holds(h.market.balances_total().wei()));
}

/// Goal: withdrawals move only positive balance, and refused calls say why.
#[test]
fn withdrawals() {
    let mut h = Harness::new(params(3, 10, 4, false), vec![Behaviour::Honest { delay_blocks: 1 }]);
    let plugin = plugin_address(0);
    for _ in 0..5 {
        let heartbeats = h.heartbeats();
        h.block(heartbeats, 1);
    }
    let balance = h.market.plugin(&plugin).unwrap().balance;
    assert!(balance > SignedZkpow::ZERO);
    let too_much = U256::from(balance.wei() as u128 + 1);
    h.block(vec![(plugin, MarketCall::Withdraw(too_much), U256::ZERO)], 0);
    assert!(
        matches!(h.last_results[0], Err(CallError::InsufficientMarketBalance { balance: b, .. }) if b == balance),
        "{:?}",
        h.last_results[0]
    );
    h.block(vec![(plugin, MarketCall::Withdraw(U256::from(1_000u64)), U256::ZERO)], 0);
    assert_eq!(h.last_results[0], Ok(()));
    h.block(vec![(Address::repeat_byte(9), MarketCall::Heartbeat, U256::ZERO)], 0);
    assert_eq!(h.last_results[0], Err(CallError::NotRegistered { sender: Address::repeat_byte(9) }));
    h.block(vec![(plugin, MarketCall::Heartbeat, U256::from(1))], 0);
    assert_eq!(h.last_results[0], Err(CallError::ValueNotAccepted));
    assert!(h.market.accounts().identity_holds(h.market.balances_total().wei()));
}

/// Goal: under an exclusion policy (2 deadline misses within 20 blocks exclude for 15), a lazy
/// plugin is excluded after its second miss, gets no job for exactly the exclusion, and is
/// assigned again afterwards; an honest plugin beside it is never excluded, and the lazy one's
/// later misses after the window closed do not carry over. Without the policy, the same run
/// keeps giving the lazy plugin jobs.
#[test]
fn exclusion_keeps_repeated_missers_off_new_work() {
    use zkcrowd_market::ExclusionParams;
    let run = |exclusion: Option<ExclusionParams>| {
        let mut p = params(3, 10, 1, false);
        p.exclusion = exclusion;
        p.debt_limit = SignedZkpow::from_zkpow(-1_000);
        let mut h = Harness::new(p, vec![Behaviour::Lazy, Behaviour::Honest { delay_blocks: 1 }]);
        let mut lazy_assigned = Vec::new();
        let mut excluded = Vec::new();
        for _ in 0..60 {
            let heartbeats = h.heartbeats();
            for event in h.block(heartbeats, 2) {
                match event.kind {
                    EventKind::JobAssigned { plugin, .. } if plugin == plugin_address(0) => {
                        lazy_assigned.push(event.block);
                    }
                    EventKind::PluginExcluded { plugin, until_block } => {
                        excluded.push((event.block, plugin, until_block))
                    }
                    _ => {}
                }
            }
            assert!(h.market.accounts().identity_holds(h.market.balances_total().wei()));
        }
        (lazy_assigned, excluded)
    };
    let policy = ExclusionParams { misses: 2, window_blocks: 20, exclude_blocks: 15 };
    let (assigned, excluded) = run(Some(policy));
    assert!(!excluded.is_empty(), "the lazy plugin was never excluded");
    for &(block, plugin, until) in &excluded {
        assert_eq!(plugin, plugin_address(0), "only the lazy plugin is excluded");
        assert_eq!(until, block + 1 + 15);
        assert!(
            !assigned.iter().any(|&b| b >= block && b < until),
            "assigned while excluded ({block}..{until}): {assigned:?}"
        );
        if until < 58 {
            assert!(assigned.contains(&until), "assigned again when the exclusion ends ({until}): {assigned:?}");
        }
    }
    let (assigned_without, excluded_without) = run(None);
    assert!(excluded_without.is_empty());
    assert!(
        assigned_without.len() > assigned.len() + 5,
        "the policy must cut the lazy plugin's jobs: {} without, {} with",
        assigned_without.len(),
        assigned.len()
    );
}

/// Goal: `gas_scaling` prices and times a tx job by its gas above a transfer's 21,000: the bounty
/// grows by `bounty_per_mgas` per million gas (before the factors) and the deadline by
/// `deadline_blocks_per_mgas` (rounded up); a transfer's job is unchanged, and without the policy
/// a heavy job is priced and timed like a transfer.
#[test]
fn gas_scaling_prices_and_times_heavy_jobs() {
    use zkcrowd_market::GasScaling;
    let scaling = GasScaling { bounty_per_mgas: Zkpow::from_zkpow(2), deadline_blocks_per_mgas: 3 };
    assert_eq!(scaling.bounty_extra_wei(21_000), 0);
    assert_eq!(scaling.bounty_extra_wei(5_021_000), 10 * zkcrowd_primitives::WEI_PER_ZKPOW);
    assert_eq!(scaling.deadline_extra_blocks(21_000), 0);
    assert_eq!(scaling.deadline_extra_blocks(21_001), 1, "rounded up");
    assert_eq!(scaling.deadline_extra_blocks(5_021_000), 15);
    let run = |gas_scaling: Option<GasScaling>, gas_used: u64| {
        let mut p = params(10, 10, 4, false);
        p.gas_scaling = gas_scaling;
        let mut h = Harness::new(p, vec![Behaviour::Lazy]);
        h.tx_gas_used = gas_used;
        let events = h.block(h.heartbeats(), 1);
        let (job, deadline) = events
            .iter()
            .find_map(|e| match e.kind {
                EventKind::JobAssigned { job, deadline_block, .. } => Some((job, deadline_block - e.block)),
                _ => None,
            })
            .expect("the tx job is assigned");
        let job = h.market.job(job).unwrap().clone();
        (h.market.bounty(&job, job.created_block), deadline)
    };
    // The default supply factor applies to the whole base (one active plugin: 10×).
    let (transfer_bounty, transfer_deadline) = run(Some(scaling), 21_000);
    assert_eq!(transfer_deadline, 10);
    assert_eq!(run(None, 21_000), (transfer_bounty, 10));
    let heavy = Zkpow::from_wei(transfer_bounty.wei() * 11);
    assert_eq!(run(Some(scaling), 5_021_000), (heavy, 25), "base 1 + 10 ZKPOW, deadline 10 + 15");
    assert_eq!(run(None, 5_021_000), (transfer_bounty, 10));
}
