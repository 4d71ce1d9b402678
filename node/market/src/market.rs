//! The market state machine (see the crate documentation for the rules).
//!
//! Jobs and queues live in persistent collections (`imbl`), so a snapshot at the start of a block
//! costs O(1) and a block that fails validation is undone by restoring it. Plugins, scanned every
//! block, live in a plain vector with a first-touch journal; the two commitment trees journal their
//! leaves.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use imbl::{OrdMap, OrdSet, Vector};
use zkcrowd_ledger::{Digest, MerkleTree, Sha256, digest_to_b256, sha256};
use zkcrowd_primitives::{BlockNumber, SignedZkpow, Zkpow};

use crate::call::{MarketCall, SubmittedInputs};
use crate::curve::Factor;
use crate::errors::{CallError, ProofRejection, PublicInput};
use crate::events::{EventKind, JobId, JobKind, MarketEvent, MissReason};
use crate::params::{AfterDeadline, MarketParams};
use crate::statement::{ProofData, ProofKind, ProofVerifier, Statement, WrapRecord, combine_commitments};

/// A plugin's index in registration order.
pub type PluginId = u32;

/// Depth of the plugin tree (2^20 plugins).
pub const PLUGIN_TREE_DEPTH: usize = 20;
/// Depth of the job tree (2^32 jobs: one leaf per job ever created).
pub const JOB_TREE_DEPTH: usize = 32;

/// Draws before assignment falls back from rejection sampling to enumerating the candidates.
const REDRAWS_MAX: u32 = 32;

/// Open jobs a [`MarketQuote`] averages over: the oldest ones, which a plugin joining now would
/// be given first.
pub const QUOTE_OPEN_JOBS_MAX: usize = 256;

/// What a plugin sees of the market when deciding whether to take part (answered to
/// `GetQuote`); amounts in wei of ZKPoW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarketQuote {
    /// The block it describes (the last ended one).
    pub block: BlockNumber,
    /// Active plugins.
    pub active_plugins: u64,
    /// Jobs waiting for an assignee.
    pub open_jobs: u64,
    /// Jobs ever created (two quotes give the job rate).
    pub jobs_created: u64,
    /// The base bounty of a tx job (`bounty.base`: the posted price, no age or supply factor).
    pub bounty_base_wei: u128,
    /// The bounty of a tx job created now (base, supply factor).
    pub bounty_fresh_wei: u128,
    /// The mean bounty of the oldest [`QUOTE_OPEN_JOBS_MAX`] open jobs (their age factor
    /// included), if any is open.
    pub bounty_open_mean_wei: Option<u128>,
}

/// A registered plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// Its address (the sender of its market calls).
    pub address: Address,
    /// Block of registration.
    pub registered_block: BlockNumber,
    /// Block of the last heartbeat (registration counts as one).
    pub last_heartbeat_block: BlockNumber,
    /// Went inactive by its own call (until its next heartbeat).
    pub inactive: bool,
    /// Signed market balance.
    pub balance: SignedZkpow,
    /// Jobs assigned and not yet proven or missed.
    pub held: u32,
    /// Proofs accepted.
    pub proofs_accepted: u64,
    /// Jobs missed (deadline or abandoned).
    pub jobs_missed: u64,
    /// Blocks of its recent deadline misses, oldest first, while a [`crate::ExclusionParams`]
    /// policy counts them (at most its `misses`; cleared when it excludes the plugin).
    pub recent_misses: Vec<BlockNumber>,
    /// No new jobs before this block ([`crate::ExclusionParams`]; 0: never excluded).
    pub excluded_until_block: BlockNumber,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for an assignee.
    Open,
    /// Held by a plugin until `deadline_block` (inclusive).
    Assigned {
        /// The assignee.
        plugin: PluginId,
        /// Last block whose proofs count.
        deadline_block: BlockNumber,
    },
    /// Done.
    Proven {
        /// The prover paid.
        prover: PluginId,
        /// Block of acceptance.
        block: BlockNumber,
        /// Real or modeled.
        proof: ProofKind,
    },
}

/// A proving job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Identifier (creation order).
    pub id: JobId,
    /// What it proves.
    pub kind: JobKind,
    /// Ledger root before the span.
    pub pre_root: Digest,
    /// Ledger root after the span.
    pub post_root: Digest,
    /// Commitment to the span's transactions.
    pub commitment: Digest,
    /// Block in which the job was created.
    pub created_block: BlockNumber,
    /// Status.
    pub status: JobStatus,
    /// Assignments so far.
    pub attempts: u32,
    /// Plugins that missed this job, never drawn for it again while others can take it.
    pub failed_by: OrdSet<PluginId>,
    /// The most recent one, never drawn for it again at all.
    pub last_failed: Option<PluginId>,
    /// Running commitment to `failed_by` in miss order: `sha256(previous ‖ plugin id)`, reset
    /// with the set. Keeps the job's leaf O(1) however often it was missed.
    pub failed_commitment: B256,
    /// Position in its block's tree: (level, index).
    pub node: (u8, u32),
    /// A modeled proof record is refused for this job ([`crate::RealProofPolicy`]).
    pub real_required: bool,
    /// Gas its transaction used (tx jobs; 0 otherwise).
    pub gas_used: u64,
}

impl Job {
    /// The statement a proof of this job by `prover` must prove.
    pub fn statement(&self, prover: Address) -> Statement {
        Statement {
            pre_root: self.pre_root,
            post_root: self.post_root,
            commitment: self.commitment,
            job_id: self.id,
            prover,
        }
    }
}

/// A job the chain asks for at the end of a block: the block's user transactions one by one, then
/// its system transactions as one span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewJob {
    /// `Tx` or `System` (aggregates are created by the market).
    pub kind: JobKind,
    /// Ledger root before.
    pub pre_root: Digest,
    /// Ledger root after.
    pub post_root: Digest,
    /// Commitment.
    pub commitment: Digest,
    /// Whether a shipped circuit proves it (its commitment binds its ledger effect; see
    /// [`crate::binds_effect`]).
    pub has_circuit: bool,
    /// Gas the transaction used (a `Tx` job; 0 for a `System` span): what proving it costs
    /// grows with it, and [`crate::GasScaling`] prices and times it.
    pub gas_used: u64,
}

/// Token flows of the market since genesis, in wei (see [`Accounts::identity_holds`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Reward pool balance.
    pub pool: u128,
    /// Minted as issuance.
    pub issued: u128,
    /// Minted to cover rewards above the pool.
    pub shortfall_minted: u128,
    /// Fees moved into the pool (no longer burned).
    pub fees_recycled: u128,
    /// Penalties charged (burned).
    pub penalties_burned: u128,
    /// Rewards paid to plugins.
    pub rewards_paid: u128,
    /// Moved from market to native balances.
    pub withdrawn: u128,
    /// Moved from native into market balances.
    pub repaid: u128,
}

impl Accounts {
    /// The market's internal identities: the pool is what came in minus what was paid, and the sum
    /// of plugin balances is what was paid and repaid minus what was charged and withdrawn.
    pub fn identity_holds(&self, balances_total: i128) -> bool {
        let pool_ok = self.issued + self.fees_recycled + self.shortfall_minted == self.pool + self.rewards_paid;
        let flows =
            self.rewards_paid as i128 + self.repaid as i128 - self.penalties_burned as i128 - self.withdrawn as i128;
        pool_ok && flows == balances_total
    }
}

