//! The inputs of real proofs, kept by a validator that serves witnesses
//! ([`crate::NodeParams::serve_witnesses`]): for each live leaf job, the ledger writes of its
//! transactions (recorded by the chain as it executed them); for each live aggregate whose children
//! were both proven for real, the children's accepted proof bytes (taken from the block sidecars);
//! for each live wrap job, its range's root proof.
//! Entries leave when their job is proven (or, for accepted proofs, when their block is fully
//! proven), so the maps are bounded by the market's live jobs; nothing a peer sends adds to them
//! except through committed blocks.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::consensus::Transaction;
use alloy::primitives::Bytes;
use zkcrowd_chain::{BlockOutcome, TxKind, TxRecord};
use zkcrowd_ledger::b256_to_digest;
use zkcrowd_market::{EventKind, JobId, JobKind, MarketCall, tx_commitment};
use zkcrowd_primitives::BlockNumber;
use zkcrowd_protocol::{CallInputs, JobInputs};

/// What a job belongs to, for forgetting its proof: a block (until the block is fully proven; its
/// root's proof then waits for its range), or a range (until the range is wrapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Block(BlockNumber),
    Range(BlockNumber),
}

impl Scope {
    fn of(kind: &JobKind) -> Self {
        if kind.is_range() { Self::Range(kind.block()) } else { Self::Block(kind.block()) }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Witnesses {
    /// Inputs of live jobs.
    pub(crate) inputs: BTreeMap<JobId, Arc<JobInputs>>,
    /// Accepted real proofs waiting for their parent aggregate (or wrap), with what they belong to.
    proofs: BTreeMap<JobId, (Scope, Bytes)>,
    /// What every unproven job belongs to.
    job_scopes: BTreeMap<JobId, Scope>,
}

/// Whether the record's commitment binds its ledger effect (not just its hash): only those txs
/// have a circuit.
fn proves_effect(record: &TxRecord) -> bool {
    b256_to_digest(record.commitment) != Some(tx_commitment(record.hash))
}

fn transfer_inputs(record: &TxRecord) -> Option<JobInputs> {
    if record.kind != TxKind::Transfer || !proves_effect(record) {
        return None;
    }
    let writes: [_; 2] = record.ledger_writes.clone().try_into().ok()?;
    Some(JobInputs::Transfer {
        tx_hash: record.hash,
        value_wei: u128::try_from(record.value).ok()?,
        fee_wei: record.fee_wei,
        writes,
    })
}

fn span_inputs(records: &[&TxRecord]) -> Option<JobInputs> {
    let calls = records
        .iter()
        .map(|record| {
            let [write] = &record.ledger_writes[..] else { return None };
            if !proves_effect(record) {
                return None;
            }
            let before = write.before?.balance;
            let after = write.after.balance;
            Some(CallInputs {
                tx_hash: record.hash,
                debit_wei: before.saturating_sub(after),
                credit_wei: after.saturating_sub(before),
                write: write.clone(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(JobInputs::Span { calls })
}

impl Witnesses {
    /// Updates the inputs after a committed block (whose records carry ledger writes).
    pub(crate) fn after_commit(&mut self, outcome: &BlockOutcome, span_max: usize, chain_id: u64) {
        // Real proofs this block accepted: the sidecars of successful submissions.
        for sidecar in &outcome.block.sidecars {
            let index = sidecar.index as usize;
            let (Some(envelope), Some(record)) = (outcome.block.transactions.get(index), outcome.txs.get(index)) else {
                continue;
            };
            if let (true, Ok(MarketCall::SubmitProof { job_id, .. })) =
                (record.success, MarketCall::decode(envelope.input()))
                && let Some(scope) = self.job_scopes.get(&job_id)
            {
                self.proofs.insert(job_id, (*scope, sidecar.bytes.clone()));
            }
        }
        let system: Vec<&TxRecord> = outcome.txs.iter().filter(|r| r.kind == TxKind::System).collect();
        let mut spans = system.chunks(span_max.max(1));
        for event in &outcome.market_events {
            match &event.kind {
                EventKind::JobCreated { job, kind } => {
                    self.job_scopes.insert(*job, Scope::of(kind));
                    let inputs = match kind {
                        JobKind::Tx { index, .. } => outcome.txs.get(*index as usize).and_then(transfer_inputs),
                        JobKind::System { .. } => spans.next().and_then(span_inputs),
                        JobKind::Aggregate { left, right, .. } | JobKind::RangeAggregate { left, right, .. } => {
                            let left = self.proofs.remove(left);
                            let right = self.proofs.remove(right);
                            match (left, right) {
                                (Some((_, left)), Some((_, right))) => Some(JobInputs::Aggregate { left, right }),
                                _ => None,
                            }
                        }
                        JobKind::Wrap { first, last, root } => self.proofs.remove(root).map(|(_, root)| {
                            JobInputs::Wrap { root, chain_id, first_block: *first, last_block: *last }
                        }),
                    };
                    if let Some(inputs) = inputs {
                        self.inputs.insert(*job, Arc::new(inputs));
                    }
                }
                EventKind::ProofAccepted { job, .. } => {
                    self.inputs.remove(job);
                    self.job_scopes.remove(job);
                }
                EventKind::BlockFullyProven { block_number, root_job } => {
                    // Only the root's proof has a parent left to wait for: in the block's range.
                    let block = Scope::Block(*block_number);
                    self.proofs.retain(|job, (scope, _)| *scope != block || Some(*job) == *root_job);
                }
                EventKind::RangeWrapped { first_block, .. } => {
                    // The wrapped proof is the L1's, not an input of another job; nothing of the
                    // range waits any more.
                    let range = Scope::Range(*first_block);
                    self.proofs.retain(|_, (scope, _)| *scope != range);
                }
                _ => {}
            }
        }
    }
}
