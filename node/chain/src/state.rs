//! The chain's state and its three commitments, kept in step after every transaction.
//!
//! 1. **Accounts, code and storage** in memory, served to revm through [`DatabaseRef`].
//! 2. **The Ethereum state root**: a secure Merkle-Patricia trie (keccak(address) → RLP account),
//!    with one storage trie per contract, maintained incrementally by `eth_trie` (only the paths of
//!    changed accounts and slots are re-hashed). Tests check it against alloy-trie's from-scratch root.
//! 3. **The ledger root**: a Poseidon tree over (address, nonce, balance), see [`AccountLedger`].
//!    The fee burn address is left out (it holds burned fees, not spendable funds).
//!
//! Changes are applied in address order, so ledger leaf indices do not depend on hash-map order.
//!
//! A block runs inside a journal ([`ChainState::begin_block`]): every overwritten value is recorded,
//! so a block that fails validation is undone exactly ([`ChainState::revert_block`]), roots included.

#[allow(
    clippy::disallowed_types,
    reason = "lookups by key; the only iterations (accounts_sorted sorts; wiping storage journals and re-hashes every slot) cannot reach state in an order-dependent way"
)]
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;

use alloy::primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use eth_trie::{EthTrie, MemoryDB, Trie};
use revm::DatabaseRef;
use revm::bytecode::Bytecode;
use revm::state::{Account, AccountInfo, EvmState};
use zkcrowd_ledger::{ACCOUNT_TREE_DEPTH, AccountLeaf, AccountLedger, Digest, LeafWrite, TreeError, digest_to_b256};
use zkcrowd_primitives::FEE_BURN_ADDRESS;

/// How many recent block hashes the `BLOCKHASH` opcode can see.
pub const BLOCK_HASH_HISTORY: u64 = 256;

/// An account as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::disallowed_types,
    reason = "lookups by key; the only iterations (accounts_sorted sorts; wiping storage journals and re-hashes every slot) cannot reach state in an order-dependent way"
)]
pub struct StoredAccount {
    /// Transaction count.
    pub nonce: u64,
    /// ZKPoW balance in wei.
    pub balance: U256,
    /// keccak of the runtime code ([`KECCAK256_EMPTY`] for none).
    pub code_hash: B256,
    /// Non-zero storage slots.
    pub storage: HashMap<U256, U256>,
}

/// One change as seen by the state: the new nonce, balance and code hash of an account, its changed
/// storage, and whether it is being created (old storage wiped) or destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account.
    pub address: Address,
    /// New nonce.
    pub nonce: u64,
    /// New balance.
    pub balance: U256,
    /// New code hash.
    pub code_hash: B256,
    /// New code, if the account just received code.
    pub code: Option<Bytecode>,
    /// Changed slots (zero deletes).
    pub storage: Vec<(U256, U256)>,
    /// Wipe existing storage first (contract creation at this address).
    pub created: bool,
    /// Remove the account entirely (self-destruct, or EIP-161 empty-account clearing).
    pub destroyed: bool,
}

#[derive(Debug, Clone)]
enum JournalEntry {
    Account { address: Address, old: Option<(u64, U256, B256)> },
    Slot { address: Address, key: U256, old: U256 },
}

#[derive(Debug, Clone)]
struct Journal {
    entries: Vec<JournalEntry>,
    ledger_len: u64,
    old_ledger: BTreeMap<Address, AccountLeaf>,
}

/// Removes `key` if present. eth_trie 0.6.1's `remove` of an absent key marks the stored nodes on
/// its path as replaced, and the light database then deletes nodes the trie still uses (a later
/// access fails with `MissingTrieNode`); so absent keys are never removed.
fn remove_present(trie: &mut EthTrie<MemoryDB>, key: &[u8]) {
    if trie.get(key).expect("in-memory trie").is_some() {
        trie.remove(key).expect("in-memory trie");
    }
}

/// EIP-161: a touched account left empty is removed, like a self-destructed one.
fn destroyed(account: &Account) -> bool {
    account.is_selfdestructed() || account.is_empty()
}

fn new_trie() -> EthTrie<MemoryDB> {
    // `light`: nodes that leave the trie are deleted, so memory tracks the live state, not history.
    // Keys are keccak hashes, so two distinct live nodes never share an encoding.
    EthTrie::new(Arc::new(MemoryDB::new(true)))
}

