//! The observer: the simulator's view from above, outside every simulated machine.
//!
//! 1. Validators report each block they commit. A block enters the **reference chain** once f+1
//!    validators (f = ⌊(n−1)/3⌋, equal stake) have committed it, so at least one correct validator
//!    did: its market events and block record then enter the **event log**. Every other report of
//!    the height must carry the same hash (`roots_agree`), whoever committed first; a validator
//!    that forked itself off (a bug, or a Byzantine one) cannot make its block the reference.
//! 2. Agents report what the chain cannot know: transactions submitted, plugins coming and going,
//!    proofs produced, faults applied.
//! 3. Every log entry, in order, is fed to SHA-256: the run's **digest**. So is every validator's
//!    own commit (time, validator, height, hash, decision round, synced or decided), which is not
//!    logged (one line per validator per block would swamp the log): a validator that commits
//!    later, in another round or by sync changes the digest even when the reference chain does not.
//!    Madsim runs one thread from a seed, so the same scenario and seed give the same order,
//!    entries and digest. L1 transaction hashes and gas are logged but not digested (they depend
//!    on proof bytes).
//! 4. Checkers consume the same stream (see [`crate::scenario::Check`]); the tables are built from
//!    it too.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use alloy::primitives::{Address, B256};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use zkcrowd_chain::TxKind;
use zkcrowd_l1::SubmissionOutcome;
use zkcrowd_market::{AfterDeadline, EventKind, JobId, JobKind, MarketEvent, MissReason, ProofKind};
use zkcrowd_node::CommitReport;
use zkcrowd_primitives::FEE_BURN_ADDRESS;
use zkcrowd_protocol::TxRefusal;

/// One entry of the event log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Simulated time, milliseconds.
    pub t_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub record: Record,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first commit of a height anywhere.
    BlockCommitted {
        /// Height.
        height: u64,
        /// Hash.
        hash: B256,
        /// Proposer.
        proposer: Address,
        /// Transactions.
        txs: u32,
        /// Gas used.
        gas_used: u64,
        /// Decision round.
        round: u32,
        /// Validator that committed first.
        validator: u16,
    },
    /// A market event of a committed block.
    Market(MarketEvent),
    /// A user transaction was sent.
    TxSubmitted {
        /// Hash.
        hash: B256,
        /// Kind.
        kind: TxKind,
        /// The user (index).
        user: u32,
        /// Its nonce.
        nonce: u64,
    },
    /// A user transaction was refused with a reason.
    TxRefused {
        /// Hash.
        hash: B256,
        /// Why.
        reason: TxRefusal,
    },
    /// A plugin came online.
    PluginOnline {
        /// Plugin index.
        plugin: u32,
    },
    /// A plugin went offline.
    PluginOffline {
        /// Plugin index.
        plugin: u32,
        /// Why.
        reason: &'static str,
    },
    /// A plugin started an idle spell.
    PluginIdle {
        /// Plugin index.
        plugin: u32,
        /// Length.
        for_ms: u64,
    },
    /// A plugin finished a proof (valid or not, real or modeled).
    ProofProduced {
        /// Plugin index.
        plugin: u32,
        /// Job.
        job: JobId,
        /// Real or modeled.
        proof: ProofKind,
        /// Whether it should verify.
        valid: bool,
        /// Simulated proving time.
        proving_ms: u64,
    },
    /// A plugin could not produce a real proof (the circuit refused its inputs).
    RealProofFailed {
        /// Plugin index.
        plugin: u32,
        /// Job.
        job: JobId,
        /// Why.
        reason: String,
    },
    /// A validator crashed with transactions in its mempool: they are gone from it, and their
    /// senders must re-send them (user transactions among them are followed by `no_lost_tx`).
    TxsDroppedByCrash {
        /// The validator.
        validator: u16,
        /// How many transactions.
        txs: u32,
        /// How many of them are user transactions.
        user_txs: u32,
    },
    /// A validator equivocated (first seen by `by`): the evidence, two different messages of one
    /// type in one round. Logged once per `(height, round, type, validator)`.
    Equivocation {
        /// The equivocating validator.
        validator: u16,
        /// The validator that detected it first.
        by: u16,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Its first message, in the notation of the consensus crate.
        first: String,
        /// The conflicting one.
        second: String,
        /// The first message's signature (65 bytes, hex): with `second_signature`, the evidence
        /// anyone can check against the validator's address.
        first_signature: String,
        /// The second message's signature.
        second_signature: String,
    },
    /// A fault started or ended.
    Fault {
        /// Description.
        what: String,
    },
    /// An L1 block was mined (its hash is not logged: the embedded L1 builds no headers, and the
    /// digest is the same on both L1s).
    L1Block {
        /// L1 block number.
        number: u64,
        /// Its timestamp, seconds.
        timestamp: u64,
        /// Transactions in it.
        txs: u32,
        /// Gas used.
        gas_used: u64,
        /// The Rollup's proven head after it.
        proven_head: u64,
    },
    /// A submission agent's attempt to post a range of L2 blocks.
    L1Submission {
        /// The agent (validator index).
        agent: u16,
        /// The range's first L2 block.
        first_block: u64,
        /// Its last L2 block.
        last_block: u64,
        /// The L1 transaction (none if it never reached the L1).
        tx: Option<B256>,
        /// Accepted, reverted (why) or not sent (why).
        outcome: SubmissionOutcome,
        /// Gas used on L1.
        gas_used: u64,
    },
}

