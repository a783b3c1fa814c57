//! Typed, located errors of every import and export.
//!
//! An import error says where the problem is in the user's file in the terms
//! of that file: a JSON pointer into a Terraform state, a line and column in a
//! ROS template, a row and column of a CSV file. It also names the thing the
//! user knows (a Terraform resource address, a ROS logical id) when there is
//! one, and what is wrong as data the caller can match on.

use std::fmt;
use std::sync::Arc;

use moat_policy::{CidrError, PortRangeError, RuleKey};

/// A place inside an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum At {
    /// The file as a whole.
    Whole,
    /// A JSON pointer (RFC 6901) into a JSON document; `""` is the root.
    Pointer(String),
    /// A 1-based line and column.
    LineCol { line: u64, column: u64 },
    /// A data row of a CSV file (the header is row 1) and one of its
    /// columns, by 1-based position and header name.
    Cell {
        row: u64,
        column: usize,
        name: String,
    },
    /// A whole row of a CSV file.
    Row(u64),
}

/// A file and a place inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub at: At,
}

impl Location {
    pub fn new(file: &Arc<str>, at: At) -> Location {
        Location {
            file: Arc::clone(file),
            at,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            At::Whole => f.write_str(&self.file),
            At::Pointer(p) if p.is_empty() => write!(f, "{} at the top level", self.file),
            At::Pointer(p) => write!(f, "{} at {p}", self.file),
            At::LineCol { line, column } => write!(f, "{}:{line}:{column}", self.file),
            At::Cell { row, column, name } => {
                write!(f, "{} row {row}, column {column} ({name})", self.file)
            }
            At::Row(row) => write!(f, "{} row {row}", self.file),
        }
    }
}

/// One problem of an import, located.
#[derive(Debug, PartialEq)]
pub struct ImportError {
    pub location: Location,
    /// What the user calls the thing at fault, when there is a name for it:
    /// `module.net.alicloud_security_group_rule.ssh[0]`, `ROS resource WebSg`.
    pub subject: Option<String>,
    pub kind: ErrorKind,
}

impl ImportError {
    pub fn new(location: Location, kind: ErrorKind) -> ImportError {
        ImportError {
            location,
            subject: None,
            kind,
        }
    }

