//! What a prover needs besides the statement: the ledger writes of the covered transactions, with
//! their Merkle paths, and the transaction fields the commitment binds.
//!
//! Each witness computes its [`Statement`] natively and refuses an inconsistent witness with a
//! [`WitnessError`] naming what is wrong. The circuits enforce the same rules; the native check
//! exists so that an honest prover learns *why* before spending a second on a proof that cannot
//! exist.

use alloy::primitives::{Address, B256};
use plonky2::hash::hash_types::HashOut;
use zkcrowd_ledger::{ACCOUNT_TREE_DEPTH, AccountLeaf, Digest, LeafWrite};
use zkcrowd_market::{Statement, call_commitment, combine_commitments, transfer_commitment};

/// Most market calls one span proof covers: the span circuit has this many slots
/// (the market's default `system_job_txs_max`).
pub const SPAN_CALLS_MAX: usize = 16;

/// Why a witness does not describe a provable ledger transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// A path does not have one sibling per tree level.
    #[error("write {write}: {siblings} siblings, the account tree has depth {ACCOUNT_TREE_DEPTH}")]
    PathLength {
        /// Which write (in order).
        write: usize,
        /// Siblings given.
        siblings: usize,
    },
    /// A leaf index beyond the tree.
    #[error("write {write}: leaf index {index} is outside the depth-{ACCOUNT_TREE_DEPTH} tree")]
    IndexRange {
        /// Which write.
        write: usize,
        /// The index.
        index: u64,
    },
    /// A write changes the leaf's address.
    #[error("write {write}: the address changes from {before} to {after}")]
    AddressChanged {
        /// Which write.
        write: usize,
        /// Address before.
        before: Address,
        /// Address after.
        after: Address,
    },
    /// A transfer of zero value (the chain does not prove those with this circuit).
    #[error("a transfer moves a positive value")]
    ZeroValue,
    /// Not exactly one of a transfer's two writes changes its nonce.
    #[error("exactly one write of a transfer (the sender's) changes a nonce; {changed} do")]
    SenderNotFound {
        /// How many writes change a nonce.
        changed: usize,
    },
    /// A transfer's writes are not in strictly increasing address order.
    #[error("transfer writes must be in increasing address order: {first} then {second}")]
    AddressOrder {
        /// First write's address.
        first: Address,
        /// Second write's address.
        second: Address,
    },
    /// The sender (or a call's account) has no leaf before the write.
    #[error("write {write}: the sending account does not exist before the write")]
    SenderMissing {
        /// Which write.
        write: usize,
    },
    /// The sender's nonce does not go up by exactly one.
    #[error("write {write}: nonce {before} → {after}, expected → {}", before.saturating_add(1))]
    Nonce {
        /// Which write.
        write: usize,
        /// Nonce before.
        before: u64,
        /// Nonce after.
        after: u64,
    },
    /// The receiver's nonce changes.
    #[error("write {write}: the receiver's nonce changes from {before} to {after}")]
    ReceiverNonce {
        /// Which write.
        write: usize,
        /// Nonce before.
        before: u64,
        /// Nonce after.
        after: u64,
    },
    /// A debit larger than the balance.
    #[error("write {write}: balance {balance} cannot pay {debit}")]
    Underflow {
        /// Which write.
        write: usize,
        /// Balance before.
        balance: u128,
        /// What it must pay (value plus fee, or the call's debit).
        debit: u128,
    },
    /// A credit past 2^128.
    #[error("write {write}: balance {balance} plus {credit} overflows 128 bits")]
    Overflow {
        /// Which write.
        write: usize,
        /// Balance before the credit.
        balance: u128,
        /// The credit.
        credit: u128,
    },
    /// The balance after the write is not the one the rules give.
    #[error("write {write}: balance after is {found}, the rules give {expected}")]
    Balance {
        /// Which write.
        write: usize,
        /// What the rules give.
        expected: u128,
        /// What the write says.
        found: u128,
    },
    /// A market call both debits and credits.
    #[error("call {call}: debits {debit} and credits {credit}; at most one may be non-zero")]
    DebitAndCredit {
        /// Which call.
        call: usize,
        /// Debit.
        debit: u128,
        /// Credit.
        credit: u128,
    },
    /// A write's path does not start from the root the previous write left.
    #[error("write {write} starts from a root other than the one write {} left", write - 1)]
    RootsDoNotChain {
        /// Which write (≥ 1).
        write: usize,
    },
    /// A span with no call or more than [`SPAN_CALLS_MAX`].
    #[error("a span covers 1..={SPAN_CALLS_MAX} market calls, not {calls}")]
    SpanLength {
        /// Calls given.
        calls: usize,
    },
}