/// A checker's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Held.
    Ok,
    /// Broken, with the first reason.
    Violated(String),
}

/// Per-block facts for the tables and the liveness check.
#[derive(Debug, Clone, Serialize)]
pub struct BlockRow {
    /// Height.
    pub height: u64,
    /// Hash.
    pub hash: B256,
    /// First commit, ms.
    pub committed_ms: u64,
    /// Transactions (all).
    pub txs: u32,
    /// User transactions.
    pub user_txs: u32,
    /// Gas used.
    pub gas_used: u64,
    /// Base fee, wei.
    pub base_fee_wei: u64,
    /// Proposer.
    pub proposer: Address,
    /// Decision round.
    pub round: u32,
    /// When its root proof was accepted, ms.
    pub fully_proven_ms: Option<u64>,
    /// Ledger root after the block.
    pub ledger_root: B256,
    /// Transactions root (the block's tx data commitment on L1).
    pub transactions_root: B256,
    /// The plugin whose root proof covers the block (none for a block without jobs).
    pub aggregator: Option<Address>,
    /// When the Rollup contract accepted it, ms.
    pub l1_accepted_ms: Option<u64>,
    /// Its share of the L1 gas of its range's accepted submission (the range's gas divided evenly
    /// among its blocks).
    pub l1_gas: Option<u64>,
}

/// One assignment attempt of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    /// Job.
    pub job: JobId,
    /// `tx`, `system` or `aggregate`.
    pub kind: &'static str,
    /// Its block.
    pub block: u64,
    /// Creation time, ms.
    pub created_ms: u64,
    /// Attempt number (0 first).
    pub attempt: u32,
    /// Assignee.
    pub plugin: Address,
    /// Assignment time, ms.
    pub assigned_ms: u64,
    /// `proven`, `missed`, `abandoned`, `proven_by_other` or `open`.
    pub outcome: &'static str,
    /// When the outcome happened, ms.
    pub outcome_ms: Option<u64>,
    /// Bounty paid (proven attempts), wei.
    pub bounty_wei: Option<u128>,
    /// Real or modeled proof (proven attempts).
    pub proof: Option<ProofKind>,
}

/// A per-block sample of the market, from the first committer's state.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Height.
    pub height: u64,
    /// Time, ms.
    pub t_ms: u64,
    /// Active plugins.
    pub active_plugins: u64,
    /// Jobs waiting for an assignee.
    pub open_jobs: u64,
    /// Jobs assigned, unproven.
    pub assigned_jobs: u64,
    /// Blocks not yet fully proven.
    pub unproven_blocks: u64,
    /// Reward pool, wei.
    pub pool_wei: u128,
    /// Issued so far, wei.
    pub issued_wei: u128,
    /// Bounty a fresh tx job would earn now, wei.
    pub fresh_bounty_wei: u128,
    /// Mempool of the first committer.
    pub mempool: u64,
}

/// What the validator task hands over with a commit.
#[derive(Debug, Clone)]
pub struct CommitContext {
    /// The market sample after the block.
    pub sample: Sample,
    /// The supply identity on this validator after the block (the node's own check).
    pub supply: Result<(), String>,
    /// Where the tokens are on this validator after the block, measured from its state.
    pub totals: SupplyTotals,
}

/// Where the tokens are, in wei: native balances in the ledger, plugins' market balances, the
/// reward pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SupplyTotals {
    /// Native balances of every ledger account.
    pub native_wei: i128,
    /// Plugins' market balances (signed).
    pub market_wei: i128,
    /// The reward pool.
    pub pool_wei: i128,
}

impl SupplyTotals {
    /// Applies one committed transaction's native effect that no market event reports: its fee
    /// leaves the ledger (all fees are burned at the fee burn address, which the ledger leaves
    /// out), and so does value sent to that address.
    fn apply_tx(&mut self, fee_wei: u128, burned_value_wei: u128) {
        self.native_wei -= fee_wei as i128 + burned_value_wei as i128;
    }