    pub fn about(mut self, subject: impl Into<String>) -> ImportError {
        self.subject = Some(subject.into());
        self
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(subject) = &self.subject {
            write!(f, "{subject}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// Every problem an import found, in the order of the file. Never empty.
#[derive(Debug, PartialEq)]
pub struct ImportErrors(pub Vec<ImportError>);

impl ImportErrors {
    pub fn one(error: ImportError) -> ImportErrors {
        ImportErrors(vec![error])
    }
}

impl fmt::Display for ImportErrors {
    /// One line per error, each with its causes: the list is the message,
    /// so [`ImportErrors`] has no source of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

/// What is wrong.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not valid JSON")]
    Json(#[source] JsonError),
    #[error("not valid YAML: {message}")]
    Yaml { message: String },
    #[error(
        "neither a Terraform state (format version 4) nor the output of `terraform show -json`"
    )]
    NotTerraform,
    #[error(
        "a Terraform state of format version {found}; moat reads version 4 (Terraform 0.12 and later); `terraform show -json` output works with any version"
    )]
    StateVersion { found: String },
    #[error("`terraform show -json` output of format version {found}; moat reads version 1.x")]
    ShowFormatVersion { found: String },
    #[error("not a ROS template: {reason}")]
    NotRos { reason: &'static str },
    #[error("ROS template format version {found}; moat reads 2015-09-01")]
    RosVersion { found: String },
    #[error("expected {expected}, found {found}")]
    Shape {
        expected: &'static str,
        found: String,
    },
    #[error("{field} is missing")]
    Missing { field: String },
    #[error("{field} is not known before apply; apply the plan first or import the state")]
    Unknown { field: String },
    #[error("{field} {value:?} is not one of {expected}")]
    UnknownValue {
        field: String,
        value: String,
        expected: &'static str,
    },
    #[error("{field} {value:?} is not a protocol moat models (tcp, udp, icmp, icmpv6, gre, all)")]
    UnknownProtocol { field: String, value: String },
    #[error("{field} {value:?}")]
    PortRange {
        field: String,
        value: String,
        #[source]
        source: PortRangeError,
    },
    #[error("{field} {value:?} on protocol {protocol}, which takes no ports (use -1/-1)")]
    PortsOnProtocol {
        field: String,
        value: String,
        protocol: moat_policy::Protocol,
    },
    #[error("{field} is required for protocol {protocol}")]
    NoPorts {
        field: String,
        protocol: moat_policy::Protocol,
    },
    #[error("invalid {field}")]
    Cidr {
        field: String,
        #[source]
        source: CidrError,
    },
    #[error("{field} {value:?} is an {found} network; it takes {expected}")]
    Family {
        field: String,
        value: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("both {first} and {second} are set; a rule has one peer")]
    TwoPeers { first: String, second: String },
    #[error("no peer: one of {fields} must be set")]
    NoPeer { fields: &'static str },
    #[error("{field} {value:?} is not a priority (1-100)")]
    Priority { field: String, value: String },
    #[error("{field} {value:?} is not a security group id (sg-...)")]
    GroupId { field: String, value: String },
    #[error("{field} is {function} of {target:?}, which moat cannot resolve")]
    Unresolved {
        field: String,
        function: &'static str,
        target: String,
    },
    #[error("group {group} has no region: the input does not say, and none was given")]
    NoRegion { group: String },
    #[error("group {group} is in region {first} and in region {second}")]
    TwoRegions {
        group: String,
        first: String,
        second: String,
    },
    #[error(
        "rule `{key}` of group {group} is also defined by {other} with a different priority or description"
    )]
    ConflictingRule {
        group: String,
        key: Box<RuleKey>,
        other: String,
    },
    #[error("{what}")]
    NothingToImport { what: &'static str },
    #[error("the header has no column {name}; it must name {expected}")]
    MissingColumn {
        name: &'static str,
        expected: &'static str,
    },
    #[error("column {name:?} is not one moat reads; the header must name {expected}")]
    UnknownColumn {
        name: String,
        expected: &'static str,
    },
    #[error("column {name} appears twice")]
    DuplicateColumn { name: String },
    #[error("not valid CSV")]
    Csv(#[source] CsvError),
    #[error("{reason}")]
    Unrepresentable { reason: &'static str },
    #[error("{protocol} cannot apply to the {family} peer {peer}")]
    FamilyMismatch {
        protocol: moat_policy::Protocol,
        family: &'static str,
        peer: String,
    },
    #[error("the rule's peer is its own group {group}; ECS refuses that")]
    SelfReference { group: String },
    #[error(
        "nic type internet with the peer {peer}; rules whose peer is a group or prefix list use intranet"
    )]
    NicTypePeer { peer: String },
    #[error("{field} uses {function}, which moat cannot evaluate; write the value out")]
    Function { field: String, function: String },
    #[error("the group is created by the stack, so its id is not in the template")]
    CreatedGroup { logical_id: String },
    #[error("the imported rules do not make a valid policy: {message}")]
    Policy { message: String },
}

/// serde_json's error, comparable so that tests can match on kinds.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct JsonError(#[from] pub serde_json::Error);

impl PartialEq for JsonError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

/// The csv crate's error, comparable so that tests can match on kinds.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CsvError(#[from] pub csv::Error);

impl PartialEq for CsvError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

/// Why groups cannot be written in an export format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("rule `{key}` of group {group} cannot be written as {format}: {reason}")]
    Unrepresentable {
        group: String,
        key: Box<RuleKey>,
        format: &'static str,
        reason: &'static str,
    },
    #[error("{format} holds the groups of one region; these are in {}", regions.join(", "))]
    Regions {
        format: &'static str,
        regions: Vec<String>,
    },
}