/// The state of one block's aggregation tree, kept until the block is fully proven.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BlockTree {
    leaves: u32,
    /// Proven nodes whose sibling is not yet proven: (level, index) → job.
    waiting: OrdMap<(u8, u32), JobId>,
    /// Every job of the block, for pruning once it is fully proven (except its root, which its
    /// range keeps).
    jobs: Vector<JobId>,
}

/// A range of blocks on its way to the L1 (rule 7), kept until it is wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    first: BlockNumber,
    /// Set when the range closes (its length reached, and a block with jobs in it).
    last: Option<BlockNumber>,
    /// Its blocks with jobs, in order: once closed, the leaves of its tree.
    blocks: Vector<BlockNumber>,
    /// Root jobs of its fully proven blocks.
    roots: OrdMap<BlockNumber, JobId>,
    /// Proven nodes of its tree whose sibling is not yet proven: (level, index) → job.
    waiting: OrdMap<(u8, u32), JobId>,
    /// Its jobs (the block roots, its aggregates, its wrap), for pruning once it is wrapped.
    jobs: Vector<JobId>,
}

#[derive(Debug, Clone)]
struct Data {
    jobs: OrdMap<JobId, Job>,
    next_job_id: JobId,
    open: OrdSet<JobId>,
    deadlines: OrdSet<(BlockNumber, JobId)>,
    trees: OrdMap<BlockNumber, BlockTree>,
    fully_proven_pending_prune: Vector<BlockNumber>,
    /// Ranges not yet wrapped, by first block; the last one may be open.
    ranges: OrdMap<BlockNumber, Range>,
    wrapped_pending_prune: Vector<BlockNumber>,
    accounts: Accounts,
    adaptive_level: Factor,
    active_count: u64,
    block: BlockNumber,
    dirty_plugins: OrdSet<PluginId>,
    dirty_jobs: OrdSet<JobId>,
}

/// What a market call did, for the chain to settle native balances: the market address never
/// keeps value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// `Err(reason)` if the call was refused (the tx's receipt then reports failure).
    pub result: Result<(), CallError>,
    /// Native wei to credit the sender: a withdrawal, or the refund of a refused call's value.
    pub credit_sender: U256,
}

/// Plugins by id, with an address index sorted for the assignment draw.
#[derive(Debug, Clone, Default)]
struct Plugins {
    list: Vec<Plugin>,
    index: BTreeMap<Address, PluginId>,
    sorted: Vec<(Address, PluginId)>,
    /// Open during a block: the length at its start and each touched plugin's original.
    journal: Option<(usize, BTreeMap<PluginId, Plugin>)>,
}

impl Plugins {
    fn get_mut(&mut self, id: PluginId) -> &mut Plugin {
        if let Some((_, originals)) = &mut self.journal {
            originals.entry(id).or_insert_with(|| self.list[id as usize].clone());
        }
        &mut self.list[id as usize]
    }

    fn push(&mut self, plugin: Plugin) -> PluginId {
        let id = PluginId::try_from(self.list.len()).expect("plugin ids fit u32");
        let position = self.sorted.partition_point(|(a, _)| *a < plugin.address);
        self.sorted.insert(position, (plugin.address, id));
        self.index.insert(plugin.address, id);
        self.list.push(plugin);
        id
    }

    fn revert(&mut self) {
        let (len, originals) = self.journal.take().expect("no plugin journal open");
        for (id, plugin) in originals {
            if (id as usize) < len {
                self.list[id as usize] = plugin;
            }
        }
        if self.list.len() > len {
            for plugin in self.list.drain(len..) {
                self.index.remove(&plugin.address);
            }
            self.sorted.retain(|(_, id)| (*id as usize) < len);
        }
    }
}

/// The proving market of one node.
#[derive(Debug, Clone)]
pub struct Market {
    params: MarketParams,
    plugins: Plugins,
    data: Data,
    snapshot: Option<Data>,
    plugin_tree: MerkleTree<Sha256>,
    job_tree: MerkleTree<Sha256>,
    events: Vec<MarketEvent>,
    root: B256,
    /// Wei the market may still mint (issuance and shortfall together): the chain's supply cap
    /// minus its genesis supply ([`Market::set_mint_room`]). Unlimited until set.
    mint_room_wei: u128,
    /// The L2 chain's id, bound by wrapped proofs ([`Market::set_chain_id`]).
    chain_id: u64,
    /// Deliberate bugs switched on by a test host ([`Market::set_test_bug`]).
    #[cfg(feature = "test-bugs")]
    test_bugs: Vec<zkcrowd_primitives::TestBug>,
}

impl Market {
    /// An empty market. Fails if the parameters break a rule (named in the error).
    pub fn new(params: MarketParams) -> Result<Self, String> {
        params.validate()?;
        let mut market = Self {
            params,
            plugins: Plugins::default(),
            data: Data {
                jobs: OrdMap::new(),
                next_job_id: 0,
                open: OrdSet::new(),
                deadlines: OrdSet::new(),
                trees: OrdMap::new(),
                fully_proven_pending_prune: Vector::new(),
                ranges: OrdMap::new(),
                wrapped_pending_prune: Vector::new(),
                accounts: Accounts::default(),
                adaptive_level: Factor::ONE,
                active_count: 0,
                block: 0,
                dirty_plugins: OrdSet::new(),
                dirty_jobs: OrdSet::new(),
            },
            snapshot: None,
            plugin_tree: MerkleTree::new(PLUGIN_TREE_DEPTH),
            job_tree: MerkleTree::new(JOB_TREE_DEPTH),
            events: Vec::new(),
            root: B256::ZERO,
            mint_room_wei: u128::MAX,
            chain_id: 0,
            #[cfg(feature = "test-bugs")]
            test_bugs: Vec::new(),
        };
        market.root = market.compute_root();
        Ok(market)
    }

    // ---------------------------------------------------------------- queries

    /// Caps what the market mints, issuance and shortfall together, at `room_wei` over its
    /// lifetime: the chain passes its supply cap minus the genesis supply, so no balance can ever
    /// reach the cap. At the cap, issuance stops and a reward the pool cannot cover is paid only as
    /// far as the pool goes.
    pub fn set_mint_room(&mut self, room_wei: u128) {
        self.mint_room_wei = room_wei;
    }

    /// Wei the market may still mint.
    /// Sets the chain id that wrapped proofs bind (the chain's genesis passes its own).
    pub fn set_chain_id(&mut self, chain_id: u64) {
        self.chain_id = chain_id;
    }

    /// The record a proof of wrap job `job` binds, if `job` is a live wrap job.
    pub fn wrap_record(&self, job: JobId) -> Option<WrapRecord> {
        match self.data.jobs.get(&job)?.kind {
            JobKind::Wrap { first, last, .. } => {
                Some(WrapRecord { chain_id: self.chain_id, first_block: first, last_block: last })
            }
            _ => None,
        }
    }

    fn mintable_wei(&self) -> u128 {
        let minted = self.data.accounts.issued.saturating_add(self.data.accounts.shortfall_minted);
        self.mint_room_wei.saturating_sub(minted)
    }

    /// **Test only**: switches on a deliberate bug (see [`zkcrowd_primitives::TestBug`]).
    #[cfg(feature = "test-bugs")]
    pub fn set_test_bug(&mut self, bug: zkcrowd_primitives::TestBug) {
        self.test_bugs.push(bug);
    }

