//! `moat explain [PATH...] --group ID (--from ADDR | --to ADDR) --port PROTO/PORT
//! [--live]`: would ECS allow this flow, and which rule decides it?
//!
//! The desired rules of the group come from the policies; `--live` reads the
//! group's live rules instead. The answer follows ECS evaluation (priority,
//! then drop over accept, then the direction's default).

use std::io::Write;
use std::net::IpAddr;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_exec::{GroupRef, InterfaceTarget, read_group_types, read_groups, read_interface};
use moat_policy::eval::{
    Decider, Flow, GroupOnInterface, Interface, InterfaceExplanation, PeerGroups, explain_interface,
};
use moat_policy::{
    Direction, GroupType, InnerAccessPolicy, PortRange, Rule, UnmodeledRule, Verdict,
};

use crate::args::{CloudArgs, FlowArgs};
use crate::context::{Cloud, load_policies, runtime};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Policy files or directories (the desired rules, and the group's region).
    #[arg(value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    /// The security group.
    #[arg(
        long,
        value_name = "ID",
        required_unless_present_any = ["instance", "eni"],
        conflicts_with_all = ["instance", "eni"]
    )]
    pub group: Option<String>,
    /// An instance, by id or name: the decision across all groups of its
    /// primary interface, read live.
    #[arg(long, value_name = "ID|NAME", conflicts_with = "eni")]
    pub instance: Option<String>,
    /// A network interface: the decision across all its groups, read live.
    #[arg(long, value_name = "ID")]
    pub eni: Option<String>,
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Explain with the live rules instead of the policy's (always so with
    /// --instance and --eni).
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let (direction, address) = args.flow.direction().map_err(anyhow::Error::msg)?;
    let set = if args.paths.is_empty() {
        None
    } else {
        match load_policies(&args.paths)? {
            Ok(set) => Some(set),
            Err(code) => return Ok(code),
        }
    };
    let target = match (&args.instance, &args.eni) {
        (Some(i), _) => Some(InterfaceTarget::Instance(i.clone())),
        (None, Some(e)) => Some(InterfaceTarget::Interface(e.clone())),
        (None, None) => None,
    };
    if let Some(target) = target {
        return explain_on_interface(args, set.as_ref(), &target, direction, address);
    }
    let Some(group_id) = args.group.clone() else {
        bail!("give --group ID, --instance ID|NAME or --eni ID");
    };
    let policy_group = set
        .as_ref()
        .and_then(|s| s.groups.iter().find(|g| g.id == group_id));
    // Live rules moat cannot model: ECS evaluates them, moat cannot.
    let mut unevaluated: Vec<UnmodeledRule> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    // Each rule with where it was written, when it comes from a policy.
    let (rules, origins, source, group_type, inner): (
        Vec<Rule>,
        Vec<Option<String>>,
        String,
        GroupType,
        Option<InnerAccessPolicy>,
    ) = if args.live {
        let region = args
            .cloud
            .region
            .clone()
            .or_else(|| policy_group.map(|g| g.region.clone()));
        let Some(region) = region else {
            bail!(
                "--live needs the group's region: pass --region or a policy that names {group_id}"
            );
        };
        let (live, types) = runtime()?.block_on(async {
            let cloud = Cloud::connect(&args.cloud, Some(&region), set.as_ref()).await?;
            let refs = [GroupRef::new(&group_id, &region)];
            let reader = cloud.reader();
            let types = read_group_types(&reader, &refs).await?;
            anyhow::Ok((read_groups(&reader, &refs, 1).await?, types))
        })?;
        let Some(group) = live.groups.into_iter().next() else {
            bail!("security group {group_id} in region {region} does not exist");
        };
        let live_type = types.get(&GroupRef::new(&group.id, &region)).copied();
        let stated = policy_group.and_then(|g| g.group_type);
        if let (Some(policy), Some(live)) = (stated, live_type)
            && policy != live
        {
            warnings.push(format!(
                "the policy says type: {policy}, the live group is {live}; evaluated as {live}"
            ));
        }
        let source = format!("live rules of {} in {region}", group.id);
        let origins = group.rules.iter().map(|r| Some(r.id.clone())).collect();
        unevaluated = group.unmodeled;
        (
            group.rules.into_iter().map(|r| r.rule).collect(),
            origins,
            source,
            live_type.or(stated).unwrap_or_default(),
            group.inner_access,
        )
    } else {
        let Some(gp) = policy_group else {
            if set.is_none() {
                bail!("give the policies to explain the desired rules, or --live");
            }
            bail!("no policy defines security group {group_id}");
        };
        let source = format!("desired rules of {} at {}", gp.id, gp.origin);
        let origins = gp
            .rules
            .iter()
            .map(|d| Some(d.origin.to_string()))
            .collect();
        (
            gp.rules.iter().map(|d| d.rule.clone()).collect(),
            origins,
            source,
            gp.group_type.unwrap_or_default(),
            None,
        )
    };

    let (protocol, port) = args.flow.port;
    let flow = Flow::new(direction, protocol, port, address);
    let mut on_interface = GroupOnInterface::new(&group_id, group_type, &rules);
    if let Some(inner) = inner {
        on_interface = on_interface.with_inner_access(inner);
    }
    let iface = Interface::single_group(on_interface);
    let e = explain_interface(&iface, &flow, PeerGroups::Unknown);
    let label = |r: &Rule| {
        let at = rules
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .and_then(|i| origins[i].as_deref());
        match at {
            Some(at) => format!("{} ({at})", describe(r)),
            None => describe(r),
        }
    };
    let answer = Answer {
        flow: &args.flow,
        source,
        warnings,
        label: &label,
        groups: Groups::One,
        unevaluated: unevaluated.iter().collect(),
    };
    answer.write(&e).context("writing to stdout")?;
    Ok(Exit::Ok)
}

