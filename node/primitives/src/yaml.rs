//! Loading YAML files with errors a person can act on: `file:line:column: what is wrong; expected …`.
//!
//! The parser is `serde-saphyr`: pure Rust, maintained, with source locations on every error
//! (serde_yaml is unmaintained upstream; see docs/layout.md for the comparison).
//!
//! Loading a file goes through four gates, each failing with one located line:
//!
//! 1. **The file**: at most [`FILE_BYTES_MAX`] bytes (checked before it is read whole), UTF-8 (a
//!    binary file is refused at the line and column of its first bad byte), no control characters.
//! 2. **The syntax** ([`Source`]): one walk over the parser's events refuses tabs in indentation and
//!    documents of more than [`NODES_MAX`] values, and records where every value is (a path such
//!    as `faults[0].at` → line and column).
//! 3. **The shape**: serde-saphyr with an explicit [`budget`] (alias bombs, nesting, documents) and
//!    duplicate keys refused.
//! 4. **The rules** ([`Validate`]): a type's validation returns an [`Invalid`] that names the path
//!    of the offending value; the [`Source`] turns the path into the value's line and column. Every
//!    rule, present and future, is located this way without knowing about YAML.
//!
//! ```
//! use std::path::Path;
//! use zkcrowd_primitives::yaml::{self, FieldPath, Invalid, Validate};
//!
//! #[derive(serde::Deserialize)]
//! struct Doc { count: u32 }
//! impl Validate for Doc {
//!     fn validate(&self) -> Result<(), Invalid> {
//!         yaml::check_at_most(&FieldPath::root().key("count"), self.count, 10)
//!     }
//! }
//! let error = yaml::load_str::<Doc>(Path::new("doc.yaml"), "# a comment\ncount: 11\n").err().unwrap();
//! assert_eq!(error.to_string(), "doc.yaml:2:8: count: 11 is above the maximum; expected at most 10");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser};

/// Largest YAML file read, in bytes (1 MiB). The largest shipped file is a few kilobytes; a
/// scenario or genesis is hand-written, and a megabyte holds ~10,000 genesis accounts. The parser
/// keeps a small multiple of the file in memory, so this also bounds loading's memory and time.
pub const FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Most values (scalars, mappings, sequences) in one document. A 1 MiB file of `[0,0,…]` would
/// hold ~500,000; no scenario or genesis needs more than a few thousand, and the location index
/// keeps one path per value.
pub const NODES_MAX: usize = 100_000;

/// Deepest nesting of mappings and sequences. Scenarios nest at most 5 deep (`market.bounty.age
/// .table[0].factor`); the bound protects the deserializer's recursion.
pub const DEPTH_MAX: usize = 32;

/// Most aliases (`*name`) and anchors (`&name`) in a document. Shipped files use none; a few
/// hundred leave room for a hand-written genesis that shares values.
pub const ALIASES_MAX: usize = 1_000;

/// Most parser events that aliases may replay in total. An alias bomb (each anchor a list of ten
/// aliases of the previous one) doubles this at every level; without a bound nine levels would
/// replay a billion events.
pub const ALIAS_REPLAYED_EVENTS_MAX: usize = 100_000;

/// A place in a file: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
}

impl Location {
    /// The start of a file.
    pub const START: Self = Self { line: 1, column: 1 };

    /// The location of byte `offset` of `text` (which must be a character boundary or the end).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self { line: before.matches('\n').count() as u64 + 1, column: before[line_start..].chars().count() as u64 + 1 }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One step of a [`FieldPath`]: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A mapping key, as written in the file (a sweep's `market.penalty` is one key).
    Key(String),
    /// A sequence index, from 0.
    Index(usize),
}