    /// The parameters.
    pub fn params(&self) -> &MarketParams {
        &self.params
    }

    /// The market root after the last completed block.
    pub fn root(&self) -> B256 {
        self.root
    }

    /// The last block processed.
    pub fn block(&self) -> BlockNumber {
        self.data.block
    }

    /// Token flows.
    pub fn accounts(&self) -> Accounts {
        self.data.accounts
    }

    /// Sum of all plugin market balances.
    pub fn balances_total(&self) -> SignedZkpow {
        let total: i128 = self.plugins.list.iter().map(|p| p.balance.wei()).sum();
        SignedZkpow::from_wei(total)
    }

    /// Plugins in registration order.
    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.plugins.list.iter()
    }

    /// The plugin registered at `address`.
    pub fn plugin(&self, address: &Address) -> Option<&Plugin> {
        self.plugins.index.get(address).map(|&id| &self.plugins.list[id as usize])
    }

    /// A live job (jobs of fully proven blocks are pruned).
    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.data.jobs.get(&id)
    }

    /// Live jobs in id order.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.data.jobs.values()
    }

    /// Number of jobs ever created.
    pub fn jobs_created(&self) -> u64 {
        self.data.next_job_id
    }

    /// What a plugin deciding whether to take part sees of the market now ([`MarketQuote`]).
    pub fn quote(&self) -> MarketQuote {
        let block = self.data.block;
        let fresh = Job {
            id: self.data.next_job_id,
            kind: JobKind::Tx { block, index: 0 },
            pre_root: Digest::default(),
            post_root: Digest::default(),
            commitment: Digest::default(),
            created_block: block,
            status: JobStatus::Open,
            attempts: 0,
            failed_by: OrdSet::new(),
            last_failed: None,
            failed_commitment: B256::ZERO,
            node: (0, 0),
            real_required: false,
            gas_used: 0,
        };
        let oldest: Vec<u128> = self
            .data
            .open
            .iter()
            .take(QUOTE_OPEN_JOBS_MAX)
            .filter_map(|id| self.data.jobs.get(id))
            .map(|job| self.bounty(job, block).wei())
            .collect();
        MarketQuote {
            block,
            active_plugins: self.data.active_count,
            open_jobs: self.data.open.len() as u64,
            jobs_created: self.data.next_job_id,
            bounty_base_wei: self.params.bounty.base.wei(),
            bounty_fresh_wei: self.bounty(&fresh, block).wei(),
            bounty_open_mean_wei: (!oldest.is_empty()).then(|| oldest.iter().sum::<u128>() / oldest.len() as u128),
        }
    }

    /// The jobs currently assigned to `plugin` (scans assigned jobs only).
    pub fn assigned_to(&self, plugin: &Address) -> Vec<&Job> {
        let Some(&id) = self.plugins.index.get(plugin) else {
            return Vec::new();
        };
        self.data
            .deadlines
            .iter()
            .filter_map(|(_, job)| self.data.jobs.get(job))
            .filter(|job| matches!(job.status, JobStatus::Assigned { plugin, .. } if plugin == id))
            .collect()
    }

    /// Jobs waiting for an assignee.
    pub fn open_jobs(&self) -> usize {
        self.data.open.len()
    }

    /// Jobs assigned and not yet proven.
    pub fn assigned_jobs(&self) -> usize {
        self.data.deadlines.len()
    }

    /// Blocks not yet fully proven.
    pub fn unproven_blocks(&self) -> impl Iterator<Item = BlockNumber> + '_ {
        self.data.trees.keys().copied()
    }

    /// Active plugins at the last completed block.
    pub fn active_count(&self) -> u64 {
        self.data.active_count
    }

    /// The Taiko-style adaptive level (1 unless that curve is used).
    pub fn adaptive_level(&self) -> Factor {
        self.data.adaptive_level
    }

    /// Whether `plugin` is active at `block`: registered, not gone inactive, and heartbeated within
    /// the window.
    pub fn is_active(&self, plugin: &Plugin, block: BlockNumber) -> bool {
        !plugin.inactive && plugin.last_heartbeat_block + self.params.heartbeat_window_blocks >= block
    }

    /// The bounty a proof of `job` accepted at `block` would earn now.
    pub fn bounty(&self, job: &Job, block: BlockNumber) -> Zkpow {
        let bounty = &self.params.bounty;
        let aggregation = bounty.aggregation_base.unwrap_or(bounty.base);
        let base = match job.kind {
            JobKind::Aggregate { .. } | JobKind::RangeAggregate { .. } => aggregation,
            JobKind::Wrap { .. } => bounty.wrap_base.unwrap_or(aggregation),
            JobKind::Tx { .. } | JobKind::System { .. } => bounty.base,
        };
        let base = match self.params.gas_scaling {
            Some(scaling) => Zkpow::from_wei(base.wei() + scaling.bounty_extra_wei(job.gas_used)),
            None => base,
        };
        let age = block.saturating_sub(job.created_block);
        let factor = bounty.age.factor(age, self.data.adaptive_level).mul(bounty.supply.factor(self.data.active_count));
        factor.apply(base)
    }

    /// Events of the last completed block, taken by the caller.
    pub fn take_events(&mut self) -> Vec<MarketEvent> {
        std::mem::take(&mut self.events)
    }

    // ---------------------------------------------------------------- block lifecycle

    /// Opens block `number`: everything until [`Self::end_block`] can be undone by
    /// [`Self::revert_block`].
    ///
    /// # Panics
    /// If a block is already open or `number` does not follow the last block.
    pub fn begin_block(&mut self, number: BlockNumber) {
        assert!(self.snapshot.is_none(), "market block already open");
        assert_eq!(number, self.data.block + 1, "market blocks must be consecutive");
        self.snapshot = Some(self.data.clone());
        self.plugins.journal = Some((self.plugins.list.len(), BTreeMap::new()));
        self.plugin_tree.begin();
        self.job_tree.begin();
        self.events.clear();
        self.data.block = number;
    }

    /// Keeps the open block.
    pub fn commit_block(&mut self) {
        assert!(self.snapshot.take().is_some(), "no market block open");
        self.plugins.journal = None;
        self.plugin_tree.commit();
        self.job_tree.commit();
    }

    /// Undoes the open block.
    pub fn revert_block(&mut self) {
        self.data = self.snapshot.take().expect("no market block open");
        self.plugins.revert();
        self.plugin_tree.revert();
        self.job_tree.revert();
        self.events.clear();
        self.root = self.compute_root();
    }

    fn emit(&mut self, kind: EventKind) {
        self.events.push(MarketEvent { block: self.data.block, kind });
    }

    /// Applies a market call by `sender` carrying `value` wei, in the open block.
    pub fn apply_call(
        &mut self,
        sender: Address,
        input: &[u8],
        value: U256,
        verifier: &dyn ProofVerifier,
    ) -> CallOutcome {
        self.apply_call_with_sidecar(sender, input, value, None, verifier)
    }

    /// [`Self::apply_call`] for a tx with a sidecar: a proof submitted as [`ProofData::Sidecar`]
    /// is the sidecar's bytes, verified as a real proof. A sidecar on any other call is refused.
    pub fn apply_call_with_sidecar(
        &mut self,
        sender: Address,
        input: &[u8],
        value: U256,
        sidecar: Option<&[u8]>,
        verifier: &dyn ProofVerifier,
    ) -> CallOutcome {
        assert!(self.snapshot.is_some(), "market calls happen inside a block");
        let result = MarketCall::decode(input).map_err(CallError::Malformed).and_then(|call| {
            if !value.is_zero() && call != MarketCall::Repay {
                return Err(CallError::ValueNotAccepted);
            }
            let call = match (call, sidecar) {
                (MarketCall::SubmitProof { job_id, inputs, proof: ProofData::Sidecar }, Some(bytes)) => {
                    MarketCall::SubmitProof { job_id, inputs, proof: ProofData::Real(Bytes::copy_from_slice(bytes)) }
                }
                (_, Some(_)) => return Err(CallError::UnexpectedSidecar),
                (call, None) => call,
            };
            self.dispatch(sender, call, value, verifier)
        });
        match result {
            Ok(credit) => CallOutcome { result: Ok(()), credit_sender: credit },
            Err(reason) => {
                // A refused proof already has its own event (`ProofRejected`).
                if !matches!(reason, CallError::ProofRejected(_)) {
                    self.emit(EventKind::CallRejected { sender, reason: reason.clone() });
                }
                CallOutcome { result: Err(reason), credit_sender: value }
            }
        }
    }

    fn registered(&self, sender: &Address) -> Result<PluginId, CallError> {
        self.plugins.index.get(sender).copied().ok_or(CallError::NotRegistered { sender: *sender })
    }

    /// A plugin whose committed fields (heartbeat, activity, balance) change.
    fn plugin_mut(&mut self, id: PluginId) -> &mut Plugin {
        self.data.dirty_plugins.insert(id);
        self.plugins.get_mut(id)
    }

    /// A plugin whose derived counters (held, statistics) change: not part of its leaf.
    fn plugin_counters_mut(&mut self, id: PluginId) -> &mut Plugin {
        self.plugins.get_mut(id)
    }

    fn job_mut(&mut self, id: JobId) -> &mut Job {
        self.data.dirty_jobs.insert(id);
        self.data.jobs.get_mut(&id).expect("live job")
    }

    /// Returns the native credit for the sender.
    fn dispatch(
        &mut self,
        sender: Address,
        call: MarketCall,
        value: U256,
        verifier: &dyn ProofVerifier,
    ) -> Result<U256, CallError> {
        let block = self.data.block;
        match call {
            MarketCall::Register => {
                if self.plugins.index.contains_key(&sender) {
                    return Err(CallError::AlreadyRegistered { sender });
                }
                if self.plugins.list.len() as u64 >= 1 << PLUGIN_TREE_DEPTH {
                    return Err(CallError::RegistryFull);
                }
                let id = self.plugins.push(Plugin {
                    address: sender,
                    registered_block: block,
                    last_heartbeat_block: block,
                    inactive: false,
                    balance: SignedZkpow::ZERO,
                    held: 0,
                    proofs_accepted: 0,
                    jobs_missed: 0,
                    recent_misses: Vec::new(),
                    excluded_until_block: 0,
                });
                self.data.dirty_plugins.insert(id);
                self.emit(EventKind::Registered { plugin: sender });
                Ok(U256::ZERO)
            }
            MarketCall::Heartbeat => {
                let id = self.registered(&sender)?;
                let plugin = self.plugin_mut(id);
                plugin.last_heartbeat_block = block;
                plugin.inactive = false;
                self.emit(EventKind::Heartbeat { plugin: sender });
                Ok(U256::ZERO)
            }
            MarketCall::GoInactive => {
                let id = self.registered(&sender)?;
                if self.plugins.list[id as usize].inactive {
                    return Err(CallError::AlreadyInactive { sender });
                }
                let held: Vec<JobId> = self
                    .data
                    .jobs
                    .values()
                    .filter(|j| matches!(j.status, JobStatus::Assigned { plugin, .. } if plugin == id))
                    .map(|j| j.id)
                    .collect();
                // Charged while still active: abandoning work is a miss like any other.
                for job in &held {
                    self.miss(*job, MissReason::Abandoned, true);
                }
                self.plugin_mut(id).inactive = true;
                self.emit(EventKind::WentInactive {
                    plugin: sender,
                    jobs_abandoned: u32::try_from(held.len()).expect("held jobs fit u32"),
                });
                Ok(U256::ZERO)
            }
            MarketCall::Withdraw(amount) => {
                let id = self.registered(&sender)?;
                let amount = u128::try_from(amount).map_err(|_| CallError::AmountTooLarge)?;
                let balance = self.plugins.list[id as usize].balance;
                if amount == 0 {
                    return Err(CallError::ZeroWithdrawal);
                }
                if balance.wei() < 0 || (balance.wei() as u128) < amount {
                    return Err(CallError::InsufficientMarketBalance { balance, amount: Zkpow::from_wei(amount) });
                }
                let plugin = self.plugin_mut(id);
                plugin.balance = SignedZkpow::from_wei(balance.wei() - amount as i128);
                self.data.accounts.withdrawn += amount;
                self.emit(EventKind::Withdrawn { plugin: sender, amount: Zkpow::from_wei(amount) });
                Ok(U256::from(amount))
            }
            MarketCall::Repay => {
                let id = self.registered(&sender)?;
                let amount = u128::try_from(value).map_err(|_| CallError::AmountTooLarge)?;
                if amount == 0 {
                    return Err(CallError::ZeroRepayment);
                }
                let plugin = self.plugin_mut(id);
                plugin.balance = plugin
                    .balance
                    .checked_add(SignedZkpow::from_wei(amount as i128))
                    .ok_or(CallError::BalanceOverflow)?;
                self.data.accounts.repaid += amount;
                self.emit(EventKind::Repaid { plugin: sender, amount: Zkpow::from_wei(amount) });
                Ok(U256::ZERO)
            }
            MarketCall::SubmitProof { job_id, inputs, proof } => {
                match self.submit_proof(sender, job_id, inputs, proof, verifier) {
                    Ok(()) => Ok(U256::ZERO),
                    Err(reason) => {
                        self.emit(EventKind::ProofRejected { job: job_id, submitter: sender, reason: reason.clone() });
                        Err(CallError::ProofRejected(reason))
                    }
                }
            }
        }
    }

    fn submit_proof(
        &mut self,
        sender: Address,
        job_id: JobId,
        inputs: SubmittedInputs,
        proof: ProofData,
        verifier: &dyn ProofVerifier,
    ) -> Result<(), ProofRejection> {
        let block = self.data.block;
        let sender_id = self.plugins.index.get(&sender).copied().ok_or(ProofRejection::NotRegistered { sender })?;
        let job = self.data.jobs.get(&job_id).ok_or(ProofRejection::UnknownJob { job: job_id })?;
        if let JobStatus::Proven { .. } = job.status {
            return Err(ProofRejection::AlreadyProven { job: job_id });
        }
        if inputs.job_id != job_id {
            return Err(ProofRejection::WrongJob { job: job_id, named: inputs.job_id });
        }
        if inputs.prover != sender {
            return Err(ProofRejection::WrongProver { prover: inputs.prover, sender });
        }
        let expected = SubmittedInputs::from_statement(&job.statement(sender));
        for (input, got, want) in [
            (PublicInput::PreRoot, inputs.pre_root, expected.pre_root),
            (PublicInput::PostRoot, inputs.post_root, expected.post_root),
            (PublicInput::Commitment, inputs.commitment, expected.commitment),
        ] {
            if got != want {
                return Err(ProofRejection::WrongInput { input });
            }
        }
        let assigned_to_sender = matches!(job.status, JobStatus::Assigned { plugin, .. } if plugin == sender_id);
        let open_to_all = self.params.after_deadline == AfterDeadline::Open
            && job.last_failed.is_some()
            && self.is_active(&self.plugins.list[sender_id as usize], block);
        if !assigned_to_sender && !open_to_all {
            return Err(if job.failed_by.contains(&sender_id) {
                ProofRejection::Late { job: job_id }
            } else {
                ProofRejection::NotAssignee { job: job_id }
            });
        }
        let statement = job.statement(sender);
        if proof == ProofData::Sidecar {
            // The call says the proof travels beside the tx, and the tx came without it.
            return Err(ProofRejection::SidecarMissing);
        }
        let kind = match job.kind {
            JobKind::Wrap { first, last, .. } => {
                let record = WrapRecord { chain_id: self.chain_id, first_block: first, last_block: last };
                verifier.verify_wrap(&statement, &record, &proof)
            }
            _ => verifier.verify(&statement, &proof),
        }
        .map_err(ProofRejection::InvalidProof)?;
        if kind == ProofKind::Modeled && job.real_required {
            return Err(ProofRejection::ModeledNotAllowed { job: job_id });
        }

        // Accepted: release the assignment, pay, and move the block's tree forward.
        let job = self.data.jobs.get(&job_id).expect("checked").clone();
        match job.status {
            JobStatus::Assigned { plugin, deadline_block } => {
                self.data.deadlines.remove(&(deadline_block, job_id));
                self.plugin_counters_mut(plugin).held -= 1;
            }
            JobStatus::Open => {
                self.data.open.remove(&job_id);
            }
            JobStatus::Proven { .. } => unreachable!("checked above"),
        }
        let age = block - job.created_block;
        let bounty = self.bounty(&job, block);
        self.job_mut(job_id).status = JobStatus::Proven { prover: sender_id, block, proof: kind };
        self.emit(EventKind::ProofAccepted { job: job_id, prover: sender, proof: kind, age_blocks: age });
        self.pay(sender_id, job_id, bounty);
        self.data.adaptive_level = self.params.bounty.age.next_level(self.data.adaptive_level, age);
        self.plugin_counters_mut(sender_id).proofs_accepted += 1;
        self.on_proven(job_id);
        Ok(())
    }

    fn pay(&mut self, plugin: PluginId, job: JobId, amount: Zkpow) {
        // The deliberate bug pays the first registered plugin instead of the prover.
        #[cfg(feature = "test-bugs")]
        let plugin = if self.test_bugs.contains(&zkcrowd_primitives::TestBug::PayWrongPlugin) { 0 } else { plugin };
        // The pool pays; what it lacks is minted, up to the supply cap (past it, the reward is
        // what the pool and the remaining room cover).
        let mintable = self.mintable_wei();
        let accounts = &mut self.data.accounts;
        let shortfall = amount.wei().saturating_sub(accounts.pool).min(mintable);
        let amount = Zkpow::from_wei(amount.wei().min(accounts.pool + shortfall));
        if shortfall > 0 {
            accounts.shortfall_minted += shortfall;
            accounts.pool += shortfall;
        }
        accounts.pool -= amount.wei();
        accounts.rewards_paid += amount.wei();
        if shortfall > 0 {
            self.emit(EventKind::ShortfallMinted { amount: Zkpow::from_wei(shortfall) });
        }
        let address = self.plugins.list[plugin as usize].address;
        let entry = self.plugin_mut(plugin);
        entry.balance = entry.balance.checked_add(amount.to_signed()).expect("balance overflow");
        self.emit(EventKind::RewardPaid { plugin: address, job, amount });
    }

    /// Takes a job from its assignee without a proof: charge (if the assignee is active, which the
    /// assignment horizon guarantees at a deadline) and reopen it.
    fn miss(&mut self, job_id: JobId, reason: MissReason, charge: bool) {
        let job = self.data.jobs.get(&job_id).expect("live job").clone();
        let JobStatus::Assigned { plugin, deadline_block } = job.status else {
            unreachable!("only assigned jobs are missed");
        };
        self.data.deadlines.remove(&(deadline_block, job_id));
        let block = self.data.block;
        let address = self.plugins.list[plugin as usize].address;
        let active = self.is_active(&self.plugins.list[plugin as usize], block);
        {
            let entry = self.plugin_counters_mut(plugin);
            entry.held -= 1;
            entry.jobs_missed += 1;
        }
        self.emit(EventKind::JobMissed { job: job_id, plugin: address, attempt: job.attempts - 1, reason });
        if reason == MissReason::Deadline
            && let Some(policy) = self.params.exclusion
        {
            self.count_miss(plugin, policy);
        }
        if charge && active {
            let penalty = self.params.penalty;
            let entry = self.plugin_mut(plugin);
            entry.balance = entry.balance.checked_sub(penalty.to_signed()).expect("balance underflow");
            let balance = entry.balance;
            self.data.accounts.penalties_burned += penalty.wei();
            self.emit(EventKind::PenaltyCharged { plugin: address, job: job_id, amount: penalty, balance });
        }
        let entry = self.job_mut(job_id);
        entry.status = JobStatus::Open;
        entry.failed_by.insert(plugin);
        entry.last_failed = Some(plugin);
        entry.failed_commitment = fold_failure(entry.failed_commitment, plugin);
        self.data.open.insert(job_id);
    }

    /// Counts a deadline miss of `plugin` under the exclusion policy; at `misses` within the
    /// window the plugin is excluded from assignment for `exclude_blocks`.
    fn count_miss(&mut self, plugin: PluginId, policy: crate::ExclusionParams) {
        let block = self.data.block;
        let entry = self.plugin_mut(plugin);
        let oldest = block.saturating_sub(policy.window_blocks - 1);
        entry.recent_misses.retain(|&miss| miss >= oldest);
        entry.recent_misses.push(block);
        if entry.recent_misses.len() < policy.misses as usize {
            return;
        }
        entry.recent_misses.clear();
        let until = block + 1 + policy.exclude_blocks;
        entry.excluded_until_block = until;
        let address = entry.address;
        self.emit(EventKind::PluginExcluded { plugin: address, until_block: until });
    }

    fn create_job(
        &mut self,
        kind: JobKind,
        pre_root: Digest,
        post_root: Digest,
        commitment: Digest,
        node: (u8, u32),
        real_required: bool,
    ) -> JobId {
        let id = self.data.next_job_id;
        self.data.next_job_id += 1;
        let job = Job {
            id,
            kind,
            pre_root,
            post_root,
            commitment,
            created_block: self.data.block,
            status: JobStatus::Open,
            attempts: 0,
            failed_by: OrdSet::new(),
            last_failed: None,
            failed_commitment: B256::ZERO,
            node,
            real_required,
            gas_used: 0,
        };
        self.data.jobs.insert(id, job);
        self.data.open.insert(id);
        self.data.dirty_jobs.insert(id);
        if kind.is_range() {
            self.data.ranges.get_mut(&kind.block()).expect("a range job's range is live").jobs.push_back(id);
        } else if let Some(tree) = self.data.trees.get_mut(&kind.block()) {
            tree.jobs.push_back(id);
        }
        self.emit(EventKind::JobCreated { job: id, kind });
        id
    }

    /// Moves the job's block tree forward: promote a lone node, aggregate a proven pair, or mark
    /// the block fully proven at the root.
    fn on_proven(&mut self, job_id: JobId) {
        let job = self.data.jobs.get(&job_id).expect("live job").clone();
        match job.kind {
            JobKind::Tx { .. } | JobKind::System { .. } | JobKind::Aggregate { .. } => {}
            JobKind::RangeAggregate { first, .. } => return self.on_range_node(first, job.node, job_id),
            JobKind::Wrap { first, last, .. } => return self.on_wrapped(first, last, &job),
        }
        let block = job.kind.block();
        let (mut level, mut index) = job.node;
        let leaves = self.data.trees.get(&block).expect("tree of an unproven block").leaves;
        loop {
            let width = leaves.div_ceil(1 << level);
            if width == 1 {
                let tree = self.data.trees.get_mut(&block).expect("tree");
                tree.waiting.clear();
                // The root's proof is a leaf of the block's range: the range keeps it.
                tree.jobs.retain(|id| *id != job_id);
                self.data.fully_proven_pending_prune.push_back(block);
                self.emit(EventKind::BlockFullyProven { block_number: block, root_job: Some(job_id) });
                self.on_block_root(block, job_id);
                return;
            }
            let sibling = index ^ 1;
            if sibling >= width {
                // The last node of an odd level rises unchanged.
                level += 1;
                index /= 2;
                continue;
            }
            let tree = self.data.trees.get_mut(&block).expect("tree");
            let Some(sibling_job) = tree.waiting.remove(&(level, sibling)) else {
                tree.waiting.insert((level, index), job_id);
                return;
            };
            let (left, right) = if index < sibling { (job_id, sibling_job) } else { (sibling_job, job_id) };
            let left_job = self.data.jobs.get(&left).expect("live").clone();
            let right_job = self.data.jobs.get(&right).expect("live").clone();
            assert_eq!(left_job.post_root, right_job.pre_root, "adjacent spans must chain");
            let kind = JobKind::Aggregate { block, level: level + 1, left, right };
            let real_required =
                self.params.real_proofs.aggregate_requires_real(is_real(&left_job) && is_real(&right_job));
            self.create_job(
                kind,
                left_job.pre_root,
                right_job.post_root,
                combine_commitments(left_job.commitment, right_job.commitment),
                (level + 1, index / 2),
                real_required,
            );
            return;
        }
    }

    /// The range holding `block` (ranges are contiguous from block 1; the last may be open).
    fn range_of(&self, block: BlockNumber) -> BlockNumber {
        let (first, _) =
            self.data.ranges.range(..=block).next_back().expect("every block with jobs is in a live range");
        *first
    }

    /// Block `block` is fully proven by `root`: a leaf of its range's tree.
    fn on_block_root(&mut self, block: BlockNumber, root: JobId) {
        let first = self.range_of(block);
        let range = self.data.ranges.get_mut(&first).expect("live range");
        range.roots.insert(block, root);
        range.jobs.push_back(root);
        if range.last.is_some() {
            let index = range.blocks.index_of(&block).expect("a block with jobs is a leaf of its range");
            self.on_range_node(first, (0, index as u32), root);
        }
    }

    /// A proven node of range `first`'s tree: wait for its sibling, aggregate the pair, or, at the
    /// root, create the range's wrap job.
    fn on_range_node(&mut self, first: BlockNumber, node: (u8, u32), job_id: JobId) {
        let (mut level, mut index) = node;
        let range = self.data.ranges.get(&first).expect("live range");
        let last = range.last.expect("only a closed range's tree grows");
        let leaves = range.blocks.len() as u32;
        loop {
            let width = leaves.div_ceil(1 << level);
            if width == 1 {
                self.data.ranges.get_mut(&first).expect("live range").waiting.clear();
                let root = self.data.jobs.get(&job_id).expect("live").clone();
                let real_required = self.params.real_proofs.aggregate_requires_real(is_real(&root));
                self.create_job(
                    JobKind::Wrap { first, last, root: job_id },
                    root.pre_root,
                    root.post_root,
                    root.commitment,
                    (0, 0),
                    real_required,
                );
                return;
            }
            let sibling = index ^ 1;
            if sibling >= width {
                level += 1;
                index /= 2;
                continue;
            }
            let range = self.data.ranges.get_mut(&first).expect("live range");
            let Some(sibling_job) = range.waiting.remove(&(level, sibling)) else {
                range.waiting.insert((level, index), job_id);
                return;
            };
            let (left, right) = if index < sibling { (job_id, sibling_job) } else { (sibling_job, job_id) };
            let left_job = self.data.jobs.get(&left).expect("live").clone();
            let right_job = self.data.jobs.get(&right).expect("live").clone();
            if left_job.post_root != right_job.pre_root {
                // The ledger changed between two blocks outside every job (no honest chain does
                // that): no proof can cover the range, so it is never aggregated or wrapped, and
                // the L1 stops before it. Said once, in an event.
                self.emit(EventKind::RangeUnprovable {
                    first_block: first,
                    left_job: left,
                    right_job: right,
                    left_post_root: digest_to_b256(left_job.post_root),
                    right_pre_root: digest_to_b256(right_job.pre_root),
                });
                return;
            }
            let real_required =
                self.params.real_proofs.aggregate_requires_real(is_real(&left_job) && is_real(&right_job));
            self.create_job(
                JobKind::RangeAggregate { first, level: level + 1, left, right },
                left_job.pre_root,
                right_job.post_root,
                combine_commitments(left_job.commitment, right_job.commitment),
                (level + 1, index / 2),
                real_required,
            );
            return;
        }
    }

    /// A range's wrap is proven: it is ready for the L1.
    fn on_wrapped(&mut self, first: BlockNumber, last: BlockNumber, job: &Job) {
        let JobStatus::Proven { prover, proof, .. } = self.data.jobs.get(&job.id).expect("live").status else {
            unreachable!("called once the job is proven");
        };
        let prover = self.plugins.list[prover as usize].address;
        self.data.wrapped_pending_prune.push_back(first);
        self.emit(EventKind::RangeWrapped {
            first_block: first,
            last_block: last,
            job: job.id,
            prover,
            pre_root: digest_to_b256(job.pre_root),
            post_root: digest_to_b256(job.post_root),
            commitment: digest_to_b256(job.commitment),
            proof,
        });
    }

    /// Block `block` (just ended, `has_jobs` or not) joins the open range, which closes once it
    /// spans `wrap_range_blocks` and holds a block with jobs; the roots its blocks already have
    /// then enter its tree.
    fn extend_range(&mut self, block: BlockNumber, has_jobs: bool) {
        let open = self.data.ranges.iter().next_back().filter(|(_, r)| r.last.is_none()).map(|(first, _)| *first);
        let first = open.unwrap_or_else(|| {
            let range = Range {
                first: block,
                last: None,
                blocks: Vector::new(),
                roots: OrdMap::new(),
                waiting: OrdMap::new(),
                jobs: Vector::new(),
            };
            self.data.ranges.insert(block, range);
            block
        });
        let range_blocks = self.params.wrap_range_blocks;
        let range = self.data.ranges.get_mut(&first).expect("live range");
        if has_jobs {
            range.blocks.push_back(block);
        }
        if block + 1 - range.first < range_blocks || range.blocks.is_empty() {
            return;
        }
        range.last = Some(block);
        let proven: Vec<(u32, JobId)> = range
            .blocks
            .iter()
            .enumerate()
            .filter_map(|(i, b)| range.roots.get(b).map(|root| (i as u32, *root)))
            .collect();
        for (index, root) in proven {
            self.on_range_node(first, (0, index), root);
        }
    }

    /// Ends block `number`: creates its jobs, funds the pool, charges missed deadlines, assigns
    /// open jobs, and computes the market root. `parent_hash` seeds the assignment draw.
    pub fn end_block(&mut self, parent_hash: B256, fees_wei: u128, new_jobs: &[NewJob]) -> B256 {
        assert!(self.snapshot.is_some(), "no market block open");
        let block = self.data.block;

        // 1. This block's jobs: leaves of a fresh tree.
        let leaves = u32::try_from(new_jobs.len()).expect("jobs per block fit u32");
        self.data.trees.insert(block, BlockTree { leaves, waiting: OrdMap::new(), jobs: Vector::new() });
        for (i, job) in new_jobs.iter().enumerate() {
            debug_assert_eq!(job.kind.block(), block);
            debug_assert!(!matches!(job.kind, JobKind::Aggregate { .. }));
            let real_required = self.params.real_proofs.leaf_requires_real(self.data.next_job_id, job.has_circuit);
            let id =
                self.create_job(job.kind, job.pre_root, job.post_root, job.commitment, (0, i as u32), real_required);
            if matches!(job.kind, JobKind::Tx { .. }) {
                self.job_mut(id).gas_used = job.gas_used;
            }
        }
        if leaves == 0 {
            self.data.fully_proven_pending_prune.push_back(block);
            self.emit(EventKind::BlockFullyProven { block_number: block, root_job: None });
        }
        self.extend_range(block, leaves > 0);

        // 2. Funding.
        let fees = self.params.funding.fee_share.apply(Zkpow::from_wei(fees_wei));
        let issuance = Zkpow::from_wei(self.params.funding.issuance_per_block.wei().min(self.mintable_wei()));
        let accounts = &mut self.data.accounts;
        accounts.issued += issuance.wei();
        accounts.fees_recycled += fees.wei();
        accounts.pool += issuance.wei() + fees.wei();
        let pool = Zkpow::from_wei(accounts.pool);
        self.emit(EventKind::PoolFunded { issuance, fees, pool });

        // 3. Missed deadlines (the last block in which a proof counted was `deadline_block`).
        let expired: Vec<JobId> =
            self.data.deadlines.iter().take_while(|(deadline, _)| *deadline <= block).map(|(_, job)| *job).collect();
        for job in expired {
            self.miss(job, MissReason::Deadline, true);
        }

        // 4. Activity, then assignment.
        self.data.active_count = self.plugins.list.iter().filter(|p| self.is_active(p, block)).count() as u64;
        self.assign(parent_hash);

        // 5. Commitments; then forget the jobs of fully proven blocks (their leaves stay).
        self.flush_leaves();
        for proven in std::mem::take(&mut self.data.fully_proven_pending_prune) {
            if let Some(tree) = self.data.trees.remove(&proven) {
                for job in tree.jobs {
                    self.data.jobs.remove(&job);
                }
            }
        }
        for wrapped in std::mem::take(&mut self.data.wrapped_pending_prune) {
            if let Some(range) = self.data.ranges.remove(&wrapped) {
                for job in range.jobs {
                    self.data.jobs.remove(&job);
                }
            }
        }
        self.root = self.compute_root();
        self.root
    }

    /// Assigns every open job (in id order) to an eligible plugin drawn uniformly at random from the
    /// address-sorted eligible set, excluding plugins that missed it (and any that filled up during
    /// this assignment round). Eligible: not gone inactive, market balance at or above `debt_limit`,
    /// fewer than `jobs_per_plugin_max` jobs, and a last heartbeat recent enough to stay active until
    /// the job's deadline.
    ///
    /// The draw is rejection sampling on a hash chain: `r0 = keccak256(parent_hash ‖ job_id ‖
    /// attempt)`, `r(i+1) = keccak256(r(i))`; candidate `r(i) mod n` (first 16 bytes, big-endian) of the
    /// `n` eligible plugins is taken unless excluded. This is exactly uniform over the candidates and
    /// costs O(1) draws while exclusions are few; after [`REDRAWS_MAX`] rejections the candidates are
    /// listed and the last draw picks among them. Every validator computes the same assignment.
    fn assign(&mut self, parent_hash: B256) {
        let block = self.data.block;
        let deadline = block + self.params.proof_deadline_blocks;
        let horizon = deadline.saturating_sub(self.params.heartbeat_window_blocks);
        let jobs_max = self.params.jobs_per_plugin_max;
        let debt_limit = self.params.debt_limit;
        let eligible: Vec<(Address, PluginId)> = self
            .plugins
            .sorted
            .iter()
            .filter(|(_, id)| {
                let p = &self.plugins.list[*id as usize];
                !p.inactive
                    && p.last_heartbeat_block >= horizon
                    && p.balance >= debt_limit
                    && p.held < jobs_max
                    && block >= p.excluded_until_block
            })
            .copied()
            .collect();
        if eligible.is_empty() {
            return;
        }
        // Free places among the eligible: once none is left no open job can be assigned (every
        // candidate is full), so the remaining jobs are left open without drawing for each. In a
        // backlog (thousands of open jobs, every plugin full) the draws and fallback scans cost
        // every validator O(open jobs × eligible) per block, which is what slowed floods down.
        let mut free: u64 = eligible
            .iter()
            .map(|(_, id)| u64::from(jobs_max.saturating_sub(self.plugins.list[*id as usize].held)))
            .sum();
        let open: Vec<JobId> = self.data.open.iter().copied().collect();
        for job_id in open {
            if free == 0 {
                break;
            }
            let job = self.data.jobs.get(&job_id).expect("open job is live");
            let attempt = job.attempts;
            let gas_used = job.gas_used;
            let failed_by = job.failed_by.clone();
            let last_failed = job.last_failed;
            let plugins = &self.plugins.list;
            let excluded = |id: PluginId, strict: bool| {
                plugins[id as usize].held >= jobs_max || Some(id) == last_failed || (strict && failed_by.contains(&id))
            };
            let mut pick = None;
            let mut seed = draw_seed(parent_hash, job_id, attempt);
            for _ in 0..REDRAWS_MAX {
                let candidate = eligible[(seed_value(seed) % eligible.len() as u128) as usize];
                if !excluded(candidate.1, true) {
                    pick = Some(candidate);
                    break;
                }
                seed = keccak256(seed);
            }
            if pick.is_none() {
                let mut candidates: Vec<(Address, PluginId)> =
                    eligible.iter().copied().filter(|(_, id)| !excluded(*id, true)).collect();
                let mut reset = false;
                if candidates.is_empty() {
                    // Everyone eligible has missed it: start over, except the most recent.
                    candidates = eligible.iter().copied().filter(|(_, id)| !excluded(*id, false)).collect();
                    reset = true;
                }
                if let Some(&chosen) = candidates.get((seed_value(seed) % candidates.len().max(1) as u128) as usize) {
                    pick = Some(chosen);
                    if reset {
                        let entry = self.job_mut(job_id);
                        entry.failed_by = last_failed.into_iter().collect();
                        entry.failed_commitment =
                            last_failed.map_or(B256::ZERO, |plugin| fold_failure(B256::ZERO, plugin));
                    }
                }
            }
            let Some((address, plugin)) = pick else { continue };
            let deadline =
                deadline + self.params.gas_scaling.map_or(0, |scaling| scaling.deadline_extra_blocks(gas_used));
            {
                let entry = self.job_mut(job_id);
                entry.status = JobStatus::Assigned { plugin, deadline_block: deadline };
                entry.attempts += 1;
            }
            self.data.open.remove(&job_id);
            self.data.deadlines.insert((deadline, job_id));
            self.plugin_counters_mut(plugin).held += 1;
            free -= 1;
            self.emit(EventKind::JobAssigned { job: job_id, plugin: address, attempt, deadline_block: deadline });
        }
    }

    fn flush_leaves(&mut self) {
        for id in std::mem::take(&mut self.data.dirty_plugins) {
            let digest = plugin_digest(&self.plugins.list[id as usize]);
            if u64::from(id) < self.plugin_tree.len() {
                self.plugin_tree.set(u64::from(id), digest);
            } else {
                let index = self.plugin_tree.push(digest).expect("registry size checked at register");
                debug_assert_eq!(index, u64::from(id));
            }
        }
        for id in std::mem::take(&mut self.data.dirty_jobs) {
            let digest = job_digest(self.data.jobs.get(&id).expect("dirty jobs are live"));
            if id < self.job_tree.len() {
                self.job_tree.set(id, digest);
            } else {
                let index = self.job_tree.push(digest).expect("2^40 jobs");
                debug_assert_eq!(index, id);
            }
        }
    }

    fn compute_root(&mut self) -> B256 {
        let a = &self.data.accounts;
        let mut preimage = Vec::with_capacity(64 + 8 * 16 + 40);
        preimage.extend_from_slice(self.plugin_tree.root().as_slice());
        preimage.extend_from_slice(self.job_tree.root().as_slice());
        for value in [
            a.pool,
            a.issued,
            a.shortfall_minted,
            a.fees_recycled,
            a.penalties_burned,
            a.rewards_paid,
            a.withdrawn,
            a.repaid,
        ] {
            preimage.extend_from_slice(&value.to_be_bytes());
        }
        preimage.extend_from_slice(&self.data.next_job_id.to_be_bytes());
        preimage.extend_from_slice(&self.data.adaptive_level.ppm().to_be_bytes());
        preimage.extend_from_slice(&self.data.active_count.to_be_bytes());
        preimage.extend_from_slice(&self.data.block.to_be_bytes());
        sha256(&preimage)
    }
}