    /// Applies one market event's token flow.
    fn apply_event(&mut self, kind: &EventKind) {
        match kind {
            EventKind::Withdrawn { amount, .. } => {
                self.market_wei -= amount.wei() as i128;
                self.native_wei += amount.wei() as i128;
            }
            EventKind::Repaid { amount, .. } => {
                self.native_wei -= amount.wei() as i128;
                self.market_wei += amount.wei() as i128;
            }
            EventKind::RewardPaid { amount, .. } => {
                self.pool_wei -= amount.wei() as i128;
                self.market_wei += amount.wei() as i128;
            }
            EventKind::PenaltyCharged { amount, .. } => self.market_wei -= amount.wei() as i128,
            EventKind::PoolFunded { issuance, fees, .. } => {
                self.pool_wei += issuance.wei() as i128 + fees.wei() as i128
            }
            EventKind::ShortfallMinted { amount } => self.pool_wei += amount.wei() as i128,
            _ => {}
        }
    }
}

/// A height's commits seen before one block reached the reference quorum.
struct Candidate {
    hash: B256,
    validators: Vec<u16>,
    first_ms: u64,
    report: Box<CommitReport>,
    context: CommitContext,
}

/// What the observer needs to know about a run.
#[derive(Debug, Clone, Copy)]
pub struct ObserverConfig {
    /// When the last fault is over, ms.
    pub heal_ms: u64,
    /// The liveness bound, if checked.
    pub liveness_bound_ms: Option<u64>,
    /// Who may prove after a missed deadline.
    pub after_deadline: AfterDeadline,
    /// Validators (equal stake).
    pub validators: u16,
    /// Native balances at genesis, wei.
    pub genesis_native_wei: u128,
}

/// The observer (see the module documentation).
pub struct Observer {
    /// Token totals by the observer's own bookkeeping from the event stream.
    expected: SupplyTotals,
    /// Commits of one block needed for it to enter the reference chain (f + 1).
    reference_quorum: usize,
    /// Heights not yet in the reference chain: the distinct blocks committed so far.
    candidates: BTreeMap<u64, Vec<Candidate>>,
    hasher: Sha256,
    entries: u64,
    sink: Option<Box<dyn Write + Send>>,
    heal_ms: u64,
    liveness_bound_ms: Option<u64>,
    after_deadline: AfterDeadline,
    /// Per height: the reference block.
    pub blocks: BTreeMap<u64, BlockRow>,
    /// Every attempt.
    pub jobs: Vec<JobRow>,
    /// Open attempt per job: index into `jobs`.
    attempt_of: BTreeMap<JobId, usize>,
    job_meta: BTreeMap<JobId, (JobKind, u64)>,
    /// Time samples.
    pub samples: Vec<Sample>,
    submitted: BTreeMap<B256, u64>,
    /// User transactions that were in a crashed validator's mempool.
    dropped_by_crash: BTreeSet<B256>,
    /// Equivocation slots `(height, round, type, validator)` seen, and the count per validator.
    equivocation_slots: BTreeSet<(u64, u32, zkcrowd_consensus::MessageKind, u16)>,
    equivocations: BTreeMap<u16, u64>,
    committed: BTreeSet<B256>,
    /// Per committed user tx: from its first submission to its commit on the reference chain (the
    /// f+1-th validator's commit: Tendermint's finality), ms.
    pub finality_ms: Vec<u64>,
    refused: BTreeMap<B256, TxRefusal>,
    /// Tx jobs: job → tx hash.
    tx_jobs: BTreeMap<JobId, B256>,
    accepted: BTreeMap<JobId, (Address, u32)>,
    assignee: BTreeMap<JobId, Address>,
    missed: BTreeSet<JobId>,
    /// Market statistics.
    pub stats: Stats,
    /// Per plugin address.
    pub plugin_totals: BTreeMap<Address, PluginTotals>,
    /// Per plugin index: session bookkeeping (addresses are mapped at the end).
    pub sessions: BTreeMap<u32, PluginTotals>,
    /// Fault windows: (start ms, end ms, what), in scheduling order.
    pub fault_windows: Vec<(u64, u64, String)>,
    roots: Verdict,
    supply: Verdict,
    payments: Verdict,
    double_proofs: Verdict,
    /// Real proofs produced: job kind, measured wall-clock ms, modeled (simulated) ms. Not part
    /// of the digest: measurements differ from run to run.
    pub measured: Vec<(JobKind, f64, u64)>,
    /// L1 submissions by outcome class ([`SubmissionOutcome::class`]).
    pub l1_outcomes: BTreeMap<String, u64>,
    /// L1 blocks mined and their total gas.
    pub l1_blocks: (u64, u64),
}

