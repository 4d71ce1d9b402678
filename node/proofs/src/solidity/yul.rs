//! Small helpers for emitting Yul: constant tables carried as a Solidity `bytes` constant (8 bytes
//! per entry, copied to memory once: no PUSH per constant), a fixed memory map, and `$NAME$`
//! templates.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The Goldilocks modulus as a Yul literal.
pub(crate) const P: &str = "0xffffffff00000001";

/// A table of 64-bit constants, emitted as `bytes constant` and copied to memory at `base`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Table {
    entries: Vec<u64>,
}

impl Table {
    /// Appends `values`; returns the index of the first.
    pub(crate) fn push(&mut self, values: &[u64]) -> usize {
        let at = self.entries.len();
        self.entries.extend_from_slice(values);
        at
    }

    /// Appends a 32-byte word (four entries, big-endian); returns the index of the first.
    pub(crate) fn push_word(&mut self, word: [u8; 32]) -> usize {
        let values: Vec<u64> =
            word.chunks_exact(8).map(|chunk| u64::from_be_bytes(chunk.try_into().expect("8 bytes"))).collect();
        self.push(&values)
    }

    /// Bytes of the table (8 per entry).
    pub(crate) fn bytes(&self) -> usize {
        8 * self.entries.len()
    }

    /// The table as a Solidity hex literal body.
    pub(crate) fn hex(&self) -> String {
        let mut out = String::with_capacity(16 * self.entries.len());
        for entry in &self.entries {
            write!(out, "{entry:016x}").expect("writing to a string");
        }
        out
    }
}

/// A fixed memory map: named regions allocated upward from `start`, 32-byte aligned.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    next: usize,
    regions: Vec<(String, usize, usize, String)>,
}

impl Memory {
    /// A map starting at `start`.
    pub(crate) fn new(start: usize) -> Self {
        Self { next: start, regions: Vec::new() }
    }

    /// Allocates `bytes` (rounded up to words) under `name`; returns its address.
    pub(crate) fn alloc(&mut self, name: &str, bytes: usize, what: &str) -> usize {
        let at = self.next;
        self.next += bytes.div_ceil(32) * 32;
        self.regions.push((name.to_owned(), at, bytes, what.to_owned()));
        at
    }

    /// The map as Solidity comment lines.
    pub(crate) fn comment(&self, indent: &str) -> String {
        let mut out = String::new();
        for (name, at, bytes, what) in &self.regions {
            writeln!(out, "{indent}// {at:#06x} {name:<12} {bytes:>6} bytes  {what}").expect("writing to a string");
        }
        out
    }

    /// `$NAME$` substitutions for every region.
    pub(crate) fn substitutions(&self, into: &mut BTreeMap<String, String>) {
        for (name, at, _, _) in &self.regions {
            into.insert(name.clone(), format!("{at:#x}"));
        }
    }
}

/// Replaces every `$NAME$` in `template`; fails on a name without a value.
pub(crate) fn fill(template: &str, values: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('$').ok_or_else(|| anyhow::anyhow!("an unclosed `$` in a template"))?;
        let name = &after[..end];
        let value = values.get(name).ok_or_else(|| anyhow::anyhow!("no value for `${name}$` in a template"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Indents every non-empty line of `code` by `indent`.
pub(crate) fn indent(code: &str, indent: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.lines().count() * indent.len());
    for line in code.lines() {
        if !line.is_empty() {
            out.push_str(indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Templates fill every name and refuse unknown or unclosed ones.
    #[test]
    fn fill_substitutes_and_refuses() {
        let mut values = BTreeMap::new();
        values.insert("A".to_owned(), "0x20".to_owned());
        assert_eq!(fill("mload($A$) add($A$, 1)", &values).unwrap(), "mload(0x20) add(0x20, 1)");
        assert!(fill("$B$", &values).is_err());
        assert!(fill("$A", &values).is_err());
    }
}