/// The first draw for a job: `keccak256(parent_hash ‖ job_id ‖ attempt)`.
fn draw_seed(parent_hash: B256, job_id: JobId, attempt: u32) -> B256 {
    let mut preimage = [0u8; 44];
    preimage[..32].copy_from_slice(parent_hash.as_slice());
    preimage[32..40].copy_from_slice(&job_id.to_be_bytes());
    preimage[40..].copy_from_slice(&attempt.to_be_bytes());
    keccak256(preimage)
}

fn seed_value(seed: B256) -> u128 {
    u128::from_be_bytes(seed[..16].try_into().expect("16 bytes"))
}

/// The first draw for a job as a number: the first 16 bytes of
/// `keccak256(parent_hash ‖ job_id ‖ attempt)`, big-endian.
pub fn draw(parent_hash: B256, job_id: JobId, attempt: u32) -> u128 {
    seed_value(draw_seed(parent_hash, job_id, attempt))
}

/// A plugin's leaf: the fields transitions depend on. `held` is derived from the job statuses and
/// the statistics never affect a transition, so neither is committed here.
fn plugin_digest(p: &Plugin) -> B256 {
    let mut preimage = Vec::with_capacity(20 + 8 + 8 + 1 + 16 + 8 + 8 * p.recent_misses.len());
    preimage.extend_from_slice(p.address.as_slice());
    preimage.extend_from_slice(&p.registered_block.to_be_bytes());
    preimage.extend_from_slice(&p.last_heartbeat_block.to_be_bytes());
    preimage.push(u8::from(p.inactive));
    preimage.extend_from_slice(&p.balance.wei().to_be_bytes());
    preimage.extend_from_slice(&p.excluded_until_block.to_be_bytes());
    for miss in &p.recent_misses {
        preimage.extend_from_slice(&miss.to_be_bytes());
    }
    sha256(&preimage)
}

