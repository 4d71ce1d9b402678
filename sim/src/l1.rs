//! The L1 in the simulation: the Rollup contract on anvil or in revm, and the validators'
//! submission agents, in lockstep with the simulated clock.
//!
//! Every `l1.block_time` of simulated time the driver
//! 1. lets each agent act on what its own validator's chain says is fully proven and not yet on
//!    L1 (contiguous from the L1's proven head, [`zkcrowd_node::Node::proven_blocks`]; the
//!    observer is not asked): honest agents submit in their own slots; adversarial ones skip, submit
//!    out of slot, or submit a wrong pre root; crashed validators' agents do nothing; during an L1
//!    outage every attempt fails and is retried `l1.attempts` times, `l1.retry_backoff` apart;
//! 2. mines one L1 block whose timestamp is the L1 genesis plus the simulated seconds, and logs the
//!    block and every submission's fate (accepted, or the revert reason) into the event log.
//!
//! Proofs on L1 are **modeled**: the deployment's verifier is the simulation-only
//! `ModeledProofVerifier` (the on-chain plonky2 verifier is a later issue), even when the L2 proofs
//! were real. The L1's calls block the madsim thread (anvil answers on a worker thread made before
//! the simulation), so simulated time does not pass while the L1 works.

use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, U256};
use futures::channel::mpsc::UnboundedSender;
use zkcrowd_l1::anvil::AnvilConfig;
use zkcrowd_l1::contract::l1_signer;
use zkcrowd_l1::{
    AnvilL1, Deployment, EmbeddedL1, L1Backend, L1Error, NotSent, ProvenBlock, SubmissionAgent, SubmissionOutcome,
    Submitted, Submitter,
};

use zkcrowd_node::Node;

use crate::agents::Ctx;
use crate::observer::Record;
use crate::scenario::{AgentBehaviour, L1Kind, Scenario};

/// The L1's chain id (anvil's default).
pub const L1_CHAIN_ID: u64 = 31_337;
/// Timestamp of the L1 genesis block; the deployment block is one second later, at simulated time 0.
pub const L1_GENESIS_TIMESTAMP: u64 = 1_700_000_000;

/// Starts the scenario's L1 (none, embedded, or an anvil process). Call before the madsim runtime.
pub fn start(scenario: &Scenario) -> Result<Option<Box<dyn L1Backend>>, L1Error> {
    Ok(match scenario.l1.kind {
        L1Kind::None => None,
        L1Kind::Embedded => Some(Box::new(EmbeddedL1::new(L1_CHAIN_ID, L1_GENESIS_TIMESTAMP))),
        L1Kind::Anvil => Some(Box::new(AnvilL1::spawn(AnvilConfig::new(L1_CHAIN_ID, L1_GENESIS_TIMESTAMP))?)),
    })
}

/// Checks, before a run, what the scenario's L1 needs: the compiled contracts and, for anvil, a
/// runnable `anvil` (both installed by `scripts/setup`).
pub fn preflight(scenario: &Scenario) -> Result<(), L1Error> {
    if scenario.l1.kind == L1Kind::None {
        return Ok(());
    }
    zkcrowd_l1::contract::creation_code("ModeledProofVerifier.sol", "ModeledProofVerifier")?;
    zkcrowd_l1::contract::creation_code("Rollup.sol", "Rollup")?;
    if scenario.l1.kind == L1Kind::Anvil {
        let program = zkcrowd_l1::anvil::default_program();
        let runs = std::process::Command::new(&program).arg("--version").output().is_ok_and(|o| o.status.success());
        if !runs {
            return Err(L1Error::Spawn(format!("{} does not run (scripts/setup installs it)", program.display())));
        }
    }
    Ok(())
}

/// What the L1 looked like at the end, for the summary.
#[derive(Debug, Clone, Default)]
pub struct L1Outcome {
    /// `embedded` or `anvil`.
    pub kind: &'static str,
    /// The Rollup's proven head (read from the contract).
    pub proven_head: u64,
    /// The last L1 block's number.
    pub l1_head: u64,
    /// The last L1 block's hash (anvil only).
    pub l1_head_hash: Option<B256>,
    /// Rollup and verifier addresses.
    pub rollup: Address,
    /// The verifier (simulation-only, modeled proofs).
    pub verifier: Address,
    /// Gas of the deployment block.
    pub deploy_gas: u64,
}

/// Time windows (ms) in which something is down.
#[derive(Debug, Clone, Default)]
pub struct Downtime {
    /// (validator, from, until).
    pub validators: Vec<(u16, u64, u64)>,
    /// (from, until) of L1 outages.
    pub outages: Vec<(u64, u64)>,
}

impl Downtime {
    fn validator_down(&self, validator: u16, t_ms: u64) -> bool {
        self.validators.iter().any(|&(v, from, until)| v == validator && (from..until).contains(&t_ms))
    }

    fn outage(&self, t_ms: u64) -> bool {
        self.outages.iter().any(|&(from, until)| (from..until).contains(&t_ms))
    }
}

