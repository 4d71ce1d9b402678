//! On-disk circuit caches (the proof system's and the wrapper's): one file per circuit family,
//! `magic ‖ key ‖ sections (length ‖ bytes) ‖ SHA-256 of everything before`, written to a
//! temporary name then renamed, so that processes starting together never read half a file.

use std::path::Path;

use alloy::primitives::B256;
use anyhow::Context as _;
use sha2::Digest as _;

/// Seals `sections` into a cache file's bytes.
pub(crate) fn seal(magic: &[u8; 8], key: B256, sections: &[Vec<u8>]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(key.as_slice());
    for section in sections {
        out.extend_from_slice(&(section.len() as u64).to_le_bytes());
        out.extend_from_slice(section);
    }
    let checksum: [u8; 32] = sha2::Sha256::digest(&out).into();
    out.extend_from_slice(&checksum);
    out
}

/// Opens a sealed file: its sections, or why it cannot be used (damaged, another family, built by
/// other code, or not `count` sections).
pub(crate) fn open<'a>(bytes: &'a [u8], magic: &[u8; 8], key: B256, count: usize) -> Result<Vec<&'a [u8]>, String> {
    let body_len = bytes.len().checked_sub(32).ok_or("truncated cache")?;
    let (body, checksum) = bytes.split_at(body_len);
    if <[u8; 32]>::from(sha2::Sha256::digest(body)).as_slice() != checksum {
        return Err("checksum mismatch (a damaged cache)".into());
    }
    let rest = body.strip_prefix(magic.as_slice()).ok_or("not a cache of these circuits")?;
    let (stored_key, mut rest) = rest.split_at_checked(32).ok_or("truncated cache")?;
    if stored_key != key.as_slice() {
        return Err("built by other circuit code".into());
    }
    let mut sections = Vec::with_capacity(count);
    while !rest.is_empty() {
        let (length, tail) = rest.split_at_checked(8).ok_or("truncated cache")?;
        let length = usize::try_from(u64::from_le_bytes(length.try_into().expect("8 bytes")))
            .map_err(|error| error.to_string())?;
        let (section, tail) = tail.split_at_checked(length).ok_or("truncated cache")?;
        sections.push(section);
        rest = tail;
    }
    if sections.len() != count {
        return Err(format!("{} sections where {count} were expected", sections.len()));
    }
    Ok(sections)
}

/// Writes `bytes` to `path` (creating its directory) through a temporary file and a rename, then
/// removes the other files of the family `prefix` in that directory (caches of older code; best
/// effort).
pub(crate) fn write(path: &Path, bytes: &[u8], prefix: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("a cache path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))?;
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".bin") && entry.path() != path {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}