/// The path of a value in a document, as a validation names it: `faults[0].at`,
/// `plugins.behaviours`. Keys are the names written in the file (serde's renames, not Rust's).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The document itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path followed by mapping key `key`.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        Self(segments)
    }

    /// This path followed by sequence index `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }

    /// A path of keys from dotted text, `market.bounty.age` (the form of sweep overrides).
    pub fn dotted(text: &str) -> Self {
        Self(text.split('.').map(|key| Segment::Key(key.to_owned())).collect())
    }

    /// `self` followed by every step of `rest`.
    pub fn join(&self, rest: &FieldPath) -> Self {
        Self(self.0.iter().chain(&rest.0).cloned().collect())
    }

    /// Whether `prefix` is this path or one of its ancestors.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The steps.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The path without its last step (the root is its own parent).
    pub fn parent(&self) -> Self {
        Self(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// Whether this is the document itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong with a value, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A quantity above its documented maximum.
    #[error("{value} is above the maximum; expected at most {max}")]
    AboveMaximum {
        /// The value, as written in messages.
        value: String,
        /// The maximum.
        max: String,
    },
    /// A quantity below its minimum.
    #[error("{value} is below the minimum; expected at least {min}")]
    BelowMinimum {
        /// The value.
        value: String,
        /// The minimum.
        min: String,
    },
    /// A number outside a closed range (also NaN).
    #[error("{value} is out of range; expected {min} to {max}")]
    OutOfRange {
        /// The value.
        value: String,
        /// Lower end.
        min: String,
        /// Upper end.
        max: String,
    },
    /// Any other rule, often across fields.
    #[error("{wrong}; expected {expected}")]
    Rule {
        /// What is wrong, naming the values involved.
        wrong: String,
        /// What would be right.
        expected: String,
    },
}

/// A value that breaks a rule: where it is (a path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Invalid {
    /// The offending value.
    pub path: FieldPath,
    /// Other values of a cross-field rule, in order of preference: the error is located at the
    /// first of `path` and these that the file spells out (a defaulted field has no place).
    pub related: Vec<FieldPath>,
    /// What is wrong.
    pub problem: Problem,
}

impl Invalid {
    /// `path` breaks `problem`.
    pub fn new(path: FieldPath, problem: Problem) -> Self {
        Self { path, related: Vec::new(), problem }
    }

    /// `path` breaks a rule: `wrong`; expected `expected`.
    pub fn rule(path: FieldPath, wrong: impl Into<String>, expected: impl Into<String>) -> Self {
        Self::new(path, Problem::Rule { wrong: wrong.into(), expected: expected.into() })
    }

    /// Another value of the rule, tried for a location when `path` is not in the file.
    pub fn related(mut self, path: FieldPath) -> Self {
        self.related.push(path);
        self
    }

    /// The same error for a document in which this one sits at `prefix` (e.g. a genesis's
    /// `market`).
    pub fn within(self, prefix: &FieldPath) -> Self {
        Self {
            path: prefix.join(&self.path),
            related: self.related.iter().map(|p| prefix.join(p)).collect(),
            problem: self.problem,
        }
    }
}

/// Fails with [`Problem::AboveMaximum`] if `value > max`.
pub fn check_at_most<T: PartialOrd + fmt::Display>(path: &FieldPath, value: T, max: T) -> Result<(), Invalid> {
    if value > max {
        return Err(Invalid::new(
            path.clone(),
            Problem::AboveMaximum { value: value.to_string(), max: max.to_string() },
        ));
    }
    Ok(())
}

/// Fails with [`Problem::BelowMinimum`] if `value < min`.
pub fn check_at_least<T: PartialOrd + fmt::Display>(path: &FieldPath, value: T, min: T) -> Result<(), Invalid> {
    if value < min {
        return Err(Invalid::new(
            path.clone(),
            Problem::BelowMinimum { value: value.to_string(), min: min.to_string() },
        ));
    }
    Ok(())
}

/// Fails with [`Problem::BelowMinimum`] or [`Problem::AboveMaximum`] outside `[min, max]`.
pub fn check_between<T: PartialOrd + fmt::Display>(path: &FieldPath, value: T, min: T, max: T) -> Result<(), Invalid> {
    check_at_least(path, &value, &min)?;
    check_at_most(path, value, max)
}

/// Fails with [`Problem::OutOfRange`] unless `min ≤ value ≤ max` (NaN fails too).
pub fn check_number(path: &FieldPath, value: f64, min: f64, max: f64) -> Result<(), Invalid> {
    if !(min..=max).contains(&value) {
        return Err(Invalid::new(
            path.clone(),
            Problem::OutOfRange { value: value.to_string(), min: min.to_string(), max: max.to_string() },
        ));
    }
    Ok(())
}