/// `accept tcp/22 from 203.0.113.0/28, priority 1 "SSH from the office"`.
fn describe(r: &Rule) -> String {
    let k = &r.key;
    let ports = match k.ports {
        PortRange::NotApplicable => k.protocol.to_string(),
        p => format!("{}/{p}", k.protocol),
    };
    let mut s = format!(
        "{} {ports} {} {}, priority {}",
        k.verdict,
        k.direction.peer_word(),
        k.peer,
        r.priority
    );
    if !r.description.is_empty() {
        s.push_str(&format!(" {:?}", r.description));
    }
    s
}

/// `moat explain --instance` / `--eni`: the decision across every group of
/// the interface, read live, naming the deciding rule's group, id and, with
/// policies, where it is written.
fn explain_on_interface(
    args: &ExplainArgs,
    set: Option<&moat_policy::PolicySet>,
    target: &InterfaceTarget,
    direction: Direction,
    address: IpAddr,
) -> anyhow::Result<Exit> {
    let view = runtime()?.block_on(async {
        let cloud = Cloud::connect(&args.cloud, None, set).await?;
        let reader = cloud.reader();
        let region = reader.region().to_owned();
        anyhow::Ok(read_interface(&reader, &region, target).await?)
    })?;
    let groups = view.groups_on_interface();
    let iface = Interface::new(groups)?;
    // Each live rule's id, its group, and the policy line that wants it.
    let label = |rule: &Rule| -> String {
        let Some((group, live)) = view.groups.iter().find_map(|g| {
            g.rules
                .iter()
                .find(|l| std::ptr::eq(&l.rule, rule))
                .map(|l| (g, l))
        }) else {
            return describe(rule);
        };
        let origin = set
            .and_then(|s| s.groups.iter().find(|p| p.id == group.id))
            .and_then(|p| p.rules.iter().find(|d| d.rule.key == live.rule.key))
            .map(|d| format!(", {}", d.origin))
            .unwrap_or_default();
        format!(
            "{} (rule {} of {}{origin})",
            describe(rule),
            live.id,
            group.id
        )
    };
    let (protocol, port) = args.flow.port;
    let flow = Flow::new(direction, protocol, port, address);
    let e = explain_interface(&iface, &flow, PeerGroups::Unknown);
    let subject = match &view.instance {
        Some(i) if !i.name.is_empty() => {
            format!("{} \"{}\", interface {}", i.id, i.name, view.interface.id)
        }
        Some(i) => format!("{}, interface {}", i.id, view.interface.id),
        None => format!("interface {}", view.interface.id),
    };
    let answer = Answer {
        flow: &args.flow,
        source: format!(
            "live rules of {subject}: {}",
            view.interface.security_group_ids.join(", ")
        ),
        warnings: Vec::new(),
        label: &label,
        groups: Groups::Interface,
        unevaluated: view.groups.iter().flat_map(|g| &g.unmodeled).collect(),
    };
    answer.write(&e).context("writing to stdout")?;
    Ok(Exit::Ok)
}

