//! A run: one scenario, one seed, under madsim.
//!
//! 1. **Setup**: the genesis, the validator set, every identity and its behaviour and device,
//!    drawn from generators seeded by the run's seed.
//! 2. **Machines**: one madsim node per validator, per plugin, and one for the users' load. A
//!    validator's committed chain lives outside its madsim node (its disk): a crash (`kill`) loses the
//!    node's memory, a restart recovers from the chain ([`zkcrowd_node::Node::restart`]).
//! 3. **Fault phase** (`duration`): users send transactions, plugins come and go, faults fire.
//! 4. **Healed phase**: users stop; the run goes on until every block committed during the fault
//!    phase is fully proven and every user tx sent in it is settled, or for `drain` at most.
//! 5. **Verdicts**: the observer's checkers, the digest, the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::{UnboundedSender, unbounded};
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use zkcrowd_chain::{Chain, SenderCache};
use zkcrowd_node::{Node, NodeParams};

use crate::agents::{self, Behaviour, Control, Ctx, PluginSpec, agent_rng};
use crate::cost::CostProfile;
use crate::net::{Net, Role};
use crate::observer::{Observer, ObserverConfig, Record, Verdict};
use crate::scenario::{Arrivals, Scenario, Session, SimDuration};
use crate::setup::{self, Identities};

/// Progress of a run, reported periodically.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Simulated seconds so far.
    pub sim_seconds: u64,
    /// Simulated seconds the run lasts at most.
    pub sim_seconds_max: u64,
    /// Blocks committed.
    pub blocks: u64,
    /// Blocks committed and not yet fully proven.
    pub backlog: u64,
    /// Active plugins.
    pub active_plugins: u64,
}

/// What a run needs besides the scenario and seed.
#[derive(Default)]
pub struct RunOptions {
    /// Called every simulated minute.
    pub progress: Option<Box<dyn Fn(Progress) + Send + Sync>>,
    /// Write the event log as JSON lines here.
    pub events: Option<Box<dyn std::io::Write + Send>>,
}

/// What a run produced.
pub struct RunOutput {
    /// The observer, with every table's rows.
    pub observer: Observer,
    /// Simulated milliseconds.
    pub sim_ms: u64,
    /// Check verdicts (only the scenario's checks).
    pub verdicts: BTreeMap<&'static str, Verdict>,
    /// Heads of the validators at the end: (height, hash, consensus status).
    pub heads: Vec<(u64, alloy::primitives::B256, String)>,
    /// Plugin facts for the tables: index → (address, behaviour, speed).
    pub plugins: Vec<(alloy::primitives::Address, Behaviour, f64)>,
    /// Network counters.
    pub net: crate::net::NetStats,
    /// The cost profile used.
    pub cost: CostProfile,
    /// Market balances at the end (first validator): address → wei.
    pub market_balances: BTreeMap<alloy::primitives::Address, i128>,
    /// The L1 at the end, if the scenario has one.
    pub l1: Option<crate::l1::L1Outcome>,
}

/// Runs `scenario` with `seed`. Panics inside the simulation propagate to the caller.
pub fn run(scenario: &Scenario, seed: u64, options: RunOptions) -> RunOutput {
    let mut config = madsim::Config::default();
    // Link delays and losses are applied per class by `Net`; madsim adds almost nothing.
    config.net.send_latency = Duration::from_micros(1)..Duration::from_micros(2);
    // Real proving needs the circuits and a thread pool, both made before the simulation starts.
    let real = scenario.proofs.real.map(|_| {
        let cache = crate::real::cache_dir();
        let system = crate::real::load_system(&cache).unwrap_or_else(|error| panic!("real proofs: {error:#}"));
        let wrapper = crate::real::build_wrapper(&system).unwrap_or_else(|error| panic!("real proofs: {error:#}"));
        crate::real::RealProving { system, wrapper }
    });
    // The L1 too: anvil is a process with a worker thread (see `crate::l1`).
    let l1 = crate::l1::start(scenario).unwrap_or_else(|error| panic!("l1: {error}"));
    // Kills anvil when the run ends or panics (the simulation's tasks, which own the L1, are leaked).
    let _l1_stop = l1.as_ref().and_then(|l1| l1.stop_handle());
    let runtime = Runtime::with_seed_and_config(seed, config);
    let scenario = scenario.clone();
    runtime.block_on(simulate(scenario, seed, options, real, l1))
}

