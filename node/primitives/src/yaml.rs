//! Loading YAML files with errors a person can act on: `file:line:column: what was wrong`.
//!
//! The parser is `serde-saphyr`: pure Rust, maintained, with source locations on every error
//! (serde_yaml is unmaintained upstream; see docs/layout.md for the comparison).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A YAML file that could not be read or did not match the expected shape.
#[derive(Debug)]
pub struct YamlError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when the parser knows it.
    pub line: Option<u64>,
    /// 1-based column, when the parser knows it.
    pub column: Option<u64>,
    /// What was wrong and what was expected, on one line.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for YamlError {}

/// Parses `text` (the contents of `path`) as a `T`.
pub fn from_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(|error| {
        let location = error.location();
        YamlError {
            path: path.to_owned(),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message: one_line_message(&error),
        }
    })
}

/// Reads and parses the YAML file at `path`.
pub fn from_file<T: DeserializeOwned>(path: &Path) -> Result<T, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|error| YamlError {
        path: path.to_owned(),
        line: None,
        column: None,
        message: format!("cannot read: {error}"),
    })?;
    from_str(path, &text)
}

/// The parser's message without its own location suffix or source snippet, on one line.
fn one_line_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or_default().trim();
    // serde-saphyr appends " at line L column C"; the location is printed in front instead.
    let message = match first.rfind(" at line ") {
        Some(cut) => &first[..cut],
        None => first,
    };
    message.trim_end_matches(':').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Zkpow;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are read through Debug in assertions")]
    struct Doc {
        amount: Zkpow,
        count: u32,
    }

    /// An unknown key, a bad amount and a wrong type each give file:line:column and what was
    /// expected, on one line.
    #[test]
    fn errors_carry_location_and_expectation() {
        let path = Path::new("doc.yaml");
        let cases = [
            ("amount: 5 ZKPOW\ncount: 1\ncolour: red\n", "doc.yaml:3:1", "colour"),
            ("amount: 5 parsecs\ncount: 1\n", "doc.yaml:1:9", "expected an amount with a unit"),
            ("amount: 5 ZKPOW\ncount: many\n", "doc.yaml:2:8", "u32"),
        ];
        for (text, place, expected) in cases {
            let error = from_str::<Doc>(path, text).unwrap_err().to_string();
            assert!(error.starts_with(place), "{error}");
            assert!(error.contains(expected), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
        assert!(from_str::<Doc>(path, "amount: 5 ZKPOW\ncount: 2\n").is_ok());
    }
}