/// One ledger leaf changed by a transaction, in the order the chain wrote them (address order).
/// Writes that leave a leaf as it was are not changes and are not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerChange {
    /// The account before; `None` for a new account (an empty slot).
    pub before: Option<AccountLeaf>,
    /// The account after.
    pub after: AccountLeaf,
    /// The write with its Merkle path against the root before it, when witnesses are recorded
    /// ([`ChainState::set_record_witnesses`]).
    pub write: Option<LeafWrite>,
}

/// The full state with its Ethereum and ledger commitments (see the module documentation).
#[allow(
    clippy::disallowed_types,
    reason = "lookups by key; the only iterations (accounts_sorted sorts; wiping storage journals and re-hashes every slot) cannot reach state in an order-dependent way"
)]
pub struct ChainState {
    accounts: HashMap<Address, StoredAccount>,
    code: HashMap<B256, Bytecode>,
    account_trie: EthTrie<MemoryDB>,
    storage_tries: HashMap<Address, EthTrie<MemoryDB>>,
    ledger: AccountLedger,
    block_hashes: BTreeMap<u64, B256>,
    journal: Option<Journal>,
    /// Ledger changes since the last [`Self::take_ledger_changes`].
    ledger_changes: Vec<LedgerChange>,
    /// Whether ledger changes carry their Merkle paths (the witnesses of the proving circuits).
    record_witnesses: bool,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainState").field("accounts", &self.accounts.len()).finish_non_exhaustive()
    }
}