/// Fails unless `value` is a fraction in [0, 1].
pub fn check_fraction(path: &FieldPath, value: f64) -> Result<(), Invalid> {
    check_number(path, value, 0.0, 1.0)
}

/// Fails unless a list has at most `max` entries.
pub fn check_len(path: &FieldPath, len: usize, max: usize) -> Result<(), Invalid> {
    if len > max {
        return Err(Invalid::rule(path.clone(), format!("{len} entries"), format!("at most {max}")));
    }
    Ok(())
}

/// A type whose values follow rules beyond their shape, each broken rule naming its value's path.
pub trait Validate {
    /// Checks the rules; the first broken one is returned.
    fn validate(&self) -> Result<(), Invalid>;
}

/// What was wrong with a YAML file.
#[derive(Debug, thiserror::Error)]
pub enum YamlErrorKind {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// The file is larger than [`FILE_BYTES_MAX`].
    #[error("the file goes on past {max_bytes} bytes; expected a YAML file of at most {max_bytes} bytes")]
    TooLarge {
        /// The limit.
        max_bytes: u64,
    },
    /// The file is not UTF-8 (located at the first bad byte).
    #[error("not UTF-8 text (a binary file?); expected a YAML text file")]
    NotUtf8,
    /// A control character (located at it).
    #[error("control character U+{code:04X} (a binary file?); expected YAML text")]
    ControlCharacter {
        /// The character's code point.
        code: u32,
    },
    /// A tab in the indentation.
    #[error("a tab in the indentation; expected spaces (YAML indents with spaces only)")]
    TabIndentation,
    /// A key appears twice in one mapping.
    #[error("duplicate key `{key}`; expected each key once per mapping")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// The document is beyond the parser's budget (an alias bomb, deep nesting, too many values).
    #[error("{what}; expected a smaller document")]
    TooComplex {
        /// What exceeded which limit.
        what: String,
    },
    /// The parser's own message: syntax errors, wrong types, unknown or missing fields, bad units.
    #[error("{0}")]
    Syntax(String),
    /// A value breaks a rule (range, cross-field).
    #[error("{0}")]
    Invalid(Box<Invalid>),
    /// A value breaks a rule of a document built from this file (a sweep's point: the base
    /// scenario with the sweep's overrides); `context` names that document.
    #[error("{context}: {invalid}")]
    InvalidIn {
        /// Which document, e.g. "point `fast`".
        context: String,
        /// The broken rule, its path in that document.
        invalid: Box<Invalid>,
    },
}

/// A YAML file that could not be used: the file, where in it, and what was wrong.
#[derive(Debug, thiserror::Error)]
pub struct YamlError {
    /// The file.
    pub file: PathBuf,
    /// Where, when known.
    pub location: Option<Location>,
    /// What was wrong.
    pub kind: YamlErrorKind,
}

impl YamlError {
    fn at(file: &Path, location: Option<Location>, kind: YamlErrorKind) -> Self {
        Self { file: file.to_owned(), location, kind }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(location) = self.location {
            write!(f, ":{location}")?;
        }
        // Every message is one line: a parser message with a line break is joined.
        let message = self.kind.to_string();
        let mut parts = message.lines().map(str::trim).filter(|l| !l.is_empty());
        write!(f, ": {}", parts.next().unwrap_or_default())?;
        for part in parts {
            write!(f, " {part}")?;
        }
        Ok(())
    }
}

/// The text of a YAML file, checked (size, UTF-8, control characters, tabs, size of the
/// document) and indexed: every value's path maps to its line and column.
#[derive(Debug, Clone)]
pub struct Source {
    file: PathBuf,
    text: String,
    places: BTreeMap<FieldPath, Location>,
}

impl Source {
    /// Reads `file`, refusing files above [`FILE_BYTES_MAX`] without reading them whole: at most
    /// one byte more than the limit is read (also from devices and pipes, which report no size),
    /// and the error is located at that byte.
    pub fn read(file: &Path) -> Result<Self, YamlError> {
        let read_error = |error| YamlError::at(file, None, YamlErrorKind::Read(error));
        let handle = std::fs::File::open(file).map_err(read_error)?;
        let mut bytes = Vec::new();
        handle.take(FILE_BYTES_MAX + 1).read_to_end(&mut bytes).map_err(read_error)?;
        if bytes.len() as u64 > FILE_BYTES_MAX {
            return Err(too_large(file, &bytes));
        }
        Self::from_bytes(file, bytes)
    }

