//! The L1 in the simulation: the Rollup contract on anvil or in revm, and the validators'
//! submission agents, in lockstep with the simulated clock.
//!
//! Every `l1.block_time` of simulated time the driver
//! 1. lets each agent act on the **wrapped ranges** its own validator's chain has and the L1 lacks
//!    (contiguous from the L1's proven head, [`zkcrowd_node::Node::wrapped_ranges`]; the observer is
//!    not asked): honest agents submit in their own slots; adversarial ones skip, submit out of
//!    slot, submit a wrong pre root or a tampered proof; crashed validators' agents do nothing;
//!    during an L1 outage every attempt fails and is retried `l1.attempts` times,
//!    `l1.retry_backoff` apart;
//! 2. mines one L1 block whose timestamp is the L1 genesis plus the simulated seconds, and logs the
//!    block and every submission's fate (accepted, or the revert reason) into the event log.
//!
//! The verifier is the scenario's `l1.verifier`: the generated `WrapperVerifier`, which verifies
//! each range's wrapped plonky2 proof on the L1 (with `proofs.real: all`), or the simulation-only
//! `ModeledProofVerifier`, which checks a modeled record of the range's inputs and proves nothing.
//! The L1's calls block the madsim thread (anvil answers on a worker thread made before the
//! simulation), so simulated time does not pass while the L1 works.

use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, U256};
use futures::channel::mpsc::UnboundedSender;
use zkcrowd_l1::anvil::AnvilConfig;
use zkcrowd_l1::contract::l1_signer;
use zkcrowd_l1::{
    AgentLink, AnvilL1, Deployment, EmbeddedL1, L1Backend, L1Error, ProvenRange, SubmissionAgent, SubmissionOutcome,
    Submitted, Submitter, VerifierKind,
};

use zkcrowd_node::Node;

use crate::agents::Ctx;
use crate::observer::Record;
use crate::scenario::{AgentBehaviour, L1Kind, L1Verifier, Scenario};

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
    verifier_kind(scenario).creation_code()?;
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

/// The verifier a scenario's Rollup calls.
pub fn verifier_kind(scenario: &Scenario) -> VerifierKind {
    match scenario.l1.verifier {
        L1Verifier::Modeled => VerifierKind::Modeled,
        L1Verifier::Wrapped => VerifierKind::Wrapped,
    }
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
    /// The verifier.
    pub verifier: Address,
    /// Which verifier.
    pub verifier_kind: Option<VerifierKind>,
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

/// An agent's link in the simulation: the lockstep backend, unavailable during the scenario's L1
/// outages; the back-off is simulated time.
struct SimLink<'a> {
    ctx: &'a Ctx,
    backend: &'a mut dyn L1Backend,
    downtime: &'a Downtime,
}