/// Per-plugin totals for the plugins table.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PluginTotals {
    /// Jobs assigned.
    pub jobs_assigned: u64,
    /// Proofs accepted.
    pub proofs_accepted: u64,
    /// Jobs missed or abandoned.
    pub jobs_missed: u64,
    /// Rewards, wei.
    pub income_wei: u128,
    /// Penalties, wei.
    pub penalties_wei: u128,
    /// Sessions started.
    pub sessions: u64,
    /// Time online, ms.
    pub online_ms: u64,
    /// Start of the current session.
    #[serde(skip)]
    online_since: Option<u64>,
}

/// Counters for the summary.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stats {
    /// User transactions committed.
    pub user_txs_committed: u64,
    /// Transactions of every kind committed.
    pub txs_committed: u64,
    /// Tx jobs whose proof was accepted.
    pub tx_jobs_proven: u64,
    /// Proofs accepted that were real.
    pub proofs_real: u64,
    /// Real proofs a plugin tried and could not produce.
    pub real_proof_failures: u64,
    /// Proofs accepted that were modeled.
    pub proofs_modeled: u64,
    /// Proofs rejected.
    pub proofs_rejected: u64,
    /// Deadlines missed.
    pub jobs_missed: u64,
    /// Rewards paid, wei.
    pub rewards_wei: u128,
    /// Penalties charged, wei.
    pub penalties_wei: u128,
    /// Shortfall minted, wei.
    pub shortfall_wei: u128,
}

impl Observer {
    /// An observer for a run.
    pub fn new(config: ObserverConfig) -> Self {
        let ObserverConfig { heal_ms, liveness_bound_ms, after_deadline, validators, genesis_native_wei } = config;
        let faulty_max = usize::from(validators.max(1) - 1) / 3;
        Self {
            expected: SupplyTotals { native_wei: genesis_native_wei as i128, market_wei: 0, pool_wei: 0 },
            reference_quorum: faulty_max + 1,
            candidates: BTreeMap::new(),
            hasher: Sha256::new(),
            entries: 0,
            sink: None,
            heal_ms,
            liveness_bound_ms,
            after_deadline,
            blocks: BTreeMap::new(),
            jobs: Vec::new(),
            attempt_of: BTreeMap::new(),
            job_meta: BTreeMap::new(),
            samples: Vec::new(),
            submitted: BTreeMap::new(),
            dropped_by_crash: BTreeSet::new(),
            equivocation_slots: BTreeSet::new(),
            equivocations: BTreeMap::new(),
            committed: BTreeSet::new(),
            finality_ms: Vec::new(),
            refused: BTreeMap::new(),
            tx_jobs: BTreeMap::new(),
            accepted: BTreeMap::new(),
            assignee: BTreeMap::new(),
            missed: BTreeSet::new(),
            stats: Stats::default(),
            plugin_totals: BTreeMap::new(),
            sessions: BTreeMap::new(),
            fault_windows: Vec::new(),
            roots: Verdict::Ok,
            supply: Verdict::Ok,
            payments: Verdict::Ok,
            double_proofs: Verdict::Ok,
            measured: Vec::new(),
            l1_outcomes: BTreeMap::new(),
            l1_blocks: (0, 0),
        }
    }

    /// Also writes every log entry as a JSON line to `sink`.
    pub fn set_sink(&mut self, sink: Box<dyn Write + Send>) {
        self.sink = Some(sink);
    }

    /// Records a real proof's measured time (outside the digest).
    pub fn measured_proof(&mut self, kind: JobKind, measured_ms: f64, modeled_ms: u64) {
        self.measured.push((kind, measured_ms, modeled_ms));
    }