/// The L1 driver (see the module documentation).
pub struct Driver {
    ctx: Arc<Ctx>,
    backend: Box<dyn L1Backend>,
    deployment: Deployment,
    submitters: Vec<Submitter>,
    downtime: Downtime,
    /// The validators, whose agents read their chains.
    nodes: Vec<Arc<Mutex<Node>>>,
    /// The Rollup's proven head as the driver last confirmed it.
    head: u64,
    last_block: Option<(u64, Option<B256>)>,
    status: Arc<Mutex<L1Outcome>>,
}

impl Driver {
    /// Deploys the Rollup (agents = the validators `nodes`, in index order) over the L2 genesis
    /// root.
    pub fn deploy(
        ctx: Arc<Ctx>,
        mut backend: Box<dyn L1Backend>,
        nodes: Vec<Arc<Mutex<Node>>>,
        downtime: Downtime,
    ) -> Result<Self, L1Error> {
        let genesis_root = nodes[0].lock().expect("node lock").chain().head().ledger_root;
        let validators = u64::from(ctx.scenario.chain.validators);
        let agents: Vec<SubmissionAgent> = (0..validators)
            .map(|i| SubmissionAgent::new(l1_signer("agent", ctx.seed, i), backend.chain_id(), 0))
            .collect();
        let addresses: Vec<Address> = agents.iter().map(SubmissionAgent::address).collect();
        let deployment = Deployment::deploy_simulation(
            backend.as_mut(),
            l1_signer("deployer", ctx.seed, 0),
            &addresses,
            ctx.scenario.l1.slot.as_millis() / 1_000,
            genesis_root,
            L1_GENESIS_TIMESTAMP + 1,
        )?;
        let last_block = Some((deployment.block.number, deployment.block.hash));
        let l1 = &ctx.scenario.l1;
        let submitters = agents
            .into_iter()
            .enumerate()
            .map(|(index, agent)| {
                let (max, attempts) = (l1.max_blocks_per_l1_block as usize, l1.attempts);
                Submitter::new(agent, index, deployment.schedule.clone(), deployment.rollup, max, attempts)
            })
            .collect();
        let status = Arc::new(Mutex::new(L1Outcome::default()));
        let driver = Self { ctx, backend, deployment, submitters, downtime, nodes, head: 0, last_block, status };
        *driver.status.lock().expect("status lock") = driver.outcome();
        Ok(driver)
    }

    /// The L1's state, updated after every L1 block.
    pub fn status(&self) -> Arc<Mutex<L1Outcome>> {
        self.status.clone()
    }

    /// L1 timestamp at simulated time `t_ms`.
    fn timestamp_at(t_ms: u64) -> u64 {
        L1_GENESIS_TIMESTAMP + 1 + t_ms / 1_000
    }

    /// The fully proven L2 blocks after the L1's head, contiguous, at most `max`, as validator
    /// `agent`'s own chain has them.
    fn pending(&self, agent: usize, max: usize) -> Vec<ProvenBlock> {
        let node = self.nodes[agent].lock().expect("node lock");
        node.proven_blocks(self.head, max)
            .into_iter()
            .map(|b| {
                ProvenBlock::modeled(
                    b.number,
                    b.pre_root,
                    b.post_root,
                    b.transactions_root,
                    b.aggregator.unwrap_or(Address::ZERO),
                )
            })
            .collect()
    }

    /// The highest fully proven head among the validators' chains.
    pub fn l2_proven_head(nodes: &[Arc<Mutex<Node>>]) -> u64 {
        nodes.iter().map(|n| n.lock().expect("node lock").fully_proven_head()).max().unwrap_or(0)
    }

