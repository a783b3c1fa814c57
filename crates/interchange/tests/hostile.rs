//! No input panics an importer: random text, and the fixtures cut short or
//! with a byte changed, through all three importers.

mod common;

use common::{options, read};
use moat_interchange::{import_csv, import_ros, import_terraform};
use proptest::prelude::*;

fn all(text: &str) {
    let opts = options(Some("cn-hangzhou"), &[("WebSg", "sg-bp1web0000000000001")]);
    let _ = import_terraform("f", text, &opts);
    let _ = import_ros("f", text, &opts);
    let _ = import_csv("f", text, &opts);
}

fn mutate(text: &str, at: usize, byte: u8, cut: bool) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % bytes.len().max(1);
    if cut {
        bytes.truncate(at);
    } else if let Some(b) = bytes.get_mut(at) {
        *b = byte;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_text(text in "\\PC{0,200}") {
        all(&text);
    }

    #[test]
    fn damaged_fixtures(which in 0usize..5, at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let file = ["terraform/state-v4.tfstate", "terraform/show-plan.json", "ros/template.json", "ros/template.yaml", "csv/whitelist.csv"][which];
        all(&mutate(&read(file), at, byte, cut));
    }
}
