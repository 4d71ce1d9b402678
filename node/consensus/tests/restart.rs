//! Crash and restart of validators in the middle of a height, on the deterministic in-test
//! network: without a write-ahead log a restarted validator forgets its lock and the network can
//! fork; with [`Consensus::recover`] from its log it keeps agreement, and every height still
//! decides once the network heals.
//!
//! The targeted schedule, for four validators of equal stake with roles drawn per seed
//! (`locker_a`, `locker_b`, `decider`, `outsider`; on even seeds the decider proposes round 0 and
//! the outsider round 1):
//!
//! 1. The outsider is cut off. The other three reach a polka for some value `v`; the two lockers
//!    are crashed the moment they lock (their precommits for `v` are already on the wire), and the
//!    decider decides `v` on those precommits and its own. (A locker that decides in the same step
//!    as it locks, its peers' precommits having come first, spoils the setup.)
//! 2. The decider is cut off instead; the lockers restart mid-height. With the outsider they hold
//!    three quarters of the stake, and every later round's proposer among them offers a new value.
//!    Restarted with amnesia, they prevote it with the outsider: a polka, precommits, a second
//!    decision at the height. Recovered from their logs, they are still locked on `v` and refuse it.
//! 3. The network heals (gossip re-sends what was lost, and block sync lets a validator left
//!    behind catch up) and must decide every height. (Amnesia runs stop before this phase.)

mod support;

use alloy::primitives::B256;
use support::{Config, Network, Restart, SplitMix64, Violation, validator_set};
use zkcrowd_consensus::{Consensus, Height, Round, Status, ValidatorIndex};

/// Seeds of the targeted schedule, per restart mode.
const SCHEDULE_SEEDS: u64 = 256;
/// Simulated time allowed for the schedule's first phase, and the length of the second.
const SETUP_MS: u64 = 60_000;
const REJOIN_MS: u64 = 30_000;
/// Heights every validator must decide after healing, and the time allowed for them.
const HEALED_HEIGHTS: Height = 3;
const HEALED_TIME_MS: u64 = 120_000;

/// What one run of the targeted schedule did.
struct ScheduleRun {
    network: Network,
    /// The lockers crashed locked and undecided and the decider decided: the setup happened.
    set_up: bool,
    /// The value the decider decided at height 1.
    decided: Option<B256>,
    /// Whether every validator decided [`HEALED_HEIGHTS`] after the heal.
    healed: bool,
}