    /// Checks and indexes `bytes`, the contents of `file`.
    pub fn from_bytes(file: &Path, bytes: Vec<u8>) -> Result<Self, YamlError> {
        let text = String::from_utf8(bytes).map_err(|error| {
            let valid = error.utf8_error().valid_up_to();
            let text = std::str::from_utf8(&error.as_bytes()[..valid]).expect("valid up to here");
            YamlError::at(file, Some(Location::of_offset(text, valid)), YamlErrorKind::NotUtf8)
        })?;
        Self::from_text(file, text)
    }

    /// Checks and indexes `text`, the contents of `file`.
    pub fn from_text(file: &Path, text: String) -> Result<Self, YamlError> {
        if text.len() as u64 > FILE_BYTES_MAX {
            return Err(too_large(file, text.as_bytes()));
        }
        if let Some((offset, c)) = text.char_indices().find(|(_, c)| !is_yaml_printable(*c)) {
            let location = Location::of_offset(&text, offset);
            return Err(YamlError::at(file, Some(location), YamlErrorKind::ControlCharacter { code: u32::from(c) }));
        }
        let places = index(&text).map_err(|error| {
            let (location, kind) = *error;
            YamlError::at(file, Some(location), kind)
        })?;
        Ok(Self { file: file.to_owned(), text, places })
    }

    /// The file's name, as given.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Deserializes the document as a `T`, under the explicit [`budget`], duplicate keys refused.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, YamlError> {
        serde_saphyr::from_str_with_options(&self.text, options()).map_err(|error| {
            let location = error.location().map(|l| Location { line: l.line(), column: l.column() });
            YamlError::at(&self.file, location, parser_error_kind(&error))
        })
    }

    /// Where the value at `path` is, if the file spells it out.
    pub fn locate(&self, path: &FieldPath) -> Option<Location> {
        self.places.get(path).copied()
    }

    /// Where an [`Invalid`] is: its value, else the first related value in the file, else the
    /// nearest enclosing value the file spells out (a defaulted field sits in its section), else the
    /// start of the file.
    pub fn locate_invalid(&self, invalid: &Invalid) -> Location {
        std::iter::once(&invalid.path)
            .chain(&invalid.related)
            .find_map(|path| self.locate(path))
            .or_else(|| {
                let mut path = invalid.path.clone();
                while !path.is_root() {
                    path = path.parent();
                    if let Some(location) = self.locate(&path) {
                        return Some(location);
                    }
                }
                None
            })
            .unwrap_or(Location::START)
    }

    /// The located error of `invalid`.
    pub fn invalid(&self, invalid: Invalid) -> YamlError {
        YamlError::at(&self.file, Some(self.locate_invalid(&invalid)), YamlErrorKind::Invalid(Box::new(invalid)))
    }

    /// An error of kind `kind` located at the value at `path` of this file (or its nearest
    /// enclosing value the file spells out).
    pub fn error_at(&self, path: &FieldPath, kind: YamlErrorKind) -> YamlError {
        let location = self.locate_invalid(&Invalid::rule(path.clone(), "", ""));
        YamlError::at(&self.file, Some(location), kind)
    }
}

/// The error of a file longer than [`FILE_BYTES_MAX`], located at its first byte beyond the limit
/// (or, if the text before it is not UTF-8, at the first bad byte).
fn too_large(file: &Path, bytes: &[u8]) -> YamlError {
    let limit = (FILE_BYTES_MAX as usize).min(bytes.len());
    let valid = match std::str::from_utf8(&bytes[..limit]) {
        Ok(_) => limit,
        Err(error) => error.valid_up_to(),
    };
    let text = std::str::from_utf8(&bytes[..valid]).expect("valid up to here");
    YamlError::at(file, Some(Location::of_offset(text, valid)), YamlErrorKind::TooLarge { max_bytes: FILE_BYTES_MAX })
}

/// Reads, parses and validates a `T` from `file`; every error is located.
pub fn load<T: DeserializeOwned + Validate>(file: &Path) -> Result<T, YamlError> {
    load_source(&Source::read(file)?)
}

