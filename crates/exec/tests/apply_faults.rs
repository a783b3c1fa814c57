//! Apply under injected faults (throttling, server errors, dropped
//! connections), over many seeded runs: every run either converges or stops
//! with a report whose not-done list is exactly what a new plan shows; a
//! follow-up apply without faults converges; no rule outside a plan's
//! removals is ever revoked.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use moat_diff::{Action, Plan, UnmodeledAction};
use moat_emulator::FaultConfig;
use moat_exec::Guards;
use moat_exec::apply::{ApplyOptions, ApplyReport, NotDoneReason, apply};
use moat_policy::{Direction, LiveGroup, Rule};

const RUNS: u64 = 100;
const GROUPS: [&str; 3] = ["sg-bpfaulta0001", "sg-bpfaultb0001", "sg-bpfaultc0001"];

/// splitmix64: a small, seeded generator so every run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A pool of 24 rule identities; a group holds a random subset, with
/// random (never cleared) descriptions and priorities.
fn random_rules(rng: &mut Rng, share: u64) -> Vec<Rule> {
    let mut out = Vec::new();
    for n in 0..24u16 {
        if rng.below(100) >= share {
            continue;
        }
        let direction = if n % 3 == 0 {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let r = rule(direction, 2000 + n, "10.20.0.0/16");
        let priority = 1 + u8::try_from(rng.below(3)).unwrap_or(0);
        let description = format!("d{}", rng.below(2));
        out.push(with(r, priority, &description));
    }
    out
}

/// Throttling alone never stops a call (it is retried until the time is
/// up), so the server errors and dropped connections are frequent enough
/// for three of them in a row to stop some groups.
fn faults(seed: u64) -> FaultConfig {
    FaultConfig {
        throttle_rate: 0.2,
        error_rate: 0.15,
        drop_rate: 0.05,
        seed: Some(seed),
        ..FaultConfig::default()
    }
}

fn removal_ids(plan: &Plan) -> BTreeSet<String> {
    plan.groups
        .iter()
        .flat_map(|g| {
            g.changes
                .iter()
                .filter(|c| c.action == Action::Remove)
                .flat_map(|c| c.live_ids.iter().cloned())
                .chain(
                    g.unmodeled
                        .iter()
                        .filter(|u| u.action == UnmodeledAction::Remove)
                        .map(|u| u.rule.id.clone()),
                )
        })
        .collect()
}

fn ids(groups: &[LiveGroup]) -> BTreeSet<String> {
    rule_ids(groups).into_iter().collect()
}

/// The changes of a plan as the report names them.
fn plan_changes(plan: &Plan) -> BTreeSet<String> {
    plan.groups
        .iter()
        .flat_map(|g| {
            g.changes.iter().map(move |c| {
                let mut s = format!("{} {} {}", g.id, c.action.symbol(), c.key);
                if !c.live_ids.is_empty() {
                    s.push_str(&format!(" ({})", c.live_ids.join(", ")));
                }
                s
            })
        })
        .collect()
}

fn not_done(report: &ApplyReport, unknown: bool) -> BTreeSet<String> {
    report
        .not_done()
        .filter(|(_, n)| matches!(n.reason, NotDoneReason::Unknown { .. }) == unknown)
        .map(|(g, n)| format!("{} {}", g.id, n.change))
        .collect()
}

#[tokio::test]
async fn seeded_fault_runs_converge_or_stop_exactly() {
    let (mut converged, mut stopped, mut refused) = (0, 0, 0);
    for seed in 0..RUNS {
        let mut rng = Rng(seed);
        let handle = emulator(FaultConfig::default(), 1000 + seed);
        let mut wanted = Vec::new();
        for id in GROUPS {
            seed_group(&handle, id, &random_rules(&mut rng, 50));
            wanted.push((id, random_rules(&mut rng, 50)));
        }
        let set = desired(&wanted);
        // Few attempts, so that some calls fail for good and groups stop.
        let c = client(&handle, 3);
        let (plan, before) = make_plan(&c, &set).await;
        let options = ApplyOptions {
            guards: Guards {
                max_destroy: 1000,
                ..Guards::default()
            },
            verify_backoff: Duration::from_millis(1),
            ..ApplyOptions::default()
        };

        handle.emulator().set_faults(faults(seed)).expect("faults");
        let result = apply(&session(&c), &plan, &options).await;
        handle
            .emulator()
            .set_faults(FaultConfig::default())
            .expect("no faults");

        let (after_plan, after) = make_plan(&c, &set).await;
        let revoked: BTreeSet<String> = ids(&before).difference(&ids(&after)).cloned().collect();
        assert!(
            revoked.is_subset(&removal_ids(&plan)),
            "seed {seed}: revoked {revoked:?} outside the plan"
        );
        match &result {
            Err(e) => {
                // Refused before any change (a read failed for good).
                refused += 1;
                assert!(
                    matches!(
                        e,
                        moat_exec::ApplyError::Preflight(moat_exec::PreflightError::Read(_))
                    ),
                    "seed {seed}: {e:?}"
                );
                assert_eq!(
                    ids(&before),
                    ids(&after),
                    "seed {seed}: changed while refusing"
                );
            }
            Ok(report) if report.is_complete() => {
                converged += 1;
                assert!(
                    !after_plan.has_changes(),
                    "seed {seed}: complete but {}",
                    after_plan.summary()
                );
            }
            Ok(report) => {
                stopped += 1;
                let remaining = plan_changes(&after_plan);
                let certain = not_done(report, false);
                let unknown = not_done(report, true);
                assert!(
                    certain.is_subset(&remaining),
                    "seed {seed}: reported not done but made: {:?}\n{report:#?}",
                    certain.difference(&remaining).collect::<Vec<_>>()
                );
                let explained: BTreeSet<String> = certain.union(&unknown).cloned().collect();
                assert!(
                    remaining.is_subset(&explained),
                    "seed {seed}: remaining but not reported: {:?}\n{report:#?}",
                    remaining.difference(&explained).collect::<Vec<_>>()
                );
            }
        }

        // Without faults, the follow-up apply converges, and it too revokes
        // only what its plan removes.
        let follow = apply(&session(&c), &after_plan, &options)
            .await
            .expect("follow-up");
        assert!(follow.is_complete(), "seed {seed}: {follow}");
        let (last, now) = make_plan(&c, &set).await;
        assert!(!last.has_changes(), "seed {seed}: {}", last.summary());
        let revoked: BTreeSet<String> = ids(&after).difference(&ids(&now)).cloned().collect();
        assert!(revoked.is_subset(&removal_ids(&after_plan)), "seed {seed}");
    }
    eprintln!("fault runs: {converged} converged, {stopped} stopped, {refused} refused");
    assert_eq!(converged + stopped + refused, RUNS as usize);
    assert!(stopped > 0, "the faults stop some groups");
    assert!(converged > 0, "most runs converge");
}