/// Whose rules decided: one group's, or all the groups of an interface.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Groups {
    One,
    Interface,
}

/// An explanation as it is written, the same for a group and for an
/// interface: the verdict line, then what decided and what else matched.
struct Answer<'a> {
    flow: &'a FlowArgs,
    /// Whose rules were evaluated, shown in the verdict line.
    source: String,
    warnings: Vec<String>,
    /// A rule as the answer names it (its origin, or its id and group).
    label: &'a dyn Fn(&Rule) -> String,
    groups: Groups,
    /// Live rules moat cannot model: ECS evaluates them, moat cannot.
    unevaluated: Vec<&'a UnmodeledRule>,
}

impl Answer<'_> {
    fn write(&self, e: &InterfaceExplanation<'_>) -> std::io::Result<()> {
        let mut out = crate::output::stdout();
        let Ok((direction, address)) = self.flow.direction() else {
            return Ok(());
        };
        let verdict = match e.decision.verdict {
            Verdict::Accept => "ALLOW",
            Verdict::Drop => "DENY",
        };
        let peer = match direction {
            Direction::Ingress => format!("from {address}"),
            Direction::Egress => format!("to {address}"),
        };
        let label = self.label;
        writeln!(
            out,
            "{verdict} {direction} {} {peer} ({})",
            self.flow.service(),
            self.source
        )?;
        for w in &self.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        match e.decision.decider {
            Decider::Rule(gr) => writeln!(out, "  decided by:  {}", label(gr.rule))?,
            Decider::InnerAccess { group } => writeln!(
                out,
                "  decided by:  the inner access policy of {group} (Accept)"
            )?,
            Decider::Default { group_type } => {
                let (matches, enterprise) = match self.groups {
                    Groups::One => ("no rule matches", " in an enterprise group"),
                    Groups::Interface => ("no rule of any group matches", " in enterprise groups"),
                };
                let allows = match e.decision.verdict {
                    Verdict::Drop => "denies",
                    Verdict::Accept => "allows",
                };
                let kind = match group_type {
                    GroupType::Normal => "",
                    GroupType::Enterprise => enterprise,
                };
                writeln!(
                    out,
                    "  decided by:  {matches}; ECS {allows} {direction} traffic by default{kind}"
                )?
            }
        }
        for gr in &e.overridden {
            writeln!(out, "  also matches (evaluated later): {}", label(gr.rule))?;
        }
        for gr in &e.undecidable {
            writeln!(
                out,
                "  note: {} decides instead if {address} belongs to {}",
                label(gr.rule),
                gr.rule.key.peer
            )?;
        }
        for group in &e.if_member {
            writeln!(
                out,
                "  note: allowed if {address} is an instance of {group} (its inner access policy is Accept)"
            )?;
        }
        if !self.unevaluated.is_empty() {
            writeln!(
                out,
                "  warning: {} live rule(s) could not be evaluated (moat cannot model them); ECS does evaluate them, so this answer may be wrong:",
                self.unevaluated.len()
            )?;
            for u in &self.unevaluated {
                writeln!(
                    out,
                    "    {} {} {} ({})",
                    u.direction, u.id, u.summary, u.reason
                )?;
            }
        }
        Ok(())
    }
}