/// Random draws for an offline identity before falling back to the first offline one.
const ARRIVAL_DRAWS_MAX: usize = 64;

struct PluginScheduler {
    ctx: Arc<Ctx>,
    controls: Vec<UnboundedSender<Control>>,
    online: BTreeSet<u32>,
    generation: Vec<u64>,
    rng: ChaCha8Rng,
}

type Scheduler = Arc<Mutex<PluginScheduler>>;

fn bring_online(scheduler: &Scheduler, plugin: u32) {
    let mut s = scheduler.lock().expect("scheduler lock");
    if !s.online.insert(plugin) {
        return;
    }
    s.generation[plugin as usize] += 1;
    let generation = s.generation[plugin as usize];
    let _ = s.controls[plugin as usize].unbounded_send(Control::Online);
    let ctx = s.ctx.clone();
    ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::PluginOnline { plugin });
    let session_ms = match ctx.scenario.plugins.session {
        Session::Forever => None,
        Session::Lognormal { median, sigma } => {
            let mu = (median.as_millis().max(1) as f64).ln();
            Some(LogNormal::new(mu, sigma).expect("validated").sample(&mut s.rng).round() as u64)
        }
        Session::Exponential { mean } => {
            Some(Exp::new(1.0 / mean.as_millis().max(1) as f64).expect("positive").sample(&mut s.rng).round() as u64)
        }
    };
    let idle = ctx.scenario.plugins.idle;
    let idle_at = (s.rng.random_bool(idle.probability)).then(|| {
        let span = session_ms.unwrap_or(ctx.scenario.duration.as_millis()).max(1);
        s.rng.random_range(0..span)
    });
    drop(s);
    if let Some(session_ms) = session_ms {
        let scheduler = scheduler.clone();
        madsim::task::spawn(async move {
            madsim::time::sleep(Duration::from_millis(session_ms)).await;
            if scheduler.lock().expect("scheduler lock").generation[plugin as usize] == generation {
                take_offline(&scheduler, plugin, "session end");
            }
        });
    }
    if let Some(at) = idle_at {
        let scheduler = scheduler.clone();
        madsim::task::spawn(async move {
            madsim::time::sleep(Duration::from_millis(at)).await;
            let s = scheduler.lock().expect("scheduler lock");
            if s.generation[plugin as usize] == generation && s.online.contains(&plugin) {
                let for_ms = s.ctx.scenario.plugins.idle.duration.as_millis();
                let _ = s.controls[plugin as usize].unbounded_send(Control::Idle { for_ms });
                s.ctx
                    .observer
                    .lock()
                    .expect("observer lock")
                    .log(s.ctx.now_ms(), Record::PluginIdle { plugin, for_ms });
            }
        });
    }
}

fn take_offline(scheduler: &Scheduler, plugin: u32, reason: &'static str) {
    let mut s = scheduler.lock().expect("scheduler lock");
    if !s.online.remove(&plugin) {
        return;
    }
    s.generation[plugin as usize] += 1;
    let _ = s.controls[plugin as usize].unbounded_send(Control::Offline);
    s.ctx.observer.lock().expect("observer lock").log(s.ctx.now_ms(), Record::PluginOffline { plugin, reason });
}