/// Runs the targeted schedule (module docs) for `seed`, restarting the lockers in `mode`. The run
/// is the same in both modes up to the restarts: the log is written either way and the random
/// draws do not depend on it.
fn run_schedule(seed: u64, mode: Restart) -> ScheduleRun {
    let mut draws = SplitMix64::new(seed ^ 0x5c4e_d01e);
    let mut roles = [0usize, 1, 2, 3];
    for position in (1..roles.len()).rev() {
        let other = draws.below(position as u64 + 1) as usize;
        roles.swap(position, other);
    }
    if seed.is_multiple_of(2) {
        // The adversary's favourite: the decider proposes round 0, so only it holds the proposal
        // the others locked on, and the outsider proposes round 1, right after that lock: the
        // lockers are offered its fresh value before any of them can re-propose theirs.
        let validators = validator_set(&[1, 1, 1, 1]);
        for (role, round) in [(2, 0), (3, 1)] {
            let proposer = usize::from(validators.proposer(1, round));
            let position = roles.iter().position(|node| *node == proposer).expect("a validator");
            roles.swap(position, role);
        }
    }
    let (locker_a, locker_b, decider, outsider) = (roles[0], roles[1], roles[2], roles[3]);
    let mut config = Config::honest(vec![1, 1, 1, 1], seed);
    config.latency_ms_max = draws.between(5, 400);
    config.loss_percent = draws.below(6);
    config.timeout_jitter = draws.percent(50);
    config.gossip_interval_ms = Some(1_000);
    config.record_violations = mode != Restart::Wal;
    let mut network = Network::new(config);

    // Phase 1: the outsider is cut off; crash each locker the moment it locks.
    let mut groups = vec![0; 4];
    groups[outsider] = 1;
    network.partition(groups);
    let mut lockers = vec![locker_a, locker_b];
    let mut locked_value = None;
    let mut lockers_undecided = true;
    while !lockers.is_empty() {
        let watched = lockers.clone();
        let locked = |network: &Network, node: usize| network.machine(node).is_some_and(|m| m.locked().is_some());
        if !network.run_until(SETUP_MS, |network| watched.iter().any(|node| locked(network, *node))) {
            break;
        }
        let now_locked: Vec<usize> = watched.into_iter().filter(|node| locked(&network, *node)).collect();
        for node in now_locked {
            let machine = network.machine(node).expect("running");
            assert_eq!(machine.height(), 1, "seed {seed}: the first lock is at height 1");
            let (_, value) = machine.locked().expect("locked");
            assert!(locked_value.is_none_or(|locked_value| locked_value == value), "seed {seed}: two polkas");
            locked_value = Some(value);
            lockers_undecided &= network.decided_height(node) == 0;
            network.crash(node);
            lockers.retain(|locker| *locker != node);
        }
    }
    let decider_done = network.run_until(SETUP_MS, |network| network.decided_height(decider) >= 1);
    let set_up = lockers.is_empty() && lockers_undecided && decider_done;
    let decided = network.decided_value(1);
    if set_up {
        assert_eq!(decided, locked_value, "seed {seed}: the decider decides the value the lockers locked");
    }

    // Phase 2: the decider is cut off; the lockers restart mid-height after a while.
    let mut groups = vec![0; 4];
    groups[decider] = 1;
    network.partition(groups);
    for node in [locker_a, locker_b] {
        if network.down.contains(&node) {
            let at = network.now_ms + draws.between(0, 5_000);
            network.run_until(at, |_| false);
            network.restart(node, mode);
        }
    }
    network.run_until(network.now_ms + REJOIN_MS, |_| false);
    if mode != Restart::Wal {
        return ScheduleRun { network, set_up, decided, healed: false };
    }

    // Phase 3: heal; with the lockers back, every validator must decide the next heights. A
    // validator the others left behind needs block sync, which would have spoilt the earlier
    // phases (it imports the decider's block regardless of the partition), so it starts now.
    network.heal();
    network.config.sync_after_ms = Some(10_000);
    let nodes = vec![0, 1, 2, 3];
    let until = network.now_ms + HEALED_TIME_MS;
    let healed = network
        .run_until(until, |network| network.down.is_empty() && network.min_decided_height(&nodes) >= HEALED_HEIGHTS);
    ScheduleRun { network, set_up, decided, healed }
}

/// Values honest validators proposed at height 1 after `round`, other than `value`.
fn other_proposals(network: &Network, value: B256, round: Round) -> usize {
    network
        .builders
        .iter()
        .filter(|(built, (_, height, built_round))| **built != value && *height == 1 && *built_round > round)
        .count()
}

/// Counts over the targeted schedule's seeds, restarting in `mode`: seeds set up, seeds where two
/// honest nodes decided differently at height 1, seeds where an honest validator sent two
/// different messages in one slot, and votes withheld by the vote guard.
fn count_amnesia_forks(mode: Restart) -> (u64, u64, u64, u64) {
    assert_ne!(mode, Restart::Wal);
    let (mut set_up, mut forked, mut equivocated, mut withheld) = (0, 0, 0, 0);
    for seed in 0..SCHEDULE_SEEDS {
        let run = run_schedule(seed, mode);
        set_up += u64::from(run.set_up);
        withheld += run.network.votes_withheld;
        let violations = &run.network.violations;
        let fork = violations.iter().any(|violation| matches!(violation, Violation::Fork { height: 1, .. }));
        forked += u64::from(fork);
        equivocated +=
            u64::from(violations.iter().any(|violation| matches!(violation, Violation::Equivocation { .. })));
        if fork {
            assert!(run.set_up, "seed {seed}: a fork needs the decider's decision of the lockers' value");
        }
    }
    println!(
        "{mode:?}: {set_up} of {SCHEDULE_SEEDS} seeds set up, {forked} forked, {equivocated} equivocated, {withheld} votes withheld"
    );
    assert!(set_up >= SCHEDULE_SEEDS / 2, "only {set_up} seeds reached the setup");
    (set_up, forked, equivocated, withheld)
}