    /// Appends to the log (and the digest).
    pub fn log(&mut self, t_ms: u64, record: Record) {
        match &record {
            Record::PluginOnline { plugin } => {
                let totals = self.sessions.entry(*plugin).or_default();
                totals.sessions += 1;
                totals.online_since = Some(t_ms);
            }
            Record::PluginOffline { plugin, .. } => {
                let totals = self.sessions.entry(*plugin).or_default();
                if let Some(since) = totals.online_since.take() {
                    totals.online_ms += t_ms - since;
                }
            }
            Record::RealProofFailed { .. } => self.stats.real_proof_failures += 1,
            Record::L1Submission { outcome, .. } => {
                *self.l1_outcomes.entry(outcome.class()).or_default() += 1;
            }
            Record::L1Block { gas_used, .. } => {
                self.l1_blocks.0 += 1;
                self.l1_blocks.1 += gas_used;
            }
            _ => {}
        }
        let entry = LogEntry { t_ms, record };
        let bytes = serde_json::to_vec(&entry).expect("log entries serialize");
        // L1 transaction hashes and gas depend on the proof bytes a submission carries (a real
        // wrapped proof is random, and the verifier's gas varies with it): they are logged but
        // left out of the digest, which keeps what the L1 decided (range, agent, outcome, head).
        let digested = match &entry.record {
            Record::L1Submission { agent, first_block, last_block, outcome, .. } => {
                let record = Record::L1Submission {
                    agent: *agent,
                    first_block: *first_block,
                    last_block: *last_block,
                    tx: None,
                    outcome: outcome.clone(),
                    gas_used: 0,
                };
                serde_json::to_vec(&LogEntry { t_ms, record }).expect("log entries serialize")
            }
            Record::L1Block { number, timestamp, txs, proven_head, .. } => {
                let record = Record::L1Block {
                    number: *number,
                    timestamp: *timestamp,
                    txs: *txs,
                    gas_used: 0,
                    proven_head: *proven_head,
                };
                serde_json::to_vec(&LogEntry { t_ms, record }).expect("log entries serialize")
            }
            _ => bytes.clone(),
        };
        self.hasher.update((digested.len() as u64).to_be_bytes());
        self.hasher.update(&digested);
        self.entries += 1;
        if let Some(sink) = &mut self.sink {
            let _ = sink.write_all(&bytes).and_then(|()| sink.write_all(b"\n"));
        }
    }

    /// The digest of the log so far.
    pub fn digest(&self) -> B256 {
        B256::from(<[u8; 32]>::from(self.hasher.clone().finalize()))
    }

    /// Log entries so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// A user transaction was sent.
    pub fn tx_submitted(&mut self, t_ms: u64, hash: B256, kind: TxKind, user: u32, nonce: u64) {
        if self.submitted.insert(hash, t_ms).is_none() {
            self.log(t_ms, Record::TxSubmitted { hash, kind, user, nonce });
        }
    }

    /// Validator `by` found an equivocation; logged the first time any validator reports its slot.
    pub fn equivocation(&mut self, t_ms: u64, by: u16, evidence: &zkcrowd_node::Evidence) {
        let first = &evidence.first.message;
        let validator = evidence.validator();
        let slot = (first.height(), first.round(), first.kind(), validator);
        if !self.equivocation_slots.insert(slot) {
            return;
        }
        *self.equivocations.entry(validator).or_default() += 1;
        self.log(
            t_ms,
            Record::Equivocation {
                validator,
                by,
                height: first.height(),
                round: first.round(),
                first: format!("{first:?}"),
                second: format!("{:?}", evidence.second.message),
                first_signature: evidence.first.signature.to_string(),
                second_signature: evidence.second.signature.to_string(),
            },
        );
    }

    /// Equivocations per validator (distinct slots), for `summary.json`.
    pub fn equivocations(&self) -> &BTreeMap<u16, u64> {
        &self.equivocations
    }

    /// Validator `validator` crashed with `hashes` in its mempool.
    pub fn crash_dropped(&mut self, t_ms: u64, validator: u16, hashes: &[B256]) {
        let mut user_txs = 0u32;
        for hash in hashes {
            if self.submitted.contains_key(hash) && !self.committed.contains(hash) {
                user_txs += 1;
                self.dropped_by_crash.insert(*hash);
            }
        }
        let txs = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
        self.log(t_ms, Record::TxsDroppedByCrash { validator, txs, user_txs });
    }

    /// User transactions a crash dropped from a mempool, and how many of them were committed in the
    /// end (after their senders re-sent them).
    pub fn dropped_by_crash(&self) -> (u64, u64) {
        let committed = self.dropped_by_crash.iter().filter(|h| self.committed.contains(*h)).count();
        (self.dropped_by_crash.len() as u64, committed as u64)
    }

    /// A user transaction was refused (final).
    pub fn tx_refused(&mut self, t_ms: u64, hash: B256, reason: TxRefusal) {
        if !self.committed.contains(&hash) && !self.refused.contains_key(&hash) {
            self.refused.insert(hash, reason.clone());
            self.log(t_ms, Record::TxRefused { hash, reason });
        }
    }

    /// Whether a transaction is in a committed block.
    pub fn is_committed(&self, hash: &B256) -> bool {
        self.committed.contains(hash)
    }

