//! Whole-network runs on the deterministic in-test network: agreement and proposer rotation with
//! honest validators, liveness after a partition heals and with a crashed validator, and
//! determinism of the whole run.

mod support;

use std::collections::BTreeSet;

use support::{Config, Network};

/// Simulated time allowed per height in the liveness tests: far more than the few rounds needed.
const TIME_PER_HEIGHT_MS: u64 = 30_000;

/// Four equal honest validators and an observer on a lossless network decide heights 1..=20, all
/// the same value, each in round 0 on the block built by the round-robin proposer; checked by
/// running the network until every node decided height 20 and inspecting every decision.
#[test]
fn four_honest_validators_agree_and_rotate_proposers() {
    let mut config = Config::honest(vec![1, 1, 1, 1], 1);
    config.observer = true;
    let mut network = Network::new(config);
    let nodes = network.honest_nodes();
    assert_eq!(nodes.len(), 5);
    let done = network.run_until(20 * TIME_PER_HEIGHT_MS, |network| network.min_decided_height(&nodes) >= 20);
    assert!(done, "only reached height {} by {} ms", network.min_decided_height(&nodes), network.now_ms);

    let mut proposers = BTreeSet::new();
    for height in 1..=20 {
        let decisions: Vec<_> = network.decisions.iter().filter(|decision| decision.height == height).collect();
        let deciders: BTreeSet<_> = decisions.iter().map(|decision| decision.node).collect();
        assert_eq!(deciders, nodes.iter().copied().collect(), "height {height}: every node decides once");
        let value = network.decided_value(height).expect("decided");
        assert!(decisions.iter().all(|decision| decision.value == value && decision.round == 0), "height {height}");
        let (builder, built_height, built_round) = network.builders[&value];
        assert_eq!((built_height, built_round), (height, 0));
        assert_eq!(builder, network.validators.proposer(height, 0), "height {height}: the round-0 proposer's block");
        proposers.insert(builder);
    }
    assert_eq!(proposers, (0..4).collect(), "every validator proposed");
}

/// A partition {0,1} | {2,3} leaves no side a quorum, so nothing is decided while it lasts; once
/// healed, with gossip re-sending what was lost, every node decides again within a few rounds.
/// Method: decide three heights, partition for 60 s, check no decision after the in-flight ones,
/// heal, and bound the rounds of every later decision.
#[test]
fn partition_stops_decisions_and_healing_restores_them() {
    let mut config = Config::honest(vec![1, 1, 1, 1], 7);
    config.observer = true;
    config.gossip_interval_ms = Some(1_000);
    let mut network = Network::new(config);
    let nodes = network.honest_nodes();
    assert!(network.run_until(3 * TIME_PER_HEIGHT_MS, |network| network.min_decided_height(&nodes) >= 3));

    let partition_start_ms = network.now_ms;
    network.partition(vec![0, 0, 1, 1, 0]);
    let partition_end_ms = partition_start_ms + 60_000;
    network.run_until(partition_end_ms, |_| false);
    // Quorums already formed may still complete within a few message latencies of the cut.
    let settled_ms = partition_start_ms + 1_000;
    let late: Vec<_> = network.decisions.iter().filter(|decision| decision.time_ms > settled_ms).collect();
    assert!(late.is_empty(), "decisions during the partition: {late:?}");
    let round_at_heal = nodes.iter().map(|node| network.machine(*node).expect("honest").round()).max().expect("nodes");
    let height_at_heal = nodes.iter().map(|node| network.decided_height(*node)).max().expect("nodes");

    network.heal();
    let target = height_at_heal + 5;
    let done = network
        .run_until(partition_end_ms + 5 * TIME_PER_HEIGHT_MS, |network| network.min_decided_height(&nodes) >= target);
    assert!(done, "after healing only height {} by {} ms", network.min_decided_height(&nodes), network.now_ms);
    // Healing lands everyone in round `round_at_heal` or the next; a round with all messages
    // delivered decides, so two rounds of slack bound every later decision.
    const ROUNDS_AFTER_HEAL_MAX: u32 = 2;
    for decision in network.decisions.iter().filter(|decision| decision.time_ms > partition_end_ms) {
        assert!(
            decision.round <= round_at_heal + ROUNDS_AFTER_HEAL_MAX,
            "decision {decision:?} after healing at round {round_at_heal}"
        );
    }
}

/// With one of four equal validators crashed (never sending or receiving), the other three hold
/// more than two thirds of the stake and decide every height; the crashed validator's turns to
/// propose cost a timed-out round. Method: run to height 20 and check each height's deciders.
#[test]
fn one_crashed_validator_of_four_does_not_stop_the_others() {
    let mut config = Config::honest(vec![1, 1, 1, 1], 3);
    config.crashed.insert(3);
    let mut network = Network::new(config);
    let nodes = network.honest_nodes();
    assert_eq!(nodes, vec![0, 1, 2]);
    let done = network.run_until(20 * TIME_PER_HEIGHT_MS, |network| network.min_decided_height(&nodes) >= 20);
    assert!(done, "only reached height {} by {} ms", network.min_decided_height(&nodes), network.now_ms);
    for height in 1..=20 {
        let decisions: Vec<_> = network.decisions.iter().filter(|decision| decision.height == height).collect();
        assert_eq!(decisions.len(), 3, "height {height}");
        let crashed_proposes_first = network.validators.proposer(height, 0) == 3;
        for decision in decisions {
            assert_eq!(decision.round > 0, crashed_proposes_first, "{decision:?}");
        }
    }
}

/// The same configuration, faults included, gives the same run: equal digests of every output of
/// every node; a different seed gives a different run. Method: run three networks and compare.
#[test]
fn runs_are_deterministic() {
    let run = |seed: u64| {
        let mut config = Config::honest(vec![3, 1, 4, 1, 5], seed);
        config.loss_percent = 20;
        config.timeout_jitter = true;
        config.spurious_timeout_interval_ms = Some(10_000);
        config.byzantine.insert(1);
        config.observer = true;
        config.gossip_interval_ms = Some(2_000);
        config.sync_after_ms = Some(10_000);
        config.record_digest = true;
        let mut network = Network::new(config);
        network.run_until(60_000, |_| false);
        (network.digest, network.decisions, network.events_processed)
    };
    let first = run(11);
    assert!(!first.1.is_empty(), "the run decides something");
    assert_eq!(run(11), first);
    assert_ne!(run(12).0, first.0);
}