/// Checks a write's path shape and that it keeps its address.
fn check_write(write: usize, leaf_write: &LeafWrite) -> Result<(), WitnessError> {
    if leaf_write.siblings.len() != ACCOUNT_TREE_DEPTH {
        return Err(WitnessError::PathLength { write, siblings: leaf_write.siblings.len() });
    }
    if leaf_write.index >> ACCOUNT_TREE_DEPTH != 0 {
        return Err(WitnessError::IndexRange { write, index: leaf_write.index });
    }
    if let Some(before) = leaf_write.before
        && before.address != leaf_write.after.address
    {
        return Err(WitnessError::AddressChanged { write, before: before.address, after: leaf_write.after.address });
    }
    Ok(())
}

/// The sender's nonce rule: `n → n + 1`.
fn check_nonce_increment(write: usize, before: &AccountLeaf, after: &AccountLeaf) -> Result<(), WitnessError> {
    if before.nonce.checked_add(1) != Some(after.nonce) {
        return Err(WitnessError::Nonce { write, before: before.nonce, after: after.nonce });
    }
    Ok(())
}

fn check_balance(write: usize, expected: u128, after: &AccountLeaf) -> Result<(), WitnessError> {
    if expected != after.balance {
        return Err(WitnessError::Balance { write, expected, found: after.balance });
    }
    Ok(())
}

/// The ZKPoW transfer a tx proof covers: its two ledger writes, in the order the chain applied them.
///
/// The sender is not named: it is the write whose nonce changes (the receiver's never does), and
/// the receiver is the other one. Fees are burned, so the transfer touches exactly these two leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferWitness {
    /// The transaction hash (bound by the commitment, not derived in-circuit).
    pub tx_hash: B256,
    /// Value moved from the sender to the receiver, in wei (positive).
    pub value_wei: u128,
    /// Fee paid by the sender and burned, in wei.
    pub fee_wei: u128,
    /// The two writes, lower address first; the second's path is against the root the first left.
    pub writes: [LeafWrite; 2],
}

/// The circuit's view of a transfer, extracted without checking the rules (the circuit checks them).
#[derive(Debug, Clone)]
pub(crate) struct TransferAssignment {
    /// Whether `writes[0]` is the sender's.
    pub(crate) sender_first: bool,
    /// The sender's leaf before the transfer.
    pub(crate) sender: AccountLeaf,
    /// The receiver's leaf before the transfer (nonce and balance zero when new).
    pub(crate) receiver: AccountLeaf,
    /// Whether the receiver's slot was empty.
    pub(crate) receiver_new: bool,
}

impl TransferWitness {
    /// Which write is the sender's: the only one whose nonce changes.
    fn sender_write(&self) -> Result<usize, WitnessError> {
        // A new receiver's slot counts as nonce 0 before the write.
        let changes: Vec<usize> = (0..2)
            .filter(|&i| self.writes[i].before.map_or(0, |before| before.nonce) != self.writes[i].after.nonce)
            .collect();
        match changes.as_slice() {
            [sender] => Ok(*sender),
            _ => Err(WitnessError::SenderNotFound { changed: changes.len() }),
        }
    }

    /// The circuit inputs, with only the structural checks needed to fill them.
    pub(crate) fn assignment(&self) -> Result<TransferAssignment, WitnessError> {
        for (i, write) in self.writes.iter().enumerate() {
            check_write(i, write)?;
        }
        let sender_index = self.sender_write()?;
        let sender = self.writes[sender_index].before.ok_or(WitnessError::SenderMissing { write: sender_index })?;
        let receiver_write = &self.writes[1 - sender_index];
        let receiver = receiver_write.before.unwrap_or(AccountLeaf {
            address: receiver_write.after.address,
            nonce: 0,
            balance: 0,
        });
        Ok(TransferAssignment {
            sender_first: sender_index == 0,
            sender,
            receiver,
            receiver_new: receiver_write.before.is_none(),
        })
    }