/// Assigns `count` items to classes by share: largest remainders, then shuffled by `rng`.
/// Each plugin's economics (`plugins.economics`): `share` of the honest plugins (chosen by a
/// shuffle of their own generator) are price-driven, each with a cost drawn once; the others and
/// every adversary take part whenever online.
fn plugin_economics(
    scenario: &Scenario,
    cost: &crate::cost::CostProfile,
    behaviours: &[Behaviour],
    seed: u64,
) -> Vec<Option<zkcrowd_client::economics::Economics>> {
    use zkcrowd_client::economics::{DecisionRule, Economics};
    let mut out = vec![None; behaviours.len()];
    let Some(section) = scenario.plugins.economics else { return out };
    let mut rng = agent_rng(seed, 0x6563_6f6e, 0);
    let mut honest: Vec<usize> = (0..behaviours.len()).filter(|&i| behaviours[i] == Behaviour::Honest).collect();
    honest.shuffle(&mut rng);
    let elastic = (section.share * honest.len() as f64).round() as usize;
    let job_reference_s = cost.reference_ms(&zkcrowd_market::JobKind::Tx { block: 0, index: 0 }, 21_000) / 1_000.0;
    let rule = match section.rule {
        crate::scenario::Rule::Threshold { margin } => DecisionRule::Threshold { margin },
        crate::scenario::Rule::Smoothed { alpha, switching_cost } => {
            DecisionRule::Smoothed { alpha, switching_cost_zkpow: switching_cost.as_zkpow_f64() }
        }
        crate::scenario::Rule::Static => DecisionRule::Static,
    };
    let mut chosen = honest[..elastic].to_vec();
    chosen.sort_unstable();
    for index in chosen {
        let cost_zkpow_per_s = match section.cost {
            crate::scenario::CostDistribution::Fixed { value } => value.as_zkpow_f64(),
            crate::scenario::CostDistribution::Lognormal { median, sigma } => {
                let draw = if sigma > 0.0 {
                    rand_distr::LogNormal::new(0.0, sigma).expect("validated sigma").sample(&mut rng)
                } else {
                    1.0
                };
                median.as_zkpow_f64() * draw
            }
        };
        out[index] = Some(Economics {
            cost_zkpow_per_s,
            job_reference_s,
            rule,
            decision_interval_ms: section.decision_interval.as_millis(),
        });
    }
    out
}

fn by_share<T: Copy>(count: usize, classes: &[(f64, T)], rng: &mut ChaCha8Rng) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(count);
    let mut remainders: Vec<(f64, usize)> = Vec::new();
    for (i, (share, class)) in classes.iter().enumerate() {
        let exact = share * count as f64;
        let whole = exact.floor() as usize;
        out.extend(std::iter::repeat_n(*class, whole));
        remainders.push((exact - whole as f64, i));
    }
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take(count.saturating_sub(out.len())) {
        out.push(classes[i].1);
    }
    out.shuffle(rng);
    out
}