/// The demonstration that the write-ahead log is needed: restarting locked validators with a
/// fresh machine ("amnesia", what `Node::restart` did) forks the chain. Method: the targeted
/// schedule over [`SCHEDULE_SEEDS`] seeds, counting the seeds where two honest nodes decide
/// differently at height 1.
#[test]
fn amnesia_restarts_of_locked_validators_fork() {
    let (set_up, forked, _, _) = count_amnesia_forks(Restart::Amnesia);
    assert!(forked >= 1, "amnesia never forked in {SCHEDULE_SEEDS} seeds ({set_up} set up)");
}

/// The validator host's old guard (withhold a vote that contradicts one sent before the crash in
/// the same slot) does not save amnesia: the forgotten lock lets the restarted validators prevote
/// another value in a later round, where they had not voted. Method: as above, behind the guard,
/// which must have withheld votes.
#[test]
fn amnesia_restarts_fork_even_behind_the_vote_guard() {
    let (set_up, forked, _, withheld) = count_amnesia_forks(Restart::AmnesiaVoteGuard);
    assert!(withheld > 0, "the guard never acted");
    assert!(forked >= 1, "amnesia behind the guard never forked in {SCHEDULE_SEEDS} seeds ({set_up} set up)");
}

/// The same schedules with restarts from the write-ahead log never fork (the network panics on
/// any disagreement or honest equivocation), the locked validators refuse the other values
/// proposed to them, and after healing every validator decides [`HEALED_HEIGHTS`] heights, height
/// 1 being the decider's value. Method: the targeted schedule over [`SCHEDULE_SEEDS`] seeds.
#[test]
fn wal_restarts_of_locked_validators_never_fork_and_heal() {
    let mut set_up = 0;
    let mut tempted = 0;
    for seed in 0..SCHEDULE_SEEDS {
        let run = run_schedule(seed, Restart::Wal);
        assert!(run.network.violations.is_empty(), "violations are only recorded in amnesia mode");
        assert!(
            run.healed,
            "seed {seed}: after healing only height {} by {} ms\n{}",
            run.network.min_decided_height(&[0, 1, 2, 3]),
            run.network.now_ms,
            run.network.describe()
        );
        if !run.set_up {
            continue;
        }
        set_up += 1;
        let value = run.decided.expect("set up: decided");
        assert_eq!(run.network.decided_value(1), Some(value), "seed {seed}");
        let lock_round = run.network.decisions.iter().find(|decision| decision.height == 1).expect("decided").round;
        tempted += u64::from(other_proposals(&run.network, value, lock_round) > 0);
    }
    println!("wal: {set_up} of {SCHEDULE_SEEDS} seeds set up, {tempted} with another value proposed later");
    assert!(set_up >= SCHEDULE_SEEDS / 2, "only {set_up} seeds reached the setup");
    assert!(tempted >= set_up / 2, "only {tempted} of {set_up} set-up seeds proposed another value later");
}

/// The two modes differ only after the restart: on a seed where amnesia forks, the run from the
/// logs is the same schedule (same roles, same crash times) and agrees. Method: find the first
/// forking seed and compare the runs' decisions before the restarts.
#[test]
fn the_same_schedule_forks_with_amnesia_and_agrees_with_the_log() {
    let seed = (0..SCHEDULE_SEEDS)
        .find(|seed| {
            let run = run_schedule(*seed, Restart::Amnesia);
            run.network.violations.iter().any(|violation| matches!(violation, Violation::Fork { .. }))
        })
        .expect("amnesia forks on some seed");
    let amnesia = run_schedule(seed, Restart::Amnesia);
    let wal = run_schedule(seed, Restart::Wal);
    assert!(amnesia.set_up);
    assert!(wal.set_up);
    assert_eq!(amnesia.decided, wal.decided, "same decider's decision at height 1");
    let first_decision = |run: &ScheduleRun| run.network.decisions.first().cloned();
    assert_eq!(first_decision(&amnesia), first_decision(&wal), "same run up to the restarts");
    let values_at_one = |run: &ScheduleRun| {
        let mut values: Vec<B256> = run
            .network
            .decisions
            .iter()
            .filter(|decision| decision.height == 1)
            .map(|decision| decision.value)
            .collect();
        values.sort();
        values.dedup();
        values.len()
    };
    assert!(values_at_one(&amnesia) >= 2, "seed {seed}: amnesia decided two values at height 1");
    assert_eq!(values_at_one(&wal), 1, "seed {seed}: the log keeps one value");
}