/// Parses and validates a `T` from `text` (`file` names it in errors).
pub fn load_str<T: DeserializeOwned + Validate>(file: &Path, text: &str) -> Result<T, YamlError> {
    load_source(&Source::from_text(file, text.to_owned())?)
}

/// Parses and validates a `T` from a checked source.
pub fn load_source<T: DeserializeOwned + Validate>(source: &Source) -> Result<T, YamlError> {
    let value: T = source.parse()?;
    value.validate().map_err(|invalid| source.invalid(invalid))?;
    Ok(value)
}

/// Parses `text` (the contents of `file`) as a `T`, without validation.
pub fn from_str<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, YamlError> {
    Source::from_text(file, text.to_owned())?.parse()
}

/// Reads and parses the YAML file at `file`, without validation.
pub fn from_file<T: DeserializeOwned>(file: &Path) -> Result<T, YamlError> {
    Source::read(file)?.parse()
}

/// The budget every document is parsed under; every limit is explicit rather than the
/// library's default, so that changing the library cannot loosen them.
pub fn budget() -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(FILE_BYTES_MAX as usize);
    budget.max_events = 4 * NODES_MAX;
    budget.max_nodes = NODES_MAX;
    budget.max_aliases = ALIASES_MAX;
    budget.max_anchors = ALIASES_MAX;
    budget.max_recorded_anchor_events = ALIAS_REPLAYED_EVENTS_MAX;
    budget.max_recorded_anchor_bytes = FILE_BYTES_MAX as usize;
    budget.max_depth = DEPTH_MAX;
    budget.flow_nesting_limit = DEPTH_MAX;
    budget.max_inclusion_depth = 0;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = FILE_BYTES_MAX as usize;
    budget.max_merge_keys = ALIASES_MAX;
    budget
}

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget());
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.alias_limits.max_total_replayed_events = ALIAS_REPLAYED_EVENTS_MAX;
    options.alias_limits.max_replay_stack_depth = DEPTH_MAX;
    options.with_snippet = false;
    // Comments are not values: they count toward no budget.
    options.emit_comments = false;
    options
}

/// YAML 1.2's printable characters (c-printable): tab, line breaks and everything else but
/// control characters, surrogates and U+FFFE/U+FFFF.
fn is_yaml_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fn parser_error_kind(error: &serde_saphyr::Error) -> YamlErrorKind {
    use serde_saphyr::Error as E;
    // An error inside an aliased value wraps the error itself.
    let mut inner = error.without_snippet();
    while let E::AliasError { error, .. } = inner {
        inner = error.without_snippet();
    }
    match inner {
        E::DuplicateMappingKey { key, .. } => {
            YamlErrorKind::DuplicateKey { key: key.clone().unwrap_or_else(|| "(a complex key)".into()) }
        }
        E::Budget { breach, .. } => YamlErrorKind::TooComplex { what: budget_breach(breach) },
        E::AliasReplayLimitExceeded { max_total_replayed_events, .. } => YamlErrorKind::TooComplex {
            what: format!("aliases expand to more than {max_total_replayed_events} values (an alias bomb?)"),
        },
        E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => {
            YamlErrorKind::TooComplex { what: "aliases nest or expand too much (an alias bomb?)".into() }
        }
        other => YamlErrorKind::Syntax(one_line_message(other)),
    }
}

/// A budget breach in words, naming the limit.
fn budget_breach(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Documents { .. } => "more than one YAML document (`---`)".into(),
        B::Depth { .. } => format!("nested more than {DEPTH_MAX} levels deep"),
        B::Nodes { .. } | B::Events { .. } => format!("more than {NODES_MAX} values in the document"),
        B::Aliases { .. } | B::Anchors { .. } => format!("more than {ALIASES_MAX} aliases or anchors"),
        B::AliasAnchorRatio { .. } | B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            format!("aliases expand to more than {ALIAS_REPLAYED_EVENTS_MAX} values (an alias bomb?)")
        }
        B::MergeKeys { .. } => format!("more than {ALIASES_MAX} merge keys (`<<`)"),
        B::InputBytes { .. } | B::ScalarBytes { .. } => format!("more than {FILE_BYTES_MAX} bytes of text"),
        other => format!("beyond the parser's budget ({other:?})"),
    }
}

