//! The saved plan file (`moat plan -o plan.json`), which is also the
//! `--format json` view.
//!
//! The file carries a format marker, the schema version, the moat version,
//! the plan hash, the nonce and a summary, then the groups. Loading checks the marker and
//! the schema version before anything else, so a plan written by an
//! incompatible moat is refused with a typed error rather than misread, and
//! recomputes the hash so that a plan edited by hand is refused too: apply
//! must do exactly the plan that was reviewed, or nothing. A signed plan
//! carries an HMAC of everything else in the file (see [`crate::PlanKey`]).

use std::io::{self, Write};

use moat_policy::ProtectSelector;
use moat_policy::policy_tests::TestOutcome;
use serde::{Deserialize, Serialize};

use crate::PlanError;
use crate::plan::{
    GroupPlan, PLAN_FORMAT, PLAN_SCHEMA_VERSION, Plan, PlanAccount, Summary, valid_nonce,
};
use crate::shard::Shard;

/// The JSON document, field order as written.
#[derive(Serialize)]
struct PlanFileOut<'a> {
    format: &'static str,
    schema_version: u32,
    moat_version: &'a str,
    plan_hash: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    nonce: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<Shard>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    targets: &'a [String],
    summary: Summary,
    groups: &'a [GroupPlan],
    protect: &'a [ProtectSelector],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    accounts: &'a [PlanAccount],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stages: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tests: &'a [TestOutcome],
}

#[derive(Deserialize)]
struct PlanFileIn {
    #[allow(dead_code)]
    format: String,
    schema_version: u32,
    moat_version: String,
    plan_hash: String,
    // A plan file written before plans had a nonce has none: its tokens are
    // the ones that version sent.
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    signature: Option<String>,
    // The summary is derived from the groups; it is in the file for readers
    // and is not trusted on load.
    #[allow(dead_code)]
    summary: Summary,
    #[serde(default)]
    shard: Option<Shard>,
    #[serde(default)]
    targets: Vec<String>,
    groups: Vec<GroupPlan>,
    protect: Vec<ProtectSelector>,
    #[serde(default)]
    accounts: Vec<PlanAccount>,
    #[serde(default)]
    stages: Vec<String>,
    #[serde(default)]
    tests: Vec<TestOutcome>,
}

/// Just enough to recognise a plan and its version before reading the rest.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    schema_version: Option<u32>,
}

impl Plan {
    fn document<'a>(&'a self, signature: Option<&'a str>) -> PlanFileOut<'a> {
        PlanFileOut {
            format: PLAN_FORMAT,
            schema_version: self.schema_version,
            moat_version: &self.moat_version,
            plan_hash: self.hash(),
            nonce: &self.nonce,
            signature,
            shard: self.shard,
            targets: &self.targets,
            summary: self.summary(),
            groups: &self.groups,
            protect: &self.protect,
            accounts: &self.accounts,
            stages: &self.stages,
            tests: &self.tests,
        }
    }

    /// Writes the plan file: pretty JSON with a trailing newline.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        let doc = self.document(self.signature.as_deref());
        // Live descriptions may hold controls JSON does not escape (DEL,
        // C1, bidirectional overrides): escaped, the file reads the same.
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::from)?;
        out.write_all(moat_policy::printable::escape_json(&text).as_bytes())?;
        out.write_all(b"\n")
    }

    /// What a signature covers: the compact JSON of the whole document
    /// without the signature. Serialising the types moat reads back gives
    /// the same bytes as when the plan was written, so a plan read from a
    /// file verifies exactly when nothing in it that moat reads changed.
    pub(crate) fn signed_bytes(&self) -> Vec<u8> {
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_vec(&self.document(None)).unwrap_or_default()
    }

    /// The plan file as a string.
    pub fn to_json(&self) -> String {
        let mut buf = Vec::new();
        // Writing into a Vec cannot fail, and serde_json produces UTF-8.
        let _ = self.write_json(&mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Reads a plan file, refusing another format, another schema version
    /// and a plan whose recorded hash does not match its decisions.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let header: Header = serde_json::from_str(text).map_err(PlanError::Malformed)?;
        if header.format.as_deref() != Some(PLAN_FORMAT) {
            return Err(PlanError::NotAPlan);
        }
        match header.schema_version {
            Some(PLAN_SCHEMA_VERSION) => {}
            found => {
                return Err(PlanError::UnsupportedSchema {
                    found,
                    supported: PLAN_SCHEMA_VERSION,
                });
            }
        }
        let file: PlanFileIn = serde_json::from_str(text).map_err(PlanError::Malformed)?;
        if !valid_nonce(&file.nonce) {
            return Err(PlanError::InvalidNonce { found: file.nonce });
        }
        let plan = Plan {
            schema_version: file.schema_version,
            moat_version: file.moat_version,
            groups: file.groups,
            protect: file.protect,
            nonce: file.nonce,
            signature: file.signature,
            shard: file.shard,
            accounts: file.accounts,
            targets: file.targets,
            stages: file.stages,
            tests: file.tests,
        };
        let computed = plan.hash();
        if computed != file.plan_hash {
            return Err(PlanError::HashMismatch {
                recorded: file.plan_hash,
                computed,
            });
        }
        Ok(plan)
    }
}
