//! Helpers shared by the interchange tests.
#![allow(dead_code)]

use std::path::PathBuf;

use moat_interchange::{ImportOptions, Imported};

pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

pub fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel)
}

pub fn options(region: Option<&str>, groups: &[(&str, &str)]) -> ImportOptions {
    ImportOptions {
        region: region.map(str::to_owned),
        group_ids: groups
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Each group's rules, as comparable data.
pub fn rules(imported: &Imported) -> Vec<(String, String, Vec<moat_policy::Rule>)> {
    imported
        .groups
        .iter()
        .map(|g| {
            (
                g.id.clone(),
                g.region.clone(),
                g.rules.iter().map(|r| r.rule.clone()).collect(),
            )
        })
        .collect()
}