    /// A validator committed a block.
    pub fn on_commit(&mut self, t_ms: u64, validator: u16, report: &CommitReport, context: CommitContext) {
        let header = &report.outcome.block.header;
        let (height, hash) = (header.number, report.outcome.hash);
        // Into the digest, not the log (see the module documentation, point 3). Fixed-size and
        // tagged, so it cannot be confused with a log entry (JSON, which starts with `{`).
        let mut commit = Vec::with_capacity(64);
        commit.extend_from_slice(b"commit");
        commit.extend_from_slice(&t_ms.to_be_bytes());
        commit.extend_from_slice(&validator.to_be_bytes());
        commit.extend_from_slice(&height.to_be_bytes());
        commit.extend_from_slice(hash.as_slice());
        commit.extend_from_slice(&report.round.to_be_bytes());
        commit.push(u8::from(report.synced));
        self.hasher.update((commit.len() as u64).to_be_bytes());
        self.hasher.update(&commit);
        if let Err(reason) = &context.supply
            && self.supply == Verdict::Ok
        {
            self.supply = Verdict::Violated(format!("validator {validator} after block {height}: {reason}"));
        }
        if let Some(reference) = self.blocks.get(&height) {
            if reference.hash != hash {
                self.fork(height, validator, hash, reference.hash);
            }
            return;
        }
        // Not yet in the reference chain: count this commit towards its block.
        let candidates = self.candidates.entry(height).or_default();
        let position = match candidates.iter().position(|c| c.hash == hash) {
            Some(position) => {
                candidates[position].validators.push(validator);
                position
            }
            None => {
                candidates.push(Candidate {
                    hash,
                    validators: vec![validator],
                    first_ms: t_ms,
                    report: Box::new(report.clone()),
                    context,
                });
                candidates.len() - 1
            }
        };
        if let Some(other) = candidates.iter().find(|c| c.hash != hash).map(|c| c.hash) {
            self.fork(height, validator, hash, other);
        }
        let candidates = self.candidates.get_mut(&height).expect("inserted above");
        if candidates[position].validators.len() < self.reference_quorum {
            return;
        }
        let chosen = candidates.swap_remove(position);
        // Commits of other blocks at this height (already reported as a fork) are dropped.
        self.candidates.remove(&height);
        debug_assert!(chosen.first_ms <= t_ms, "commits arrive in time order");
        self.enter_reference(t_ms, chosen.validators[0], &chosen.report, chosen.context);
    }

    fn fork(&mut self, height: u64, validator: u16, hash: B256, other: B256) {
        if self.roots == Verdict::Ok {
            self.roots = Verdict::Violated(format!(
                "height {height}: validator {validator} committed {hash}, another committed {other}"
            ));
        }
    }

    /// The block of `report` is in the reference chain from `t_ms` (its f+1-th commit).
    fn enter_reference(&mut self, t_ms: u64, validator: u16, report: &CommitReport, context: CommitContext) {
        let header = &report.outcome.block.header;
        let outcome = &report.outcome;
        let user_txs = outcome.txs.iter().filter(|t| t.kind != TxKind::System).count() as u32;
        self.blocks.insert(
            header.number,
            BlockRow {
                height: header.number,
                hash: outcome.hash,
                committed_ms: t_ms,
                txs: outcome.txs.len() as u32,
                user_txs,
                gas_used: header.gas_used,
                base_fee_wei: header.base_fee_per_gas,
                proposer: header.proposer,
                round: report.round,
                fully_proven_ms: None,
                ledger_root: header.ledger_root,
                transactions_root: header.transactions_root,
                aggregator: None,
                l1_accepted_ms: None,
                l1_gas: None,
            },
        );
        self.log(
            t_ms,
            Record::BlockCommitted {
                height: header.number,
                hash: outcome.hash,
                proposer: header.proposer,
                txs: outcome.txs.len() as u32,
                gas_used: header.gas_used,
                round: report.round,
                validator,
            },
        );
        for record in &outcome.txs {
            let burned_value = if record.success && record.to == Some(FEE_BURN_ADDRESS) {
                u128::try_from(record.value).unwrap_or(u128::MAX)
            } else {
                0
            };
            self.expected.apply_tx(record.fee_wei, burned_value);
            if self.committed.insert(record.hash)
                && let Some(sent_ms) = self.submitted.get(&record.hash)
            {
                self.finality_ms.push(t_ms.saturating_sub(*sent_ms));
            }
            self.stats.txs_committed += 1;
            if record.kind != TxKind::System {
                self.stats.user_txs_committed += 1;
            }
        }
        let tx_hashes: Vec<B256> = outcome.txs.iter().map(|t| t.hash).collect();
        for event in &outcome.market_events {
            self.expected.apply_event(&event.kind);
            self.on_market_event(t_ms, event, &tx_hashes);
            self.log(t_ms, Record::Market(event.clone()));
        }
        // Token conservation, recomputed: the flows in the event stream must account for every
        // wei the committing validator's state holds.
        if context.totals != self.expected && self.supply == Verdict::Ok {
            let (held, expected) = (context.totals, self.expected);
            self.supply = Verdict::Violated(format!(
                "after block {} on validator {validator}, the state holds native {} market {} pool {} wei, the \
                 event stream accounts for native {} market {} pool {} wei",
                header.number,
                held.native_wei,
                held.market_wei,
                held.pool_wei,
                expected.native_wei,
                expected.market_wei,
                expected.pool_wei
            ));
        }
        self.samples.push(context.sample);
    }