    /// One L1 block: agents act, the block is mined, outcomes are logged. Returns whether the L1
    /// holds every fully proven L2 block.
    async fn step(&mut self) -> bool {
        let ctx = self.ctx.clone();
        let l1 = &ctx.scenario.l1;
        let timestamp = Self::timestamp_at(ctx.now_ms());
        for index in 0..self.submitters.len() {
            let agent = index as u16;
            let pending = self.pending(index, l1.max_blocks_per_l1_block as usize);
            let muted = ctx.scenario.sabotage.contains(&crate::scenario::Sabotage::MuteL1Agents);
            if pending.is_empty() || muted || self.downtime.validator_down(agent, ctx.now_ms()) {
                continue;
            }
            let rollup = self.deployment.rollup;
            let submitter = &mut self.submitters[index];
            let own_slot = submitter.owns_slot_at(timestamp);
            let txs = match l1.behaviour(agent) {
                AgentBehaviour::Honest => submitter.due(timestamp, &pending),
                AgentBehaviour::SkipSlots => Vec::new(),
                AgentBehaviour::OutOfSlot if own_slot => submitter.due(timestamp, &pending),
                AgentBehaviour::OutOfSlot => {
                    vec![(pending[0].number, submitter.agent_mut().sign_submit(rollup, &pending[0]))]
                }
                AgentBehaviour::WrongPreRoot if own_slot => {
                    let b = &pending[0];
                    let wrong = B256::from(U256::from_be_bytes(b.pre_root.0).wrapping_add(U256::from(1)));
                    let block = ProvenBlock::modeled(b.number, wrong, b.post_root, b.tx_commitment, b.aggregator);
                    vec![(b.number, submitter.agent_mut().sign_submit(rollup, &block))]
                }
                AgentBehaviour::WrongPreRoot => Vec::new(),
            };
            let count = txs.len();
            for (position, (number, tx)) in txs.into_iter().enumerate() {
                let mut attempt = 1;
                let failure = loop {
                    let result = if self.downtime.outage(ctx.now_ms()) {
                        Err(L1Error::Unavailable("outage (fault)".to_owned()))
                    } else {
                        self.backend.send(&tx)
                    };
                    match result {
                        Ok(hash) => {
                            self.submitters[index].sent(hash, number);
                            break None;
                        }
                        Err(L1Error::Unavailable(_)) if self.submitters[index].retry(attempt) => {
                            attempt += 1;
                            madsim::time::sleep(l1.retry_backoff.to_std()).await;
                        }
                        Err(error) => break Some(error),
                    }
                };
                if let Some(error) = failure {
                    // This and the later transactions never reached the L1: the agent waits for
                    // its next slot.
                    self.submitters[index].unsent(count - position);
                    let outcome = SubmissionOutcome::NotSent(NotSent::from_error(&error, attempt));
                    self.log(Record::L1Submission { agent, l2_block: number, tx: None, outcome, gas_used: 0 });
                    break;
                }
            }
        }
        // Retries may have taken simulated time: the block carries the time it is mined at.
        let timestamp = Self::timestamp_at(self.ctx.now_ms());
        let block = match self.backend.mine(timestamp) {
            Ok(block) => block,
            Err(error) => panic!("the L1 failed to mine at {timestamp}: {error}"),
        };
        let now = self.ctx.now_ms();
        for receipt in &block.receipts {
            let Some((agent, submitted)) =
                self.submitters.iter_mut().enumerate().find_map(|(i, s)| s.on_receipt(receipt).map(|r| (i as u16, r)))
            else {
                continue;
            };
            let (l2_block, gas_used, outcome) = match submitted {
                Submitted::Accepted { block: l2_block, gas_used } => {
                    self.head = l2_block;
                    let mut observer = self.ctx.observer.lock().expect("observer lock");
                    if let Some(row) = observer.blocks.get_mut(&l2_block) {
                        row.l1_accepted_ms = Some(now);
                        row.l1_gas = Some(gas_used);
                    }
                    (l2_block, gas_used, SubmissionOutcome::Accepted)
                }
                Submitted::Reverted { block: l2_block, gas_used, reason } => {
                    (l2_block, gas_used, SubmissionOutcome::Reverted(reason))
                }
            };
            self.log(Record::L1Submission { agent, l2_block, tx: Some(receipt.tx_hash), outcome, gas_used });
        }
        // Confirmation: the contract's own view of its head must be the driver's.
        let (proven, _) = self.deployment.proven_head(self.backend.as_mut()).expect("the Rollup answers provenHead");
        assert_eq!(proven, self.head, "the Rollup's proven head disagrees with the receipts");
        self.last_block = Some((block.number, block.hash));
        self.log(Record::L1Block {
            number: block.number,
            timestamp: block.timestamp,
            txs: block.receipts.len() as u32,
            gas_used: block.gas_used,
            proven_head: self.head,
        });
        *self.status.lock().expect("status lock") = self.outcome();
        self.head >= Self::l2_proven_head(&self.nodes)
    }

    fn log(&self, record: Record) {
        self.ctx.observer.lock().expect("observer lock").log(self.ctx.now_ms(), record);
    }

    /// Runs until the simulation ends; after the fault phase, sends on `caught_up` each time the
    /// L1 holds every fully proven block and every block of the fault phase is fully proven.
    pub async fn run(mut self, caught_up: UnboundedSender<()>) {
        let block_time = self.ctx.scenario.l1.block_time.to_std();
        let duration_ms = self.ctx.scenario.duration.as_millis();
        loop {
            madsim::time::sleep(block_time).await;
            let all_on_l1 = self.step().await;
            let done = self.ctx.now_ms() >= duration_ms
                && all_on_l1
                && self.ctx.observer.lock().expect("observer lock").all_proven_until(duration_ms);
            if done {
                let _ = caught_up.unbounded_send(());
            }
        }
    }

    fn outcome(&self) -> L1Outcome {
        L1Outcome {
            kind: self.backend.kind(),
            proven_head: self.head,
            l1_head: self.last_block.map_or(0, |b| b.0),
            l1_head_hash: self.last_block.and_then(|b| b.1),
            rollup: self.deployment.rollup,
            verifier: self.deployment.verifier,
            deploy_gas: self.deployment.block.gas_used,
        }
    }
}