impl AgentLink for SimLink<'_> {
    fn send(&mut self, tx: &alloy::consensus::TxEnvelope) -> Result<B256, L1Error> {
        if self.downtime.outage(self.ctx.now_ms()) {
            return Err(L1Error::Unavailable("outage (fault)".to_owned()));
        }
        self.backend.send(tx)
    }

    async fn backoff(&mut self) {
        madsim::time::sleep(self.ctx.scenario.l1.retry_backoff.to_std()).await;
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
    /// The L2 chain's id (the Rollup's, bound by every range proof).
    l2_chain_id: u64,
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
        let (genesis_root, l2_chain_id) = {
            let node = nodes[0].lock().expect("node lock");
            (node.chain().head().ledger_root, node.chain().spec().chain_id)
        };
        let validators = u64::from(ctx.scenario.chain.validators);
        let agents: Vec<SubmissionAgent> = (0..validators)
            .map(|i| SubmissionAgent::new(l1_signer("agent", ctx.seed, i), backend.chain_id(), 0))
            .collect();
        let addresses: Vec<Address> = agents.iter().map(SubmissionAgent::address).collect();
        let deployment = Deployment::deploy(
            backend.as_mut(),
            l1_signer("deployer", ctx.seed, 0),
            verifier_kind(&ctx.scenario),
            &addresses,
            ctx.scenario.l1.slot.as_millis() / 1_000,
            genesis_root,
            l2_chain_id,
            L1_GENESIS_TIMESTAMP + 1,
        )?;
        let last_block = Some((deployment.block.number, deployment.block.hash));
        let l1 = &ctx.scenario.l1;
        let submitters = agents
            .into_iter()
            .enumerate()
            .map(|(index, agent)| {
                let (max, attempts) = (l1.max_ranges_per_l1_block as usize, l1.attempts);
                Submitter::new(agent, index, deployment.schedule.clone(), deployment.rollup, max, attempts)
            })
            .collect();
        let status = Arc::new(Mutex::new(L1Outcome::default()));
        let driver =
            Self { ctx, backend, deployment, submitters, downtime, nodes, head: 0, last_block, status, l2_chain_id };
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

    /// The wrapped ranges after the L1's head, contiguous, at most `max`, as validator `agent`'s own
    /// chain has them: with the wrapped proof, or (a modeled wrap) the modeled record.
    fn pending(&self, agent: usize, max: usize) -> Vec<ProvenRange> {
        let node = self.nodes[agent].lock().expect("node lock");
        zkcrowd_process::l1::pending_ranges(&node, self.l2_chain_id, self.head, max)
    }

    /// One L1 block: agents act, the block is mined, outcomes are logged.
    async fn step(&mut self) {
        let ctx = self.ctx.clone();
        let l1 = &ctx.scenario.l1;
        let timestamp = Self::timestamp_at(ctx.now_ms());
        for index in 0..self.submitters.len() {
            let agent = index as u16;
            let pending = self.pending(index, l1.max_ranges_per_l1_block as usize);
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
                    let r = &pending[0];
                    vec![((r.first, r.last), submitter.agent_mut().sign_submit(rollup, r))]
                }
                AgentBehaviour::WrongPreRoot if own_slot => {
                    let r = &pending[0];
                    let wrong = B256::from(U256::from_be_bytes(r.pre_root.0).wrapping_add(U256::from(1)));
                    let range = ProvenRange { pre_root: wrong, ..r.clone() };
                    vec![((r.first, r.last), submitter.agent_mut().sign_submit(rollup, &range))]
                }
                AgentBehaviour::TamperedProof if own_slot => {
                    let r = &pending[0];
                    let mut proof = r.proof.to_vec();
                    let middle = proof.len() / 2;
                    if let Some(byte) = proof.get_mut(middle) {
                        *byte ^= 1;
                    }
                    let range = ProvenRange { proof: proof.into(), ..r.clone() };
                    vec![((r.first, r.last), submitter.agent_mut().sign_submit(rollup, &range))]
                }
                AgentBehaviour::WrongPreRoot | AgentBehaviour::TamperedProof => Vec::new(),
            };
            let mut link = SimLink { ctx: &ctx, backend: self.backend.as_mut(), downtime: &self.downtime };
            if let Some(((first_block, last_block), not_sent)) = self.submitters[index].send_all(txs, &mut link).await {
                // This and the later transactions never reached the L1: the agent waits for its
                // next slot.
                let outcome = SubmissionOutcome::NotSent(not_sent);
                self.log(Record::L1Submission { agent, first_block, last_block, tx: None, outcome, gas_used: 0 });
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
            let (first_block, last_block, gas_used, outcome) = match submitted {
                Submitted::Accepted { first, last, gas_used } => {
                    self.head = last;
                    let mut observer = self.ctx.observer.lock().expect("observer lock");
                    let share = gas_used / (last - first + 1);
                    for number in first..=last {
                        if let Some(row) = observer.blocks.get_mut(&number) {
                            row.l1_accepted_ms = Some(now);
                            row.l1_gas = Some(share);
                        }
                    }
                    (first, last, gas_used, SubmissionOutcome::Accepted)
                }
                Submitted::Reverted { first, last, gas_used, reason } => {
                    (first, last, gas_used, SubmissionOutcome::Reverted(reason))
                }
            };
            let tx = Some(receipt.tx_hash);
            self.log(Record::L1Submission { agent, first_block, last_block, tx, outcome, gas_used });
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
    }

    fn log(&self, record: Record) {
        self.ctx.observer.lock().expect("observer lock").log(self.ctx.now_ms(), record);
    }

    /// Runs until the simulation ends; after the fault phase, sends on `caught_up` each time the
    /// L1 holds every block of the fault phase (fully proven, wrapped and accepted). Ranges of later
    /// blocks keep coming; the L1 is not required to have drained them (at a range every few L1
    /// blocks it never would).
    pub async fn run(mut self, caught_up: UnboundedSender<()>) {
        let block_time = self.ctx.scenario.l1.block_time.to_std();
        let duration_ms = self.ctx.scenario.duration.as_millis();
        loop {
            madsim::time::sleep(block_time).await;
            self.step().await;
            let done = self.ctx.now_ms() >= duration_ms && {
                let observer = self.ctx.observer.lock().expect("observer lock");
                observer.all_proven_until(duration_ms) && self.head >= observer.last_block_until(duration_ms)
            };
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
            verifier_kind: Some(self.deployment.verifier_kind),
            deploy_gas: self.deployment.block.gas_used,
        }
    }
}