    fn on_market_event(&mut self, t_ms: u64, event: &MarketEvent, tx_hashes: &[B256]) {
        match &event.kind {
            EventKind::JobCreated { job, kind } => {
                self.job_meta.insert(*job, (*kind, t_ms));
                if let JobKind::Tx { index, .. } = kind
                    && let Some(hash) = tx_hashes.get(*index as usize)
                {
                    self.tx_jobs.insert(*job, *hash);
                }
            }
            EventKind::JobAssigned { job, plugin, attempt, .. } => {
                self.assignee.insert(*job, *plugin);
                self.plugin_totals.entry(*plugin).or_default().jobs_assigned += 1;
                let (kind, created_ms) =
                    self.job_meta.get(job).copied().unwrap_or((JobKind::Tx { block: 0, index: 0 }, t_ms));
                self.attempt_of.insert(*job, self.jobs.len());
                self.jobs.push(JobRow {
                    job: *job,
                    kind: match kind {
                        JobKind::System { .. } => "system",
                        other => other.name(),
                    },
                    block: kind.block(),
                    created_ms,
                    attempt: *attempt,
                    plugin: *plugin,
                    assigned_ms: t_ms,
                    outcome: "open",
                    outcome_ms: None,
                    bounty_wei: None,
                    proof: None,
                });
            }
            EventKind::JobMissed { job, reason, plugin, .. } => {
                self.plugin_totals.entry(*plugin).or_default().jobs_missed += 1;
                self.assignee.remove(job);
                self.missed.insert(*job);
                self.stats.jobs_missed += 1;
                if let Some(row) = self.attempt_of.remove(job).map(|i| &mut self.jobs[i]) {
                    row.outcome = match reason {
                        MissReason::Deadline => "missed",
                        MissReason::Abandoned => "abandoned",
                    };
                    row.outcome_ms = Some(t_ms);
                }
            }
            EventKind::ProofAccepted { job, prover, proof, .. } => {
                let allowed = self.assignee.get(job) == Some(prover)
                    || (self.after_deadline == AfterDeadline::Open && self.missed.contains(job));
                if !allowed && self.payments == Verdict::Ok {
                    self.payments = Verdict::Violated(format!(
                        "block {}: job {job} accepted from {prover}, assigned to {:?}",
                        event.block,
                        self.assignee.get(job)
                    ));
                }
                let count = self.accepted.entry(*job).or_insert((*prover, 0));
                count.1 += 1;
                if count.1 > 1 && self.double_proofs == Verdict::Ok {
                    self.double_proofs = Verdict::Violated(format!("job {job} proven twice"));
                }
                self.assignee.remove(job);
                self.plugin_totals.entry(*prover).or_default().proofs_accepted += 1;
                match proof {
                    ProofKind::Real => self.stats.proofs_real += 1,
                    ProofKind::Modeled => self.stats.proofs_modeled += 1,
                }
                if self.tx_jobs.contains_key(job) {
                    self.stats.tx_jobs_proven += 1;
                }
                if let Some(row) = self.attempt_of.remove(job).map(|i| &mut self.jobs[i]) {
                    row.outcome = if row.plugin == *prover { "proven" } else { "proven_by_other" };
                    row.outcome_ms = Some(t_ms);
                    row.proof = Some(*proof);
                }
            }
            EventKind::RewardPaid { plugin, job, amount } => {
                self.stats.rewards_wei += amount.wei();
                self.plugin_totals.entry(*plugin).or_default().income_wei += amount.wei();
                let paid_prover = self.accepted.get(job).map(|(p, _)| p);
                if paid_prover != Some(plugin) && self.payments == Verdict::Ok {
                    self.payments =
                        Verdict::Violated(format!("job {job}: reward to {plugin}, proof from {paid_prover:?}"));
                }
                if let Some(row) = self.jobs.iter_mut().rev().find(|r| r.job == *job && r.outcome.starts_with("proven"))
                {
                    row.bounty_wei = Some(amount.wei());
                }
            }
            EventKind::PenaltyCharged { amount, plugin, .. } => {
                self.stats.penalties_wei += amount.wei();
                self.plugin_totals.entry(*plugin).or_default().penalties_wei += amount.wei();
            }
            EventKind::ShortfallMinted { amount } => self.stats.shortfall_wei += amount.wei(),
            EventKind::ProofRejected { .. } => self.stats.proofs_rejected += 1,
            EventKind::BlockFullyProven { block_number, root_job } => {
                let aggregator = root_job.and_then(|job| self.accepted.get(&job).map(|(prover, _)| *prover));
                if let Some(row) = self.blocks.get_mut(block_number) {
                    row.fully_proven_ms.get_or_insert(t_ms);
                    row.aggregator = row.aggregator.or(aggregator);
                }
            }
            _ => {}
        }
    }