async fn simulate(
    scenario: Scenario,
    seed: u64,
    options: RunOptions,
    real: Option<crate::real::RealProving>,
    l1: Option<Box<dyn zkcrowd_l1::L1Backend>>,
) -> RunOutput {
    let handle = Handle::current();
    let identities = Identities::of(&scenario);
    let genesis = setup::genesis(&scenario, &identities, seed);
    let validator_set = setup::validator_set(&genesis);
    let heal_ms = scenario.heal_time().as_millis();
    // As the chain counts it (`Chain::genesis_supply_wei`): every allocation's balance.
    let genesis_native_wei: u128 = genesis.allocations().iter().map(|a| a.balance).sum();
    let mut observer = Observer::new(ObserverConfig {
        heal_ms,
        liveness_bound_ms: scenario.liveness_bound().map(|b| b.as_millis()),
        after_deadline: scenario.market.after_deadline,
        validators: scenario.chain.validators,
        genesis_native_wei,
    });
    if let Some(sink) = options.events {
        observer.set_sink(sink);
    }
    let ctx = Arc::new(Ctx {
        net: Net::new(scenario.network.validators, scenario.network.clients),
        observer: Arc::new(Mutex::new(observer)),
        epoch: madsim::time::Instant::now(),
        cost: CostProfile::named(scenario.proofs.profile),
        load_stopped: AtomicBool::new(false),
        scenario,
        seed,
        real,
    });
    let scenario = &ctx.scenario;

    // Validators: the node (with its chain) outlives the madsim node across crashes.
    let senders = Arc::new(SenderCache::new(200_000));
    let mut params = NodeParams::for_block_time(scenario.chain.block_time.as_millis(), scenario.chain.mempool_max);
    params.serve_witnesses = ctx.real.is_some();
    let verifier: Arc<dyn zkcrowd_market::ProofVerifier> = match &ctx.real {
        Some(real) => Arc::new(zkcrowd_proofs::WrappingVerifier {
            real: zkcrowd_proofs::RealVerifier(real.system.clone()),
            wrapper: real.wrapper.clone(),
        }),
        None => Arc::new(zkcrowd_market::ModeledVerifier),
    };
    let mut validator_nodes: Vec<NodeId> = Vec::new();
    let mut validator_states: Vec<Arc<Mutex<Node>>> = Vec::new();
    for index in 0..scenario.chain.validators {
        let chain =
            Chain::from_genesis_with_verifier(&genesis, verifier.clone()).expect("the scenario's genesis is valid");
        let key = zkcrowd_primitives::dev_signer(setup::validator_key(u64::from(index)));
        #[cfg_attr(not(feature = "test-bugs"), allow(unused_mut, reason = "sabotage needs `test-bugs`"))]
        let mut node = Node::new(index, validator_set.clone(), params.clone(), chain, senders.clone(), key);
        #[cfg(feature = "test-bugs")]
        for bug in scenario.sabotage.iter().filter_map(|s| s.test_bug()) {
            // One rogue validator is enough for a fork; the other bugs are everyone's.
            if bug != zkcrowd_primitives::TestBug::CommitOwnProposal || index == 0 {
                node.set_test_bug(bug);
            }
        }
        let node = Arc::new(Mutex::new(node));
        validator_states.push(node.clone());
        let started = Arc::new(AtomicBool::new(false));
        let ctx_for_node = ctx.clone();
        let id = handle
            .create_node()
            .name(format!("validator-{index}"))
            .ip(Role::Validator(index).addr().ip())
            .init(move || {
                let restarted = started.swap(true, Ordering::SeqCst);
                agents::run_validator(ctx_for_node.clone(), index, node.clone(), restarted)
            })
            .build();
        validator_nodes.push(id.id());
    }

    // Users.
    let users = identities.users.clone();
    let ctx_for_users = ctx.clone();
    handle
        .create_node()
        .name("users")
        .ip(Role::Client(0).addr().ip())
        .init(move || agents::run_users(ctx_for_users.clone(), users.clone()))
        .build();

    // Plugins: behaviour and device by share, each offline until scheduled.
    let mut rng = agent_rng(seed, 0x7365_7475, 0);
    let population = scenario.plugins.population as usize;
    let b = scenario.plugins.behaviours;
    let behaviours = by_share(
        population,
        &[
            (b.honest, Behaviour::Honest),
            (b.lazy, Behaviour::Lazy),
            (b.invalid_proofs, Behaviour::InvalidProofs),
            (b.copier, Behaviour::Copier),
            (b.withholder, Behaviour::Withholder),
        ],
        &mut rng,
    );
    let device_classes: Vec<(f64, usize)> =
        scenario.plugins.devices.iter().enumerate().map(|(i, d)| (d.share, i)).collect();
    let devices = by_share(population, &device_classes, &mut rng);
    let economics = plugin_economics(scenario, &ctx.cost, &behaviours, seed);
    let mut controls = Vec::with_capacity(population);
    let mut plugin_facts = Vec::with_capacity(population);
    for (index, signer) in identities.plugins.iter().enumerate() {
        let (sender, receiver) = unbounded();
        controls.push(sender);
        let spec = PluginSpec {
            index: index as u32,
            signer: signer.clone(),
            behaviour: behaviours[index],
            speed: scenario.plugins.devices[devices[index]].speed(),
            economics: economics[index],
        };
        plugin_facts.push((signer.address(), spec.behaviour, spec.speed));
        let receiver = Arc::new(Mutex::new(Some(receiver)));
        let ctx_for_plugin = ctx.clone();
        handle
            .create_node()
            .name(format!("plugin-{index}"))
            .ip(Role::Client(index as u32 + 1).addr().ip())
            .init(move || {
                let receiver = receiver.lock().expect("control lock").take().expect("plugins never restart");
                agents::run_plugin(ctx_for_plugin.clone(), spec.clone(), receiver)
            })
            .build();
    }
    let scheduler: Scheduler = Arc::new(Mutex::new(PluginScheduler {
        ctx: ctx.clone(),
        controls,
        online: BTreeSet::new(),
        generation: vec![0; population],
        rng: agent_rng(seed, 0x7363_6864, 0),
    }));
    let initial = scenario.plugins.initial_online.unwrap_or(scenario.plugins.population) as usize;
    let mut order: Vec<u32> = (0..population as u32).collect();
    order.shuffle(&mut rng);
    for &plugin in order.iter().take(initial) {
        bring_online(&scheduler, plugin);
    }
    let end_ms = scenario.duration.as_millis() + scenario.drain().as_millis();
    if let Arrivals::Poisson { rate } = scenario.plugins.arrivals
        && rate.per_second() > 0.0
    {
        let scheduler = scheduler.clone();
        let ctx = ctx.clone();
        madsim::task::spawn(async move {
            let exp = Exp::new(rate.per_second() / 1_000.0).expect("positive rate");
            let mut rng = agent_rng(ctx.seed, 0x6172_7276, 0);
            loop {
                let wait = exp.sample(&mut rng).round().max(1.0) as u64;
                madsim::time::sleep(Duration::from_millis(wait)).await;
                // Plugins keep arriving through the healed phase: users stopping does not stop them.
                if ctx.now_ms() >= ctx.scenario.duration.as_millis() + ctx.scenario.drain().as_millis() {
                    return;
                }
                // A uniformly random offline identity: draw until one is offline (the online
                // set is a minority or the draw stops after a bounded number of tries).
                let plugin = {
                    let s = scheduler.lock().expect("scheduler lock");
                    if s.online.len() >= population {
                        None
                    } else {
                        (0..ARRIVAL_DRAWS_MAX)
                            .map(|_| rng.random_range(0..population as u32))
                            .find(|p| !s.online.contains(p))
                            .or_else(|| (0..population as u32).find(|p| !s.online.contains(p)))
                    }
                };
                if let Some(plugin) = plugin {
                    bring_online(&scheduler, plugin);
                }
            }
        });
    }

    let downtime = schedule_faults(&ctx, &scheduler, &validator_nodes, &validator_states);

    // The L1: the Rollup deployed over the L2 genesis root at time 0, then one L1 block per
    // `l1.block_time`.
    let (caught_up_sender, mut caught_up) = unbounded::<()>();
    let l1_status = l1.map(|backend| {
        let driver = crate::l1::Driver::deploy(ctx.clone(), backend, validator_states.clone(), downtime)
            .unwrap_or_else(|error| panic!("l1: {error}"));
        let status = driver.status();
        madsim::task::spawn(driver.run(caught_up_sender));
        status
    });

    // Fault phase, then the healed phase until every block of the fault phase is proven.
    let duration_ms = scenario.duration.as_millis();
    let step_ms = 60_000u64;
    loop {
        let now = ctx.now_ms();
        if let Some(progress) = &options.progress {
            let observer = ctx.observer.lock().expect("observer lock");
            progress(Progress {
                sim_seconds: now / 1_000,
                sim_seconds_max: end_ms / 1_000,
                blocks: observer.blocks.len() as u64,
                backlog: observer.unproven_blocks() as u64,
                active_plugins: observer.samples.last().map_or(0, |s| s.active_plugins),
            });
        }
        if now >= duration_ms {
            ctx.load_stopped.store(true, Ordering::Relaxed);
            // Healed when every block of the fault phase is proven and every user tx sent in it
            // is settled (a tx sent just before the end, lost on a link, is still being re-sent).
            let all_proven = {
                let observer = ctx.observer.lock().expect("observer lock");
                observer.all_proven_until(duration_ms) && observer.user_txs_settled()
            };
            if now >= end_ms {
                break;
            }
            if all_proven {
                if l1_status.is_none() {
                    break;
                }
                // With an L1, the run ends at an L1 block that holds every fully proven block
                // (a fresh signal: older ones came before this point).
                while caught_up.try_recv().is_ok() {}
                let _ = madsim::time::timeout(
                    Duration::from_millis(end_ms - now),
                    futures::StreamExt::next(&mut caught_up),
                )
                .await;
                break;
            }
        }
        let next = if now < duration_ms { (now + step_ms).min(duration_ms) } else { (now + 5_000).min(end_ms) };
        madsim::time::sleep(Duration::from_millis(next - now)).await;
    }
    let sim_ms = ctx.now_ms();

    let heads = validator_states
        .iter()
        .map(|node| {
            let node = node.lock().expect("node lock");
            (node.chain().head().number, node.chain().head_hash(), node.status())
        })
        .collect();
    let market_balances = {
        let node = validator_states[0].lock().expect("node lock");
        node.chain().market().plugins().map(|p| (p.address, p.balance.wei())).collect()
    };
    let net = ctx.net.stats();
    let cost = ctx.cost;
    let wanted: BTreeSet<&str> = ctx.scenario.checks.iter().map(|c| c.name()).collect();
    // Stop every machine before taking the observer out of the shared context.
    for id in validator_nodes {
        handle.kill(id);
    }
    let observer = {
        let mut guard = ctx.observer.lock().expect("observer lock");
        std::mem::replace(
            &mut *guard,
            Observer::new(ObserverConfig {
                heal_ms: 0,
                liveness_bound_ms: None,
                after_deadline: Default::default(),
                validators: 1,
                genesis_native_wei: 0,
            }),
        )
    };
    let mut verdicts: BTreeMap<&'static str, Verdict> =
        observer.verdicts(sim_ms).into_iter().filter(|(name, _)| wanted.contains(name)).collect();
    let l1 = l1_status.map(|status| status.lock().expect("status lock").clone());
    if let Some(l1) = l1.as_ref().filter(|_| wanted.contains("l1_caught_up")) {
        // The Rollup contract's head against the run: every block of the fault phase (committed,
        // fully proven and wrapped on the validators' chains) is on the L1.
        let run_head = observer.last_block_until(scenario.duration.as_millis());
        let verdict = if l1.proven_head >= run_head {
            Verdict::Ok
        } else {
            Verdict::Violated(format!(
                "the Rollup's proven head is block {} at the end; the run's last block before its duration is \
                 {run_head}",
                l1.proven_head
            ))
        };
        verdicts.insert("l1_caught_up", verdict);
    }
    RunOutput { observer, sim_ms, verdicts, heads, plugins: plugin_facts, net, cost, market_balances, l1 }
}