/// The parser's message without its own location suffix, on one line.
fn one_line_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default().trim();
    // serde-saphyr appends " at line L column C"; the location is printed in front instead.
    let message = match first.rfind(" at line ") {
        Some(cut) => &first[..cut],
        None => first,
    };
    message.trim_end_matches(':').to_owned()
}

/// Where a container being walked is: its path, and the next key or index.
enum Frame {
    Mapping { path: FieldPath, key: Option<String> },
    Sequence { path: FieldPath, next: usize },
}

/// A key that is not a plain scalar (a mapping or an alias as a key): nothing can name it.
const COMPLEX_KEY: &str = "\u{0}complex key";

/// One walk over the parser's events: the location of every value by path, tabs in indentation
/// refused, at most [`NODES_MAX`] values.
fn index(text: &str) -> Result<BTreeMap<FieldPath, Location>, Box<(Location, YamlErrorKind)>> {
    let lines: Vec<&str> = text.split('\n').collect();
    let indentations: Vec<Indentation> = lines.iter().map(|line| Indentation::of(line)).collect();
    let mut places = BTreeMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut nodes = 0usize;
    // Depth inside a complex key (a collection used as a mapping key), whose contents have no path.
    let mut in_complex_key = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(item) => item,
            Err(error) => {
                let marker = error.marker();
                let location = Location { line: marker.line() as u64, column: marker.col() as u64 + 1 };
                let message = error.info();
                if !message.contains("tab") {
                    let message = message.lines().next().unwrap_or_default().to_owned();
                    return Err(Box::new((location, YamlErrorKind::Syntax(message))));
                }
                // The parser points at the token before the tab (often on the line above); the tab
                // itself is the place to fix: the first indentation tab from there on.
                let first = location.line.saturating_sub(1) as usize;
                let tab = lines.iter().enumerate().skip(first).find_map(|(i, line)| {
                    let column = line.chars().take_while(|c| c.is_whitespace()).position(|c| c == '\t')?;
                    Some(Location { line: i as u64 + 1, column: column as u64 + 1 })
                });
                return Err(Box::new((tab.unwrap_or(location), YamlErrorKind::TabIndentation)));
            }
        };
        let location = Location { line: span.start.line() as u64, column: span.start.col() as u64 + 1 };
        let (opens, closes, scalar) = match &event {
            Event::Scalar(value, ..) => (false, false, Some(value.as_ref())),
            Event::Alias(_) => (false, false, None),
            Event::SequenceStart(..) | Event::MappingStart(..) => (true, false, None),
            Event::SequenceEnd | Event::MappingEnd => (false, true, None),
            _ => continue,
        };
        if closes {
            if in_complex_key > 0 {
                in_complex_key -= 1;
                if in_complex_key == 0
                    && let Some(Frame::Mapping { key, .. }) = stack.last_mut()
                {
                    *key = Some(COMPLEX_KEY.into());
                }
            } else {
                stack.pop();
            }
            continue;
        }
        nodes += 1;
        if nodes > NODES_MAX {
            let what = format!("more than {NODES_MAX} values in the document");
            return Err(Box::new((location, YamlErrorKind::TooComplex { what })));
        }
        check_indentation(&indentations, location)?;
        if in_complex_key > 0 {
            in_complex_key += usize::from(opens);
            continue;
        }
        // The path of this node, or None if it is a mapping key.
        let path = match stack.last_mut() {
            None => Some(FieldPath::root()),
            Some(Frame::Sequence { path, next }) => {
                *next += 1;
                Some(path.index(*next - 1))
            }
            Some(Frame::Mapping { path, key }) => match key.take() {
                Some(key) => Some(path.key(key)),
                None => {
                    if opens {
                        in_complex_key = 1;
                    } else {
                        *key = Some(scalar.map_or_else(|| COMPLEX_KEY.to_owned(), str::to_owned));
                    }
                    None
                }
            },
        };
        let Some(path) = path else { continue };
        if opens {
            let frame = if matches!(event, Event::MappingStart(..)) {
                Frame::Mapping { path: path.clone(), key: None }
            } else {
                Frame::Sequence { path: path.clone(), next: 0 }
            };
            stack.push(frame);
        }
        places.entry(path).or_insert(location);
    }
    Ok(places)
}

