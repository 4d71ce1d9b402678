//! Which committed blocks are fully proven, as this validator's own chain says: what its L1
//! submission agent posts (docs/protocol.md §1, steps 9-10).
//!
//! Fed by every commit (decided or synced, see [`crate::Node`]): a block enters as unproven with
//! its roots; a `BlockFullyProven` market event (in the same block or a later one) marks it proven,
//! with the prover of its root job (the aggregator) from the `ProofAccepted` event of the same
//! block. The contiguous proven prefix is the node's fully proven head.
//!
//! What the agent posts are **wrapped ranges** (`RangeWrapped` events, the market's rule 7): each
//! with its roots, commitment, prover and the wrapped proof (the accepted sidecar of the wrap job's
//! submission; none for a modeled one), kept from the node's start until the L1 no longer needs
//! them (bounded like the blocks).

use std::collections::BTreeMap;

use alloy::consensus::Transaction as _;
use alloy::primitives::{Address, B256, Bytes};
use zkcrowd_chain::BlockOutcome;
use zkcrowd_market::{EventKind, MarketCall, ProofKind};
use zkcrowd_primitives::BlockNumber;

/// Blocks kept (proven or not) beyond the fully proven head. A block that waits longer than this
/// many blocks for its proof is forgotten here (the chain still has it); at 2 s blocks this is
/// about 36 hours of backlog, about 10 MB.
pub const PROVEN_RECORDS_MAX: usize = 65_536;

/// What the L1 needs to know about a fully proven block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenRecord {
    /// Height.
    pub number: BlockNumber,
    /// Ledger root before the block (the previous block's).
    pub pre_root: B256,
    /// Ledger root after the block.
    pub post_root: B256,
    /// The block's transactions root.
    pub transactions_root: B256,
    /// The prover of the block's root proof (none for a block without jobs).
    pub aggregator: Option<Address>,
}

/// A range of blocks wrapped for the L1: what `Rollup.submitRange` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedRange {
    /// Its first block.
    pub first_block: BlockNumber,
    /// Its last block.
    pub last_block: BlockNumber,
    /// Ledger root before it.
    pub pre_root: B256,
    /// Ledger root after it.
    pub post_root: B256,
    /// Commitment to its transactions.
    pub commitment: B256,
    /// The wrap job's prover, bound by the proof.
    pub prover: Address,
    /// The wrapped proof as the L1 verifier takes it (`None`: modeled, the record stands in).
    pub proof: Option<Bytes>,
}

/// The tracker (see the module documentation).
#[derive(Debug, Clone)]
pub struct ProvenBlocks {
    /// Committed blocks above the fully proven head, with whether they are proven.
    records: BTreeMap<BlockNumber, (ProvenRecord, bool)>,
    /// Blocks at or below it are all proven (and dropped from `records`).
    head: BlockNumber,
    /// The ledger root of the last committed block.
    last_root: B256,
    /// Proven blocks below the head that the agent may still need, oldest first dropped.
    below_head: BTreeMap<BlockNumber, ProvenRecord>,
    /// Wrapped ranges by first block, oldest first dropped.
    ranges: BTreeMap<BlockNumber, WrappedRange>,
}

impl ProvenBlocks {
    /// A tracker for a chain whose head is `number` with ledger root `root` (blocks up to it are
    /// taken as proven: a restarted node does not re-learn its history here).
    pub fn new(number: BlockNumber, root: B256) -> Self {
        Self {
            records: BTreeMap::new(),
            head: number,
            last_root: root,
            below_head: BTreeMap::new(),
            ranges: BTreeMap::new(),
        }
    }

    /// Records a committed block and the proofs it settled.
    pub fn after_commit(&mut self, outcome: &BlockOutcome) {
        let header = &outcome.block.header;
        let record = ProvenRecord {
            number: header.number,
            pre_root: self.last_root,
            post_root: header.ledger_root,
            transactions_root: header.transactions_root,
            aggregator: None,
        };
        self.last_root = header.ledger_root;
        self.records.insert(header.number, (record, false));
        let mut provers = BTreeMap::new();
        for event in &outcome.market_events {
            match &event.kind {
                EventKind::ProofAccepted { job, prover, .. } => {
                    provers.insert(*job, *prover);
                }
                EventKind::BlockFullyProven { block_number, root_job } => {
                    if let Some((record, proven)) = self.records.get_mut(block_number) {
                        record.aggregator = root_job.and_then(|job| provers.get(&job).copied());
                        *proven = true;
                    }
                }
                EventKind::RangeWrapped {
                    first_block,
                    last_block,
                    job,
                    prover,
                    pre_root,
                    post_root,
                    commitment,
                    proof,
                } => {
                    let proof = match proof {
                        ProofKind::Real => wrap_sidecar(outcome, *job),
                        ProofKind::Modeled => None,
                    };
                    let range = WrappedRange {
                        first_block: *first_block,
                        last_block: *last_block,
                        pre_root: *pre_root,
                        post_root: *post_root,
                        commitment: *commitment,
                        prover: *prover,
                        proof,
                    };
                    self.ranges.insert(*first_block, range);
                }
                _ => {}
            }
        }
        while self.ranges.len() > PROVEN_RECORDS_MAX {
            self.ranges.pop_first();
        }
        while let Some((record, true)) = self.records.get(&(self.head + 1)).copied() {
            self.records.remove(&record.number);
            self.below_head.insert(record.number, record);
            self.head = record.number;
        }
        while self.below_head.len() > PROVEN_RECORDS_MAX {
            self.below_head.pop_first();
        }
        while self.records.len() > PROVEN_RECORDS_MAX {
            self.records.pop_first();
        }
    }

    /// Wrapped ranges after block `after`, contiguous (the first starts at `after + 1`), at most
    /// `max`.
    pub fn ranges_after(&self, after: BlockNumber, max: usize) -> Vec<WrappedRange> {
        let mut next = after + 1;
        let mut out = Vec::new();
        while out.len() < max
            && let Some(range) = self.ranges.get(&next)
        {
            next = range.last_block + 1;
            out.push(range.clone());
        }
        out
    }

    /// The last block of the contiguous run of fully proven blocks.
    pub fn head(&self) -> BlockNumber {
        self.head
    }

    /// Fully proven blocks after `after`, contiguous, at most `max`.
    pub fn after(&self, after: BlockNumber, max: usize) -> Vec<ProvenRecord> {
        self.below_head
            .range(after + 1..)
            .map(|(_, r)| *r)
            .take_while({
                let mut next = after + 1;
                move |r| {
                    let contiguous = r.number == next;
                    next += 1;
                    contiguous
                }
            })
            .take(max)
            .collect()
    }
}

/// The sidecar (the real proof) of the successful `submitProof` of `job` in this block.
fn wrap_sidecar(outcome: &BlockOutcome, job: zkcrowd_market::JobId) -> Option<Bytes> {
    outcome.block.sidecars.iter().find_map(|sidecar| {
        let index = sidecar.index as usize;
        let (envelope, record) = (outcome.block.transactions.get(index)?, outcome.txs.get(index)?);
        match MarketCall::decode(envelope.input()) {
            Ok(MarketCall::SubmitProof { job_id, .. }) if record.success && job_id == job => {
                Some(sidecar.bytes.clone())
            }
            _ => None,
        }
    })
}