    /// The statement this witness proves, after checking every rule the circuit enforces.
    pub fn statement(&self, job_id: u64, prover: Address) -> Result<Statement, WitnessError> {
        let assignment = self.assignment()?;
        let sender_index = usize::from(!assignment.sender_first);
        let receiver_index = 1 - sender_index;
        if self.value_wei == 0 {
            return Err(WitnessError::ZeroValue);
        }
        let (first, second) = (self.writes[0].after.address, self.writes[1].after.address);
        if first >= second {
            return Err(WitnessError::AddressOrder { first, second });
        }

        let sender_after = &self.writes[sender_index].after;
        check_nonce_increment(sender_index, &assignment.sender, sender_after)?;
        let debit = self.value_wei.checked_add(self.fee_wei).ok_or(WitnessError::Underflow {
            write: sender_index,
            balance: assignment.sender.balance,
            debit: u128::MAX,
        })?;
        let sender_balance = assignment.sender.balance.checked_sub(debit).ok_or(WitnessError::Underflow {
            write: sender_index,
            balance: assignment.sender.balance,
            debit,
        })?;
        check_balance(sender_index, sender_balance, sender_after)?;

        let receiver_after = &self.writes[receiver_index].after;
        if assignment.receiver.nonce != receiver_after.nonce {
            return Err(WitnessError::ReceiverNonce {
                write: receiver_index,
                before: assignment.receiver.nonce,
                after: receiver_after.nonce,
            });
        }
        let receiver_balance =
            assignment.receiver.balance.checked_add(self.value_wei).ok_or(WitnessError::Overflow {
                write: receiver_index,
                balance: assignment.receiver.balance,
                credit: self.value_wei,
            })?;
        check_balance(receiver_index, receiver_balance, receiver_after)?;

        if self.writes[0].root_after() != self.writes[1].root_before() {
            return Err(WitnessError::RootsDoNotChain { write: 1 });
        }
        Ok(Statement {
            pre_root: self.writes[0].root_before(),
            post_root: self.writes[1].root_after(),
            commitment: transfer_commitment(
                self.tx_hash,
                assignment.sender.address,
                assignment.receiver.address,
                assignment.sender.nonce,
                self.value_wei,
                self.fee_wei,
            ),
            job_id,
            prover,
        })
    }
}

/// One market call: the single ledger write it makes (its sender's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallWitness {
    /// The transaction hash.
    pub tx_hash: B256,
    /// What the call takes from the sender's balance, in wei (its fee, stake, repayment…).
    pub debit_wei: u128,
    /// What the call adds to the sender's balance, in wei (a withdrawal); zero if `debit_wei` is not.
    pub credit_wei: u128,
    /// The sender's leaf write.
    pub write: LeafWrite,
}

impl CallWitness {
    /// The statement of this call alone: a span of one call.
    pub fn statement(&self, job_id: u64, prover: Address) -> Result<Statement, WitnessError> {
        SpanWitness { calls: vec![self.clone()] }.statement(job_id, prover)
    }

    /// Checks the call's rules; `write` numbers it in errors. Returns its commitment.
    fn check(&self, write: usize) -> Result<Digest, WitnessError> {
        check_write(write, &self.write)?;
        let before = self.write.before.ok_or(WitnessError::SenderMissing { write })?;
        let after = &self.write.after;
        check_nonce_increment(write, &before, after)?;
        if self.debit_wei != 0 && self.credit_wei != 0 {
            return Err(WitnessError::DebitAndCredit { call: write, debit: self.debit_wei, credit: self.credit_wei });
        }
        let debited = before.balance.checked_sub(self.debit_wei).ok_or(WitnessError::Underflow {
            write,
            balance: before.balance,
            debit: self.debit_wei,
        })?;
        let credited = debited.checked_add(self.credit_wei).ok_or(WitnessError::Overflow {
            write,
            balance: debited,
            credit: self.credit_wei,
        })?;
        check_balance(write, credited, after)?;
        Ok(call_commitment(self.tx_hash, before.address, before.nonce, self.debit_wei, self.credit_wei))
    }
}

/// A system job's span: 1..=[`SPAN_CALLS_MAX`] market calls, in block order, each write's path
/// against the root the previous one left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanWitness {
    /// The calls.
    pub calls: Vec<CallWitness>,
}