/// A line's indentation: the blanks and `- `/`? ` indicators before its first value.
struct Indentation {
    /// Its length, in characters.
    chars: usize,
    /// The column (0-based) of its first tab.
    tab: Option<usize>,
}

impl Indentation {
    fn of(line: &str) -> Self {
        let leading = line.chars().take_while(|c| matches!(c, ' ' | '\t' | '-' | '?'));
        let mut chars = 0;
        let mut tab = None;
        for c in leading {
            if c == '\t' && tab.is_none() {
                tab = Some(chars);
            }
            chars += 1;
        }
        Self { chars, tab }
    }
}

/// Refuses a tab in the indentation of the line of a value that starts its line (constant time
/// per value: a one-line flow sequence of 100,000 values must not cost 100,000 scans of its line).
fn check_indentation(indentations: &[Indentation], at: Location) -> Result<(), Box<(Location, YamlErrorKind)>> {
    let Some(indentation) = indentations.get(at.line.saturating_sub(1) as usize) else { return Ok(()) };
    let before = at.column.saturating_sub(1) as usize;
    match indentation.tab {
        Some(tab) if before <= indentation.chars && tab < before => {
            Err(Box::new((Location { line: at.line, column: tab as u64 + 1 }, YamlErrorKind::TabIndentation)))
        }
        _ => Ok(()),
    }
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
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are read through Debug in assertions")]
    struct Item {
        at: u32,
        #[serde(default)]
        tags: Vec<String>,
    }

    impl Validate for Doc {
        fn validate(&self) -> Result<(), Invalid> {
            let root = FieldPath::root();
            check_at_most(&root.key("count"), self.count, 10)?;
            for (i, item) in self.items.iter().enumerate() {
                if item.at > self.count {
                    return Err(Invalid::rule(
                        root.key("items").index(i).key("at"),
                        format!("{} is after count {}", item.at, self.count),
                        "at most count",
                    )
                    .related(root.key("count")));
                }
            }
            Ok(())
        }
    }

    fn load_doc(text: &str) -> Result<Doc, String> {
        load_str::<Doc>(Path::new("doc.yaml"), text).map_err(|e| e.to_string())
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

    /// The index maps paths through block and flow mappings, sequences and nested sequences to the
    /// value's own line and column; keys are not values.
    #[test]
    fn index_maps_paths_to_values() {
        let text = "amount: 5 ZKPOW\ncount: 3\nitems:\n  - at: 1\n    tags: [a, b]\n  - { at: 2, tags: [c] }\n";
        let source = Source::from_text(Path::new("doc.yaml"), text.to_owned()).unwrap();
        let root = FieldPath::root();
        let at = |line, column| Some(Location { line, column });
        assert_eq!(source.locate(&root.key("amount")), at(1, 9));
        assert_eq!(source.locate(&root.key("count")), at(2, 8));
        assert_eq!(source.locate(&root.key("items").index(0).key("at")), at(4, 9));
        assert_eq!(source.locate(&root.key("items").index(0).key("tags").index(1)), at(5, 15));
        assert_eq!(source.locate(&root.key("items").index(1)), at(6, 5));
        assert_eq!(source.locate(&root.key("items").index(1).key("at")), at(6, 11));
        assert_eq!(source.locate(&root.key("items").index(1).key("tags").index(0)), at(6, 21));
        assert_eq!(source.locate(&root.key("items").index(2)), None);
        assert_eq!(source.locate(&root.key("at")), None);
        assert_eq!(root.key("items").index(1).key("tags").to_string(), "items[1].tags");
    }

    /// A validation error is located at its value; a cross-field error whose value is defaulted
    /// falls back to a related value, then to the enclosing section; messages stay one line.
    #[test]
    fn validation_errors_are_located() {
        let error = load_doc("amount: 5 ZKPOW\ncount: 11\n").unwrap_err();
        assert_eq!(error, "doc.yaml:2:8: count: 11 is above the maximum; expected at most 10");
        let error = load_doc("amount: 1 wei\ncount: 2\nitems:\n  - { at: 1 }\n  - { at: 7 }\n").unwrap_err();
        assert_eq!(error, "doc.yaml:5:11: items[1].at: 7 is after count 2; expected at most count");

        // A path the file does not spell out: its related value, else its nearest ancestor.
        let source = Source::from_text(Path::new("d.yaml"), "amount: 1 wei\nitems:\n  - { at: 7 }\n".into()).unwrap();
        let root = FieldPath::root();
        let missing = Invalid::rule(root.key("count"), "x", "y").related(root.key("items").index(0).key("at"));
        assert_eq!(source.locate_invalid(&missing), Location { line: 3, column: 11 });
        let nested = Invalid::rule(root.key("items").index(0).key("tags"), "x", "y");
        assert_eq!(source.locate_invalid(&nested), Location { line: 3, column: 5 });
        let nowhere = Invalid::rule(root.key("other"), "x", "y");
        assert_eq!(source.locate_invalid(&nowhere), Location::START);
        assert_eq!(nested.within(&root.key("market")).path.to_string(), "market.items[0].tags");
    }

    /// Each hostile input class fails with its own located one-line message: tabs, duplicate keys
    /// (also nested), an alias bomb, binary and control characters, too many values, two documents.
    #[test]
    fn hostile_inputs() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (previous, name) in
            ["a", "b", "c", "d", "e", "f", "g", "h"].iter().zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let list = vec![format!("*{previous}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{list}]\n"));
        }
        let many = format!("count: [{}]\n", vec!["0"; NODES_MAX + 1].join(","));
        let cases = [
            ("amount: 1 wei\ncount: 1\nitems:\n\t- { at: 1 }\n", "doc.yaml:4:1", "a tab in the indentation"),
            ("amount: 1 wei\ncount: 1\nitems:\n  - at: 1\n  \ttags: []\n", "doc.yaml:5:3", "a tab in the indentation"),
            ("amount: 1 wei\ncount: 1\ncount: 2\n", "doc.yaml:3:1", "duplicate key `count`"),
            ("amount: 1 wei\ncount: 1\nitems: [ { at: 1, at: 2 } ]\n", "doc.yaml:3:19", "duplicate key `at`"),
            ("amount: 1 wei\ncount: 1\n\u{0}\u{1}", "doc.yaml:3:1", "control character U+0000"),
            (&many, "doc.yaml:1:", "more than 100000 values"),
            ("amount: 1 wei\ncount: 1\n---\namount: 1 wei\ncount: 1\n", "doc.yaml:3:1", "more than one YAML document"),
        ];
        for (text, place, expected) in cases {
            let error = load_doc(text).unwrap_err();
            assert!(error.starts_with(place), "{error}");
            assert!(error.contains(expected), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
        // An alias bomb in a value read whole (as a sweep reads its base scenario) hits the budget.
        let started = std::time::Instant::now();
        let error = from_str::<serde::de::IgnoredAny>(Path::new("doc.yaml"), &bomb).unwrap_err();
        assert!(matches!(error.kind, YamlErrorKind::TooComplex { .. }), "{error}");
        assert!(error.location.is_some(), "{error}");
        assert!(started.elapsed().as_secs() < 5, "{error}");

        // A tab after the indentation (as separation) is fine.
        assert!(load_doc("amount:\t1 wei\ncount: 1 # a\tcomment\n").is_ok());

        let binary = b"amount: 1 wei\ncount: \xff\xfe\n".to_vec();
        let error = Source::from_bytes(Path::new("doc.yaml"), binary).unwrap_err().to_string();
        assert_eq!(error, "doc.yaml:2:8: not UTF-8 text (a binary file?); expected a YAML text file");
    }

    /// A file above the limit is refused after reading one byte past the limit, located at that
    /// byte; so is a text above it.
    #[test]
    fn large_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("zkcrowd-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.yaml");
        std::fs::write(&file, vec![b'#'; FILE_BYTES_MAX as usize + 1]).unwrap();
        let error = Source::read(&file).unwrap_err();
        assert!(matches!(error.kind, YamlErrorKind::TooLarge { .. }), "{error}");
        assert_eq!(error.location, Some(Location { line: 1, column: FILE_BYTES_MAX + 1 }));
        assert_eq!(error.to_string().lines().count(), 1);
        std::fs::write(&file, "count: 1\n").unwrap();
        assert!(Source::read(&file).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
        let text = "#".repeat(FILE_BYTES_MAX as usize + 1);
        assert!(Source::from_text(Path::new("t.yaml"), text).is_err());
    }
}
