//! A validator's disk: its committed blocks (each with its signed certificate) and its
//! write-ahead log, in one redb database file (`chain.redb` in its directory).
//!
//! Why redb: an embedded, pure-Rust, maintained key-value store with ACID transactions and a
//! stable file format (1.0 since 2023); a committed write transaction is durable (fsync) before
//! `commit` returns, which the write-ahead log needs. RocksDB would add a C++ build of minutes to
//! every clean build; sled has had no stable release since 2021.
//!
//! Writes: each committed block in its own transaction when the host reports it; the whole
//! write-ahead log (one height's entries and the blocks they name: small) whenever it changes,
//! before the votes it records are sent. Reads: at start, every block in order and the log, which
//! [`zkcrowd_node::Node::restore`] replays. Values are the wire codec's postcard encoding.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use zkcrowd_node::{CommittedBlock, WriteAheadLog};

const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const WAL_KEY: &str = "wal";

/// Why the disk could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// A stored value does not decode: the file is corrupt or from another version.
    #[error("stored {what} does not decode: {reason}")]
    Corrupt {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
}

fn db_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

/// A validator's disk (see the module documentation).
#[derive(Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(db_error)?;
        let txn = db.begin_write().map_err(db_error)?;
        txn.open_table(BLOCKS).map_err(db_error)?;
        txn.open_table(META).map_err(db_error)?;
        txn.commit().map_err(db_error)?;
        Ok(Self { db })
    }

    /// Writes a committed block (durable when this returns).
    pub fn put_block(&self, block: &CommittedBlock) -> Result<(), StoreError> {
        let bytes = postcard::to_stdvec(block).map_err(db_error)?;
        let txn = self.db.begin_write().map_err(db_error)?;
        txn.open_table(BLOCKS)
            .map_err(db_error)?
            .insert(block.block.header.number, bytes.as_slice())
            .map_err(db_error)?;
        txn.commit().map_err(db_error)
    }

    /// Writes the write-ahead log (durable when this returns).
    pub fn put_wal(&self, wal: &WriteAheadLog) -> Result<(), StoreError> {
        let bytes = postcard::to_stdvec(wal).map_err(db_error)?;
        let txn = self.db.begin_write().map_err(db_error)?;
        txn.open_table(META).map_err(db_error)?.insert(WAL_KEY, bytes.as_slice()).map_err(db_error)?;
        txn.commit().map_err(db_error)
    }

    /// Every stored block, in height order.
    pub fn blocks(&self) -> Result<Vec<CommittedBlock>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(BLOCKS).map_err(db_error)?;
        let mut blocks = Vec::new();
        for entry in table.iter().map_err(db_error)? {
            let (number, bytes) = entry.map_err(db_error)?;
            let block = postcard::from_bytes(bytes.value()).map_err(|e| StoreError::Corrupt {
                what: format!("block {}", number.value()),
                reason: e.to_string(),
            })?;
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// The stored write-ahead log (empty if none was written).
    pub fn wal(&self) -> Result<WriteAheadLog, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(META).map_err(db_error)?;
        let Some(bytes) = table.get(WAL_KEY).map_err(db_error)? else { return Ok(WriteAheadLog::new()) };
        postcard::from_bytes(bytes.value())
            .map_err(|e| StoreError::Corrupt { what: "write-ahead log".to_owned(), reason: e.to_string() })
    }
}