/// Seeds of the random crash test.
const RANDOM_SEEDS: u64 = 200;
/// Simulated time with crashes, then the time allowed to decide after the last restart.
const FAULT_PHASE_MS: u64 = 60_000;
const LIVENESS_PHASE_MS: u64 = 120_000;
/// Heights every honest validator must decide after the fault phase, beyond the highest decided.
const LIVENESS_HEIGHTS: Height = 3;

/// One run of the random crash schedule (see the test below).
struct RandomRun {
    network: Network,
    honest: Vec<usize>,
    restarts: u64,
    crashes_on_lock: u64,
    /// Whether every honest validator decided [`LIVENESS_HEIGHTS`] more heights after the crashes.
    live: bool,
    target: Height,
}

/// A random network (4-7 validators, random stakes, Byzantine equivocators below a third of the
/// stake, loss, long delays, jittered and spurious timeouts, invalid proposals, gossip and sync)
/// whose honest validators crash and restart from their logs at random for
/// [`FAULT_PHASE_MS`], half of the crashes right after the victim locks; then every crashed one
/// restarts and the run continues until [`LIVENESS_HEIGHTS`] more heights are decided or
/// [`LIVENESS_PHASE_MS`] pass.
fn random_crash_run(seed: u64) -> RandomRun {
    let mut draws = SplitMix64::new(seed ^ 0xc4a5_4e57);
    let validator_count = draws.between(4, 7) as usize;
    let stakes: Vec<u64> = (0..validator_count).map(|_| draws.between(1, 100)).collect();
    let total: u64 = stakes.iter().sum();
    let mut config = Config::honest(stakes.clone(), seed);
    let mut byzantine_stake = 0;
    for (index, stake) in stakes.iter().enumerate() {
        if draws.percent(30) && 3 * (byzantine_stake + stake) < total {
            byzantine_stake += stake;
            config.byzantine.insert(ValidatorIndex::try_from(index).expect("small"));
        }
    }
    config.latency_ms_max = draws.between(1, 800);
    config.loss_percent = draws.below(21);
    config.timeout_jitter = draws.percent(50);
    config.spurious_timeout_interval_ms = Some(10_000);
    config.invalid_percent = draws.below(31);
    config.gossip_interval_ms = Some(2_000);
    config.sync_after_ms = Some(10_000);
    let byzantine = config.byzantine.clone();
    let mut network = Network::new(config);
    let honest: Vec<usize> = (0..validator_count)
        .filter(|node| !byzantine.contains(&ValidatorIndex::try_from(*node).expect("small")))
        .collect();

    let (mut restarts, mut crashes_on_lock) = (0, 0);
    while network.now_ms < FAULT_PHASE_MS {
        let next = network.now_ms + draws.between(200, 4_000);
        let victim = honest[draws.below(honest.len() as u64) as usize];
        if network.down.contains(&victim) {
            network.run_until(next, |_| false);
            network.restart(victim, Restart::Wal);
            restarts += 1;
        } else if draws.percent(50) {
            // Right after it locks (or locks anew), if it does before `next`.
            let before = network.machine(victim).and_then(lock_at);
            let locks = network.run_until(next, |network| {
                network.machine(victim).and_then(lock_at).is_some_and(|lock| Some(lock) != before)
            });
            if locks {
                crashes_on_lock += 1;
                network.crash(victim);
            }
        } else {
            network.run_until(next, |_| false);
            network.crash(victim);
        }
    }
    let down: Vec<usize> = network.down.iter().copied().collect();
    for node in down {
        network.restart(node, Restart::Wal);
        restarts += 1;
    }
    let target = honest.iter().map(|node| network.decided_height(*node)).max().expect("honest") + LIVENESS_HEIGHTS;
    let until = network.now_ms + LIVENESS_PHASE_MS;
    let live = network.run_until(until, |network| network.min_decided_height(&honest) >= target);
    RandomRun { network, honest, restarts, crashes_on_lock, live, target }
}

