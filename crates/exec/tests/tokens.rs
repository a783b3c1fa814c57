//! ClientTokens of plans the pipeline makes: each plan draws its own nonce,
//! so a change reverted and made again is applied again (the service would
//! answer the first apply's tokens from its idempotency record), over real
//! HTTP to the emulator, which replays remembered tokens as ECS does.

mod common;

use std::sync::Arc;

use common::*;
use moat_diff::{DiffOptions, Plan};
use moat_emulator::FaultConfig;
use moat_exec::apply::{ApplyOptions, Phase, apply, client_token};
use moat_exec::{PlanOptions, Session};
use moat_policy::{Direction, PolicySet};

const G: &str = "sg-bp1tokens00000001";

async fn plan_and_apply(s: &Session, set: PolicySet) -> Plan {
    let reader = s.reader();
    let planned = moat_exec::plan(
        &reader,
        &Arc::new(set),
        &PlanOptions::new(DiffOptions::new(today())),
    )
    .await
    .expect("plan");
    let report = apply(s, &planned.plan, &ApplyOptions::default())
        .await
        .expect("apply runs");
    assert!(report.is_complete(), "{report:#?}");
    assert!(
        report.groups.iter().all(|g| g.verified == Some(true)),
        "{report:#?}"
    );
    planned.plan
}

#[tokio::test]
async fn a_change_reverted_and_made_again_is_applied_again() {
    let handle = emulator(FaultConfig::default(), 7);
    seed_group(&handle, G, &[]);
    let c = client(&handle, 3);
    let s = session(&c);
    let old = vec![rule(Direction::Ingress, 443, "10.0.0.0/8")];
    let mut new = old.clone();
    new.push(rule(Direction::Ingress, 22, "10.0.0.0/8"));

    let mut plans = Vec::new();
    for rules in [&old, &new, &old, &new] {
        plans.push(plan_and_apply(&s, desired(&[(G, rules.clone())])).await);
        assert_eq!(rule_set(&live(&c, &[G]).await[0]), {
            let mut r = rules.clone();
            r.sort();
            r
        });
    }
    // The second and the fourth plan: the same changes of the same rules,
    // so the same hash, and each its own nonce, so other tokens.
    let (second, fourth) = (&plans[1], &plans[3]);
    assert_eq!(second.hash(), fourth.hash());
    assert_eq!(second.nonce.len(), 32);
    assert_ne!(second.nonce, fourth.nonce);
    let token = |p: &Plan| {
        client_token(&p.hash(), &p.nonce, G, Direction::Ingress, Phase::Add, 1).expect("token")
    };
    assert_ne!(token(second), token(fourth));
}