impl SpanWitness {
    /// The statement this witness proves, after checking every rule the circuit enforces.
    pub fn statement(&self, job_id: u64, prover: Address) -> Result<Statement, WitnessError> {
        self.check_length()?;
        let mut commitment: Option<Digest> = None;
        let mut root: Option<HashOut<_>> = None;
        for (i, call) in self.calls.iter().enumerate() {
            let call_commitment = call.check(i)?;
            if let Some(root) = root
                && call.write.root_before() != root
            {
                return Err(WitnessError::RootsDoNotChain { write: i });
            }
            root = Some(call.write.root_after());
            commitment = Some(match commitment {
                None => call_commitment,
                Some(folded) => combine_commitments(folded, call_commitment),
            });
        }
        Ok(Statement {
            pre_root: self.calls[0].write.root_before(),
            post_root: root.expect("a span has a call"),
            commitment: commitment.expect("a span has a call"),
            job_id,
            prover,
        })
    }

    /// 1..=SPAN_CALLS_MAX calls with well-formed paths and an existing sender each: what the
    /// circuit needs to be filled in.
    pub(crate) fn check_length(&self) -> Result<(), WitnessError> {
        if self.calls.is_empty() || self.calls.len() > SPAN_CALLS_MAX {
            return Err(WitnessError::SpanLength { calls: self.calls.len() });
        }
        for (i, call) in self.calls.iter().enumerate() {
            check_write(i, &call.write)?;
            if call.write.before.is_none() {
                return Err(WitnessError::SenderMissing { write: i });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkcrowd_ledger::AccountLedger;

    fn address(byte: u8) -> Address {
        Address::with_last_byte(byte)
    }

    fn ledger() -> AccountLedger {
        let mut ledger = AccountLedger::new();
        for byte in 1..=4 {
            ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: 1_000 }).unwrap();
        }
        ledger
    }

    /// The writes of a transfer from `from` to `to`, with `edit` applied to the (sender, receiver)
    /// leaves after the rules, before they are written in address order.
    fn transfer(
        from: u8,
        to: u8,
        value: u128,
        fee: u128,
        edit: impl FnOnce(&mut AccountLeaf, &mut AccountLeaf),
    ) -> TransferWitness {
        let mut ledger = ledger();
        let sender = *ledger.get(&address(from)).unwrap();
        let receiver = ledger.get(&address(to)).copied();
        let mut sender_after =
            AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance.wrapping_sub(value + fee), ..sender };
        let mut receiver_after = AccountLeaf {
            address: address(to),
            nonce: receiver.map_or(0, |r| r.nonce),
            balance: receiver.map_or(0, |r| r.balance).wrapping_add(value),
        };
        edit(&mut sender_after, &mut receiver_after);
        let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
        let writes = [ledger.upsert_recorded(first).unwrap(), ledger.upsert_recorded(second).unwrap()];
        TransferWitness { tx_hash: B256::repeat_byte(7), value_wei: value, fee_wei: fee, writes }
    }

    /// An honest transfer, in either address order and to a new account, gives the statement the
    /// chain would: roots around both writes and the transfer commitment with the sender's old nonce.
    #[test]
    fn honest_transfers() {
        for (from, to) in [(1, 3), (3, 1), (2, 9)] {
            let witness = transfer(from, to, 100, 5, |_, _| {});
            let statement = witness.statement(4, address(0xaa)).unwrap();
            assert_eq!(statement.pre_root, witness.writes[0].root_before());
            assert_eq!(statement.post_root, witness.writes[1].root_after());
            assert_eq!(
                statement.commitment,
                transfer_commitment(B256::repeat_byte(7), address(from), address(to), 0, 100, 5)
            );
            assert_eq!(witness.assignment().unwrap().receiver_new, to == 9);
        }
    }