/// Crash–restart from the log at random moments, half of them right after the victim locks,
/// together with every other fault of the safety tests: no disagreement and no honest
/// equivocation (the network panics on either), every restart recovers from its own log, and
/// once the crashes stop every honest validator decides [`LIVENESS_HEIGHTS`] more heights.
/// Method: [`random_crash_run`] over [`RANDOM_SEEDS`] seeds.
#[test]
fn wal_restarts_at_random_keep_agreement_and_liveness() {
    let (mut restarts, mut crashes_on_lock, mut decisions) = (0, 0, 0);
    for seed in 0..RANDOM_SEEDS {
        let run = random_crash_run(seed);
        let network = &run.network;
        assert!(
            run.live,
            "seed {seed}: only height {} of {} by {} ms; {:?}\n{}",
            network.min_decided_height(&run.honest),
            run.target,
            network.now_ms,
            network.config,
            network.describe()
        );
        restarts += run.restarts;
        crashes_on_lock += run.crashes_on_lock;
        decisions += network.decisions.len();
    }
    println!("random: {restarts} restarts, {crashes_on_lock} crashes right after a lock, {decisions} decisions");
    assert!(crashes_on_lock >= RANDOM_SEEDS, "only {crashes_on_lock} crashes on a lock");
    assert!(restarts >= 2 * RANDOM_SEEDS, "only {restarts} restarts");
}

/// Runs with crashes and restarts are as deterministic as any: the same seed gives the same
/// decisions, logs and event count; in every restart mode and in the random schedule. Method:
/// run each twice and compare.
#[test]
fn restart_runs_are_deterministic() {
    let fingerprint =
        |network: &Network| (network.decisions.clone(), network.wal_history.clone(), network.events_processed);
    for seed in 0..4 {
        for mode in [Restart::Amnesia, Restart::AmnesiaVoteGuard, Restart::Wal] {
            let (first, second) = (run_schedule(seed, mode), run_schedule(seed, mode));
            assert_eq!(fingerprint(&first.network), fingerprint(&second.network), "seed {seed} {mode:?}");
            assert_eq!(first.network.violations, second.network.violations);
        }
        let (first, second) = (random_crash_run(seed), random_crash_run(seed));
        assert_eq!(fingerprint(&first.network), fingerprint(&second.network), "random seed {seed}");
    }
}

/// The lock of a running machine with its height, to see a new lock (heights reset it).
fn lock_at(machine: &Consensus) -> Option<(Height, Round, B256)> {
    if machine.status() != Status::Running {
        return None;
    }
    machine.locked().map(|(round, value)| (machine.height(), round, value))
}

/// A crash can cut the log after any entry: every prefix of a real log must recover, keeping the
/// lock and every own message of the prefix's height. Method: run 20 targeted schedules and 4
/// random crash runs (restarts included, so logs continue across recoveries), then recover every
/// prefix of every validator's unpruned log and check it against its entries.
#[test]
fn every_prefix_of_a_real_log_recovers() {
    let mut prefixes = 0;
    let targeted = (0..20).map(|seed| run_schedule(seed, Restart::Wal).network);
    let random = (0..4).map(|seed| random_crash_run(seed).network);
    for (run, network) in targeted.chain(random).enumerate() {
        let network = &network;
        for node in 0..network.validators.len() {
            let log = &network.wal_history[node];
            for end in 0..=log.len() {
                let prefix = &log[..end];
                let me = ValidatorIndex::try_from(node).expect("small");
                let (machine, outputs) =
                    Consensus::recover(network.validators.clone(), me, network.config.timeouts.clone(), prefix)
                        .unwrap_or_else(|error| panic!("run {run} node {node} prefix {end}: {error}"));
                support::check_recovered(&machine, &outputs, prefix);
                prefixes += 1;
            }
        }
    }
    assert!(prefixes > 1_000, "only {prefixes} prefixes");
}