/// Per validator, the union of its crash windows `(validator, from_ms, until_ms)`: overlapping or
/// touching windows merge into one, sorted by validator then start.
pub fn merge_downtime(crashes: &[(u16, u64, u64)]) -> Vec<(u16, u64, u64)> {
    let mut sorted = crashes.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(u16, u64, u64)> = Vec::with_capacity(sorted.len());
    for (validator, from, until) in sorted {
        match merged.last_mut() {
            Some(last) if last.0 == validator && from <= last.2 => last.2 = last.2.max(until),
            _ => merged.push((validator, from, until)),
        }
    }
    merged
}

/// Schedules the scenario's faults; returns when validators and the L1 are down.
fn schedule_faults(
    ctx: &Arc<Ctx>,
    scheduler: &Scheduler,
    validators: &[NodeId],
    nodes: &[Arc<Mutex<Node>>],
) -> crate::l1::Downtime {
    let mut downtime = crate::l1::Downtime::default();
    let mut rng = agent_rng(ctx.seed, 0x6661_756c, 0);
    let window = |start: u64, length: u64, what: String| {
        ctx.observer.lock().expect("observer lock").fault_windows.push((start, start + length, what));
    };
    let mut crashes: Vec<(u16, u64, u64)> = Vec::new();
    for fault in &ctx.scenario.faults {
        let at = fault.at.unwrap_or_default().as_millis();
        if let Some(crash) = fault.crash {
            crashes.push((crash.validator, at, at + crash.restart_after.as_millis()));
        }
        if let Some(random) = fault.random_crashes {
            let until = random.until.unwrap_or(ctx.scenario.duration).as_millis().max(random.from.as_millis() + 1);
            for _ in 0..random.count {
                let at = rng.random_range(random.from.as_millis()..until);
                let validator = rng.random_range(0..ctx.scenario.chain.validators);
                crashes.push((validator, at, at + random.restart_after.as_millis()));
            }
        }
        if let Some(partition) = fault.partition.clone() {
            window(at, partition.duration.as_millis(), format!("partition {:?}", partition.validators));
            let ctx = ctx.clone();
            madsim::task::spawn(async move {
                madsim::time::sleep(Duration::from_millis(at)).await;
                let until = ctx.now_ms() + partition.duration.as_millis();
                ctx.net.partition(partition.validators.iter().copied().collect(), ctx.now_ms(), until);
                let what = format!("partition {:?} for {}", partition.validators, partition.duration);
                ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
            });
        }
        if let Some(loss) = fault.message_loss {
            window(at, loss.duration.as_millis(), format!("message loss {}", loss.rate));
            let ctx = ctx.clone();
            madsim::task::spawn(async move {
                madsim::time::sleep(Duration::from_millis(at)).await;
                ctx.net.add_loss(loss.rate, loss.links, ctx.now_ms() + loss.duration.as_millis());
                let what = format!("message loss {} on {:?} for {}", loss.rate, loss.links, loss.duration);
                ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
            });
        }
        if let Some(byzantine) = fault.byzantine {
            let length =
                byzantine.duration.map_or(ctx.scenario.duration.as_millis().saturating_sub(at), |d| d.as_millis());
            let what = format!("validator {} byzantine ({:?})", byzantine.validator, byzantine.behaviour);
            window(at, length, what.clone());
            let ctx = ctx.clone();
            madsim::task::spawn(async move {
                madsim::time::sleep(Duration::from_millis(at)).await;
                ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
            });
        }
        if let Some(outage) = fault.l1_outage {
            let until = at + outage.duration.as_millis();
            window(at, outage.duration.as_millis(), "L1 outage".to_owned());
            downtime.outages.push((at, until));
            let ctx = ctx.clone();
            madsim::task::spawn(async move {
                madsim::time::sleep(Duration::from_millis(at)).await;
                let what = format!("L1 outage for {}", outage.duration);
                ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
            });
        }
        if let Some(exodus) = fault.plugin_exodus {
            let length = exodus.return_after.map_or(0, |r| r.as_millis());
            window(at, length, format!("plugin exodus {}", exodus.fraction));
            let ctx = ctx.clone();
            let scheduler = scheduler.clone();
            madsim::task::spawn(async move {
                madsim::time::sleep(Duration::from_millis(at)).await;
                let leaving: Vec<u32> = {
                    let mut s = scheduler.lock().expect("scheduler lock");
                    let mut online: Vec<u32> = s.online.iter().copied().collect();
                    online.shuffle(&mut s.rng);
                    let count = (online.len() as f64 * exodus.fraction).round() as usize;
                    online.into_iter().take(count).collect()
                };
                let what = format!("plugin exodus: {} plugins leave", leaving.len());
                ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
                for plugin in &leaving {
                    take_offline(&scheduler, *plugin, "exodus");
                }
                if let Some(back) = exodus.return_after {
                    madsim::time::sleep(back.to_std()).await;
                    let what = format!("plugin exodus over: {} plugins return", leaving.len());
                    ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
                    for plugin in leaving {
                        bring_online(&scheduler, plugin);
                    }
                }
            });
        }
    }
    // Overlapping crashes of one validator are one longer outage: a crash while down extends the
    // downtime to the later restart (never a second kill or restart of the same node).
    for (validator, from, until) in merge_downtime(&crashes) {
        let length = until - from;
        window(from, length, format!("validator {validator} down"));
        downtime.validators.push((validator, from, until));
        let ctx = ctx.clone();
        let id = validators[usize::from(validator)];
        let node = nodes[usize::from(validator)].clone();
        madsim::task::spawn(async move {
            madsim::time::sleep(Duration::from_millis(from)).await;
            let handle = Handle::current();
            // What the crash takes with the node's memory: its mempool (senders must re-send).
            let dropped = node.lock().expect("node lock").pending_hashes();
            ctx.observer.lock().expect("observer lock").crash_dropped(ctx.now_ms(), validator, &dropped);
            handle.kill(id);
            let what = format!("validator {validator} crashed for {}", SimDuration::from_millis(length));
            ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
            madsim::time::sleep(Duration::from_millis(length)).await;
            handle.restart(id);
            let what = format!("validator {validator} restarted");
            ctx.observer.lock().expect("observer lock").log(ctx.now_ms(), Record::Fault { what });
        });
    }
    downtime
}