    /// Each broken rule is refused with its own reason.
    #[test]
    fn inconsistent_transfers() {
        let error = |w: TransferWitness| w.statement(0, Address::ZERO).unwrap_err();
        assert!(matches!(error(transfer(1, 3, 100, 5, |s, _| s.balance += 1)), WitnessError::Balance { write: 0, .. }));
        assert!(matches!(error(transfer(1, 3, 100, 5, |_, r| r.balance -= 1)), WitnessError::Balance { write: 1, .. }));
        assert!(matches!(error(transfer(1, 3, 100, 5, |s, _| s.nonce += 1)), WitnessError::Nonce { .. }));
        assert!(matches!(
            error(transfer(1, 3, 100, 5, |_, r| r.nonce += 1)),
            WitnessError::SenderNotFound { changed: 2 }
        ));
        assert!(matches!(error(transfer(1, 3, 2_000, 5, |_, _| {})), WitnessError::Underflow { .. }));
        assert!(matches!(error(transfer(1, 3, 0, 5, |_, _| {})), WitnessError::ZeroValue));
        let mut swapped = transfer(1, 3, 100, 5, |_, _| {});
        swapped.writes.swap(0, 1);
        assert!(matches!(error(swapped), WitnessError::AddressOrder { .. }));
        let mut bad_path = transfer(1, 3, 100, 5, |_, _| {});
        bad_path.writes[0].siblings[3] = bad_path.writes[0].siblings[4];
        assert!(matches!(error(bad_path), WitnessError::RootsDoNotChain { write: 1 }));
        let mut short_path = transfer(1, 3, 100, 5, |_, _| {});
        short_path.writes[1].siblings.pop();
        assert!(matches!(error(short_path), WitnessError::PathLength { write: 1, siblings: 23 }));

        let mut ledger = ledger();
        ledger.upsert(AccountLeaf { address: address(3), nonce: 0, balance: u128::MAX - 5 }).unwrap();
        let sender = *ledger.get(&address(1)).unwrap();
        let writes = [
            ledger.upsert_recorded(AccountLeaf { nonce: 1, balance: sender.balance - 10, ..sender }).unwrap(),
            ledger
                .upsert_recorded(AccountLeaf {
                    address: address(3),
                    nonce: 0,
                    balance: (u128::MAX - 5).wrapping_add(10),
                })
                .unwrap(),
        ];
        let overflow = TransferWitness { tx_hash: B256::ZERO, value_wei: 10, fee_wei: 0, writes };
        assert!(matches!(error(overflow), WitnessError::Overflow { write: 1, .. }));
    }

    /// Spans chain their writes and fold their commitments left to right; broken calls are refused.
    #[test]
    fn spans() {
        let mut ledger = ledger();
        let mut calls = Vec::new();
        for (i, (byte, debit, credit)) in [(1u8, 10u128, 0u128), (2, 0, 30), (1, 0, 0)].into_iter().enumerate() {
            let before = *ledger.get(&address(byte)).unwrap();
            let after = AccountLeaf { nonce: before.nonce + 1, balance: before.balance - debit + credit, ..before };
            let write = ledger.upsert_recorded(after).unwrap();
            calls.push(CallWitness {
                tx_hash: B256::repeat_byte(i as u8),
                debit_wei: debit,
                credit_wei: credit,
                write,
            });
        }
        let span = SpanWitness { calls: calls.clone() };
        let statement = span.statement(1, Address::ZERO).unwrap();
        let commitments: Vec<Digest> = calls
            .iter()
            .map(|c| {
                let b = c.write.before.unwrap();
                call_commitment(c.tx_hash, b.address, b.nonce, c.debit_wei, c.credit_wei)
            })
            .collect();
        let folded = combine_commitments(combine_commitments(commitments[0], commitments[1]), commitments[2]);
        assert_eq!(statement.commitment, folded);
        assert_eq!(statement.post_root, ledger.root());

        let skipped = SpanWitness { calls: vec![calls[0].clone(), calls[2].clone()] };
        assert_eq!(skipped.statement(1, Address::ZERO), Err(WitnessError::RootsDoNotChain { write: 1 }));
        let mut both = calls[0].clone();
        both.credit_wei = 1;
        assert!(matches!(
            SpanWitness { calls: vec![both] }.statement(1, Address::ZERO),
            Err(WitnessError::DebitAndCredit { .. })
        ));
        assert_eq!(
            SpanWitness { calls: vec![] }.statement(1, Address::ZERO),
            Err(WitnessError::SpanLength { calls: 0 })
        );
        let too_many = SpanWitness { calls: vec![calls[0].clone(); SPAN_CALLS_MAX + 1] };
        assert_eq!(too_many.statement(1, Address::ZERO), Err(WitnessError::SpanLength { calls: SPAN_CALLS_MAX + 1 }));
    }
}