impl Default for ChainState {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainState {
    /// An empty state.
    #[allow(
        clippy::disallowed_types,
        reason = "lookups by key; the only iterations (accounts_sorted sorts; wiping storage journals and re-hashes every slot) cannot reach state in an order-dependent way"
    )]
    pub fn new() -> Self {
        Self {
            accounts: HashMap::new(),
            code: HashMap::new(),
            account_trie: new_trie(),
            storage_tries: HashMap::new(),
            ledger: AccountLedger::new(),
            block_hashes: BTreeMap::new(),
            journal: None,
            ledger_changes: Vec::new(),
            record_witnesses: false,
        }
    }

    /// The account at `address`.
    pub fn account(&self, address: &Address) -> Option<&StoredAccount> {
        self.accounts.get(address)
    }

    /// Nonce of `address` (0 if absent).
    pub fn nonce(&self, address: &Address) -> u64 {
        self.accounts.get(address).map_or(0, |a| a.nonce)
    }

    /// Balance of `address` (0 if absent).
    pub fn balance(&self, address: &Address) -> U256 {
        self.accounts.get(address).map_or(U256::ZERO, |a| a.balance)
    }

    /// The runtime code at `address` (empty for none).
    pub fn code(&self, address: &Address) -> alloy::primitives::Bytes {
        let Some(account) = self.accounts.get(address) else { return Default::default() };
        self.code.get(&account.code_hash).map(Bytecode::original_bytes).unwrap_or_default()
    }

    /// Whether `address` holds code.
    pub fn has_code(&self, address: &Address) -> bool {
        self.accounts.get(address).is_some_and(|a| a.code_hash != KECCAK256_EMPTY)
    }

    /// Every account, sorted by address (for dumps and from-scratch checks; not on the hot path).
    pub fn accounts_sorted(&self) -> Vec<(Address, &StoredAccount)> {
        let mut all: Vec<_> = self.accounts.iter().map(|(a, s)| (*a, s)).collect();
        all.sort_by_key(|(a, _)| *a);
        all
    }

    /// Whether ledger changes carry their Merkle paths ([`LedgerChange::write`]). Recording costs
    /// a path per write (the tree's pending hashing is flushed at each); nodes that serve proving
    /// witnesses turn it on.
    pub fn set_record_witnesses(&mut self, on: bool) {
        self.record_witnesses = on;
    }

    /// The ledger changes since the last call, in write order.
    pub fn take_ledger_changes(&mut self) -> Vec<LedgerChange> {
        std::mem::take(&mut self.ledger_changes)
    }

    /// The account ledger (read-only).
    pub fn ledger(&self) -> &AccountLedger {
        &self.ledger
    }

    /// The account ledger, for paths and roots (which flush pending hashing).
    pub fn ledger_mut(&mut self) -> &mut AccountLedger {
        &mut self.ledger
    }

    /// The Ethereum state root (MPT), computed incrementally.
    pub fn state_root(&mut self) -> B256 {
        self.account_trie.root_hash().expect("in-memory trie cannot fail")
    }

    /// The ledger root as a digest.
    pub fn ledger_digest(&mut self) -> Digest {
        self.ledger.root()
    }

    /// The ledger root as 32 bytes.
    pub fn ledger_root(&mut self) -> B256 {
        digest_to_b256(self.ledger.root())
    }

    /// Records the hash of block `number` for `BLOCKHASH`.
    pub fn record_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
        while self.block_hashes.len() as u64 > BLOCK_HASH_HISTORY {
            self.block_hashes.pop_first();
        }
    }

    /// Starts journaling a block's changes.
    ///
    /// # Panics
    /// If a block is already open (a programmer error).
    pub fn begin_block(&mut self) {
        assert!(self.journal.is_none(), "a block is already open");
        self.ledger_changes.clear();
        self.journal =
            Some(Journal { entries: Vec::new(), ledger_len: self.ledger.len(), old_ledger: BTreeMap::new() });
    }

    /// Keeps the open block's changes.
    pub fn commit_block(&mut self) {
        let journal = self.journal.take();
        assert!(journal.is_some(), "no block is open");
    }

    /// Undoes every change since [`Self::begin_block`]: accounts, storage, both roots.
    pub fn revert_block(&mut self) {
        let journal = self.journal.take().expect("no block is open");
        self.ledger_changes.clear();
        let mut touched = BTreeSet::new();
        let mut touched_slots: BTreeMap<Address, BTreeSet<U256>> = BTreeMap::new();
        for entry in journal.entries.into_iter().rev() {
            match entry {
                JournalEntry::Account { address, old } => {
                    touched.insert(address);
                    match old {
                        None => {
                            self.accounts.remove(&address);
                        }
                        Some((nonce, balance, code_hash)) => {
                            let account = self.accounts.entry(address).or_default();
                            account.nonce = nonce;
                            account.balance = balance;
                            account.code_hash = code_hash;
                        }
                    }
                }
                JournalEntry::Slot { address, key, old } => {
                    touched.insert(address);
                    touched_slots.entry(address).or_default().insert(key);
                    let account = self.accounts.entry(address).or_default();
                    if old.is_zero() {
                        account.storage.remove(&key);
                    } else {
                        account.storage.insert(key, old);
                    }
                }
            }
        }
        for address in touched {
            let slots = touched_slots.remove(&address).unwrap_or_default();
            self.sync_tries(address, slots.into_iter());
        }
        self.ledger.truncate(journal.ledger_len);
        for leaf in journal.old_ledger.into_values() {
            if self.ledger.index_of(&leaf.address).is_some() {
                self.ledger.upsert(leaf).expect("restoring an existing leaf cannot fill the tree");
            }
        }
    }

    /// How many new ledger leaves applying `accounts` (a revm state diff, or part of one) would
    /// allocate: touched accounts that survive, have no leaf yet, and are not the fee burn address.
    /// The chain checks this against [`AccountLedger::room`] before it applies a transaction, so a
    /// full ledger refuses the transaction instead of failing the block.
    pub fn ledger_leaves_needed<'a>(&self, accounts: impl IntoIterator<Item = (&'a Address, &'a Account)>) -> u64 {
        accounts
            .into_iter()
            .filter(|(address, account)| {
                account.is_touched()
                    && !destroyed(account)
                    && **address != FEE_BURN_ADDRESS
                    && self.ledger.index_of(address).is_none()
            })
            .count() as u64
    }

    /// Applies revm's state diff from one transaction.
    pub fn apply_evm_state(&mut self, state: EvmState) -> Result<(), TreeError> {
        let mut changes: Vec<AccountChange> = Vec::with_capacity(state.len());
        for (address, account) in state {
            if !account.is_touched() {
                continue;
            }
            let destroyed = destroyed(&account);
            changes.push(AccountChange {
                address,
                nonce: account.info.nonce,
                balance: account.info.balance,
                code_hash: account.info.code_hash,
                code: account.info.code.clone().filter(|c| !c.is_empty()),
                storage: account.changed_storage_slots().map(|(key, slot)| (*key, slot.present_value())).collect(),
                created: account.is_created(),
                destroyed,
            });
        }
        self.apply_changes(changes)
    }

    /// Applies account changes in address order, updating both commitments. All or nothing
    /// against a full ledger: the room for new leaves is checked before anything is written.
    pub fn apply_changes(&mut self, mut changes: Vec<AccountChange>) -> Result<(), TreeError> {
        let needed = changes
            .iter()
            .filter(|c| !c.destroyed && c.address != FEE_BURN_ADDRESS && self.ledger.index_of(&c.address).is_none())
            .count() as u64;
        if needed > self.ledger.room() {
            return Err(TreeError::Full { depth: ACCOUNT_TREE_DEPTH, capacity: self.ledger.capacity() });
        }
        changes.sort_by_key(|c| c.address);
        for change in changes {
            self.apply_change(change)?;
        }
        Ok(())
    }

    fn journal(&mut self, entry: JournalEntry) {
        if let Some(journal) = &mut self.journal {
            journal.entries.push(entry);
        }
    }

    fn apply_change(&mut self, change: AccountChange) -> Result<(), TreeError> {
        let address = change.address;
        let old = self.accounts.get(&address).map(|a| (a.nonce, a.balance, a.code_hash));
        self.journal(JournalEntry::Account { address, old });
        let mut touched_slots: Vec<U256> = Vec::new();

        if change.destroyed || change.created {
            // Wipe storage; every old slot is journaled so a revert restores it.
            if let Some(account) = self.accounts.get_mut(&address) {
                let old_slots: Vec<(U256, U256)> = account.storage.drain().collect();
                for (key, old_value) in old_slots {
                    touched_slots.push(key);
                    if let Some(journal) = &mut self.journal {
                        journal.entries.push(JournalEntry::Slot { address, key, old: old_value });
                    }
                }
            }
        }
        if change.destroyed {
            self.accounts.remove(&address);
            self.storage_tries.remove(&address);
            remove_present(&mut self.account_trie, keccak256(address).as_slice());
            self.update_ledger(address, 0, U256::ZERO, false)?;
            return Ok(());
        }

        if let Some(code) = change.code {
            self.code.entry(change.code_hash).or_insert(code);
        }
        let account = self.accounts.entry(address).or_default();
        account.nonce = change.nonce;
        account.balance = change.balance;
        account.code_hash = change.code_hash;
        let mut journal_slots = Vec::with_capacity(change.storage.len());
        for (key, value) in change.storage {
            let old_value = account.storage.get(&key).copied().unwrap_or_default();
            if old_value == value {
                continue;
            }
            journal_slots.push(JournalEntry::Slot { address, key, old: old_value });
            if value.is_zero() {
                account.storage.remove(&key);
            } else {
                account.storage.insert(key, value);
            }
            touched_slots.push(key);
        }
        if let Some(journal) = &mut self.journal {
            journal.entries.extend(journal_slots);
        }
        self.sync_tries(address, touched_slots.into_iter());
        self.update_ledger(address, change.nonce, change.balance, true)
    }

    /// Brings the storage trie and the account's MPT leaf in line with `self.accounts`.
    fn sync_tries(&mut self, address: Address, slots: impl Iterator<Item = U256>) {
        let Some(account) = self.accounts.get(&address) else {
            self.storage_tries.remove(&address);
            remove_present(&mut self.account_trie, keccak256(address).as_slice());
            return;
        };
        let mut slots = slots.peekable();
        if slots.peek().is_some() {
            let trie = self.storage_tries.entry(address).or_insert_with(new_trie);
            for key in slots {
                let hashed = keccak256(B256::from(key));
                match account.storage.get(&key) {
                    Some(value) => trie.insert(hashed.as_slice(), &alloy::rlp::encode(value)).expect("in-memory trie"),
                    None => remove_present(trie, hashed.as_slice()),
                }
            }
        }
        let storage_root = if account.storage.is_empty() {
            self.storage_tries.remove(&address);
            EMPTY_ROOT_HASH
        } else {
            let trie = self.storage_tries.get_mut(&address).expect("non-empty storage has a trie");
            trie.root_hash().expect("in-memory trie")
        };
        let leaf =
            TrieAccount { nonce: account.nonce, balance: account.balance, storage_root, code_hash: account.code_hash };
        self.account_trie.insert(keccak256(address).as_slice(), &alloy::rlp::encode(leaf)).expect("in-memory trie");
    }

    fn update_ledger(&mut self, address: Address, nonce: u64, balance: U256, exists: bool) -> Result<(), TreeError> {
        if address == FEE_BURN_ADDRESS {
            return Ok(());
        }
        if !exists && self.ledger.index_of(&address).is_none() {
            return Ok(());
        }
        // Bounded supply (genesis validation) keeps every balance below 2^127.
        let balance = u128::try_from(balance).expect("balance exceeds u128: supply bound broken");
        let before = self.ledger.get(&address).copied();
        let after = AccountLeaf { address, nonce, balance };
        if before == Some(after) {
            return Ok(());
        }
        if let (Some(journal), Some(old)) = (&mut self.journal, before) {
            journal.old_ledger.entry(address).or_insert(old);
        }
        let write = if self.record_witnesses {
            Some(self.ledger.upsert_recorded(after)?)
        } else {
            self.ledger.upsert(after)?;
            None
        };
        self.ledger_changes.push(LedgerChange { before, after, write });
        Ok(())
    }

    /// Seeds an account at genesis (no journal).
    pub fn insert_genesis_account(
        &mut self,
        address: Address,
        balance: u128,
        nonce: u64,
        code: Option<Bytes>,
    ) -> Result<(), TreeError> {
        let (code_hash, code) = match code {
            Some(bytes) if !bytes.is_empty() => {
                let code = Bytecode::new_raw(bytes);
                (code.hash_slow(), Some(code))
            }
            _ => (KECCAK256_EMPTY, None),
        };
        self.apply_change(AccountChange {
            address,
            nonce,
            balance: U256::from(balance),
            code_hash,
            code,
            storage: Vec::new(),
            created: false,
            destroyed: false,
        })
    }
}