fn job_digest(job: &Job) -> B256 {
    let mut preimage = Vec::with_capacity(256);
    preimage.extend_from_slice(&job.id.to_be_bytes());
    match job.kind {
        JobKind::Tx { block, index } => {
            preimage.push(0);
            preimage.extend_from_slice(&block.to_be_bytes());
            preimage.extend_from_slice(&index.to_be_bytes());
        }
        JobKind::System { block, txs } => {
            preimage.push(1);
            preimage.extend_from_slice(&block.to_be_bytes());
            preimage.extend_from_slice(&txs.to_be_bytes());
        }
        JobKind::Aggregate { block, level, left, right } => {
            preimage.push(2);
            preimage.extend_from_slice(&block.to_be_bytes());
            preimage.push(level);
            preimage.extend_from_slice(&left.to_be_bytes());
            preimage.extend_from_slice(&right.to_be_bytes());
        }
        JobKind::RangeAggregate { first, level, left, right } => {
            preimage.push(3);
            preimage.extend_from_slice(&first.to_be_bytes());
            preimage.push(level);
            preimage.extend_from_slice(&left.to_be_bytes());
            preimage.extend_from_slice(&right.to_be_bytes());
        }
        JobKind::Wrap { first, last, root } => {
            preimage.push(4);
            preimage.extend_from_slice(&first.to_be_bytes());
            preimage.extend_from_slice(&last.to_be_bytes());
            preimage.extend_from_slice(&root.to_be_bytes());
        }
    }
    for digest in [job.pre_root, job.post_root, job.commitment] {
        preimage.extend_from_slice(digest_to_b256(digest).as_slice());
    }
    preimage.extend_from_slice(&job.created_block.to_be_bytes());
    preimage.push(u8::from(job.real_required));
    preimage.extend_from_slice(&job.gas_used.to_be_bytes());
    match job.status {
        JobStatus::Open => preimage.push(0),
        JobStatus::Assigned { plugin, deadline_block } => {
            preimage.push(1);
            preimage.extend_from_slice(&plugin.to_be_bytes());
            preimage.extend_from_slice(&deadline_block.to_be_bytes());
        }
        JobStatus::Proven { prover, block, proof } => {
            preimage.push(2);
            preimage.extend_from_slice(&prover.to_be_bytes());
            preimage.extend_from_slice(&block.to_be_bytes());
            preimage.push(u8::from(proof == ProofKind::Real));
        }
    }
    preimage.extend_from_slice(&job.attempts.to_be_bytes());
    preimage.extend_from_slice(job.failed_commitment.as_slice());
    preimage.extend_from_slice(&job.last_failed.map_or(u32::MAX, |p| p).to_be_bytes());
    sha256(&preimage)
}

/// Whether `job` was proven by a real proof.
fn is_real(job: &Job) -> bool {
    matches!(job.status, JobStatus::Proven { proof: ProofKind::Real, .. })
}

fn fold_failure(previous: B256, plugin: PluginId) -> B256 {
    let mut preimage = [0u8; 36];
    preimage[..32].copy_from_slice(previous.as_slice());
    preimage[32..].copy_from_slice(&plugin.to_be_bytes());
    sha256(&preimage)
}