    /// Whether every block committed by `until_ms` is fully proven.
    pub fn all_proven_until(&self, until_ms: u64) -> bool {
        self.blocks.values().filter(|b| b.committed_ms <= until_ms).all(|b| b.fully_proven_ms.is_some())
    }

    /// Whether every user tx submitted so far is settled: committed or refused with a reason.
    pub fn user_txs_settled(&self) -> bool {
        self.submitted.keys().all(|h| self.committed.contains(h) || self.refused.contains_key(h))
    }

    /// The highest block committed at or before `until_ms` (0 if none).
    pub fn last_block_until(&self, until_ms: u64) -> u64 {
        self.blocks.values().filter(|b| b.committed_ms <= until_ms).map(|b| b.height).max().unwrap_or(0)
    }

    /// The last block of the contiguous run of fully proven blocks from height 1 (0 if none).
    pub fn fully_proven_head(&self) -> u64 {
        let mut head = 0;
        while self.blocks.get(&(head + 1)).is_some_and(|b| b.fully_proven_ms.is_some()) {
            head += 1;
        }
        head
    }

    /// Blocks committed and not yet fully proven.
    pub fn unproven_blocks(&self) -> usize {
        self.blocks.values().filter(|b| b.fully_proven_ms.is_none()).count()
    }

    /// The checks' verdicts at the end of a run that lasted until `end_ms`.
    pub fn verdicts(&self, end_ms: u64) -> BTreeMap<&'static str, Verdict> {
        let mut out = BTreeMap::new();
        out.insert("roots_agree", self.roots.clone());
        out.insert("token_conservation", self.supply.clone());
        out.insert("no_payment_to_non_assignee", self.payments.clone());
        // No lost tx: every user tx submitted is committed or refused with a reason; no job proven twice.
        let lost: Vec<&B256> =
            self.submitted.keys().filter(|h| !self.committed.contains(*h) && !self.refused.contains_key(*h)).collect();
        let no_lost = if let Verdict::Violated(reason) = &self.double_proofs {
            Verdict::Violated(reason.clone())
        } else if let Some(first) = lost.iter().min_by_key(|h| self.submitted[**h]) {
            let after_crash = lost.iter().filter(|h| self.dropped_by_crash.contains(**h)).count();
            Verdict::Violated(format!(
                "{} submitted transactions never committed nor refused although their senders kept \
                 re-sending them ({after_crash} of them had been dropped by a validator crash; earliest: {first}, \
                 sent at {}s)",
                lost.len(),
                self.submitted[*first] / 1_000
            ))
        } else {
            Verdict::Ok
        };
        out.insert("no_lost_tx", no_lost);
        if let Some(bound) = self.liveness_bound_ms {
            let mut verdict = Verdict::Ok;
            for block in self.blocks.values() {
                let deadline = block.committed_ms.max(self.heal_ms) + bound;
                let late = match block.fully_proven_ms {
                    Some(proven) => proven > deadline,
                    None => end_ms >= deadline,
                };
                if late {
                    verdict = Verdict::Violated(format!(
                        "block {} committed at {}s not fully proven within {}s (proven at {})",
                        block.height,
                        block.committed_ms / 1_000,
                        bound / 1_000,
                        block.fully_proven_ms.map_or("never".to_string(), |p| format!("{}s", p / 1_000)),
                    ));
                    break;
                }
            }
            out.insert("liveness", verdict);
        }
        out
    }

    /// Submitted user transactions.
    pub fn submitted_count(&self) -> usize {
        self.submitted.len()
    }

    /// Closes the sessions still open at `end_ms`.
    pub fn close_sessions(&mut self, end_ms: u64) {
        for totals in self.sessions.values_mut() {
            if let Some(since) = totals.online_since.take() {
                totals.online_ms += end_ms - since;
            }
        }
    }
}