impl DatabaseRef for ChainState {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.accounts.get(&address).map(|account| {
            let code = self.code.get(&account.code_hash).cloned().unwrap_or_default();
            AccountInfo::new(account.balance, account.nonce, account.code_hash, code)
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.code.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.accounts.get(&address).and_then(|a| a.storage.get(&index).copied()).unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.block_hashes.get(&number).copied().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::root::state_root_unhashed;

    /// Goal: removing accounts that do not exist (EIP-161 clears touched empty accounts, such as
    /// the market address after every settlement) never corrupts the trie. Regression: eth_trie's
    /// light database deleted the stored nodes on the path of an absent key while the trie still
    /// used them, and a later update failed with `MissingTrieNode`.
    #[test]
    fn removing_absent_accounts_keeps_the_trie_whole() {
        let mut state = ChainState::new();
        let account = |i: u64| Address::from_word(keccak256(i.to_be_bytes()));
        for i in 0..200 {
            state.insert_genesis_account(account(i), 1_000 + u128::from(i), 0, None).unwrap();
        }
        state.state_root();
        for round in 0..50u64 {
            let absent = account(10_000 + round);
            let mut changes = vec![AccountChange {
                address: absent,
                nonce: 0,
                balance: U256::ZERO,
                code_hash: KECCAK256_EMPTY,
                code: None,
                storage: Vec::new(),
                created: false,
                destroyed: true,
            }];
            for i in (round % 7..200).step_by(7) {
                changes.push(AccountChange {
                    address: account(i),
                    nonce: round + 1,
                    balance: U256::from(5_000 + round),
                    code_hash: KECCAK256_EMPTY,
                    code: None,
                    storage: Vec::new(),
                    created: false,
                    destroyed: false,
                });
            }
            state.apply_changes(changes).unwrap();
            state.state_root();
        }
        let expected = state_root_unhashed(state.accounts_sorted().into_iter().map(|(address, a)| {
            (
                address,
                TrieAccount {
                    nonce: a.nonce,
                    balance: a.balance,
                    storage_root: EMPTY_ROOT_HASH,
                    code_hash: a.code_hash,
                },
            )
        }));
        assert_eq!(state.state_root(), expected);
    }
}
