//! `moat explain [PATH...] --group ID (--from ADDR | --to ADDR) --port SERVICE
//! [--live]`: would ECS allow this flow, and which rule decides it?
//!
//! The desired rules of the group come from the policies; `--live` reads the
//! group's live rules instead. The answer follows ECS evaluation (priority,
//! then drop over accept, then the direction's default).

use std::io::Write;
use std::net::IpAddr;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_exec::{GroupRef, read_group_types, read_groups};
use moat_policy::eval::{
    Decider, Flow, GroupOnInterface, Interface, PeerGroups, explain_interface,
};
use moat_policy::{
    Direction, GroupType, InnerAccessPolicy, PortRange, Protocol, Rule, UnmodeledRule, Verdict,
};

use crate::args::CloudArgs;
use crate::context::{Cloud, load_policies, runtime};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Policy files or directories (the desired rules, and the group's region).
    #[arg(value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    /// The security group.
    #[arg(long, value_name = "ID")]
    pub group: String,
    /// Source address of an inbound flow.
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "to",
        required_unless_present = "to"
    )]
    pub from: Option<IpAddr>,
    /// Destination address of an outbound flow.
    #[arg(long, value_name = "ADDR")]
    pub to: Option<IpAddr>,
    /// The service: tcp/22, udp/53, icmp, icmpv6, gre.
    #[arg(long, value_name = "SERVICE", value_parser = parse_flow_service)]
    pub port: (Protocol, Option<u16>),
    /// Explain with the live rules instead of the policy's.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

fn parse_flow_service(s: &str) -> Result<(Protocol, Option<u16>), String> {
    let (proto, port) = match s.split_once('/') {
        Some((p, port)) => (p, Some(port)),
        None => (s, None),
    };
    let protocol = Protocol::parse(proto)
        .filter(|p| *p != Protocol::All)
        .ok_or_else(|| format!("{proto:?} is not tcp, udp, icmp, icmpv6 or gre"))?;
    match (protocol.takes_ports(), port) {
        (true, Some(port)) => match port.parse::<u16>() {
            Ok(n) if n >= 1 => Ok((protocol, Some(n))),
            _ => Err(format!("{port:?} is not a port from 1 to 65535")),
        },
        (true, None) => Err(format!("{protocol} needs a port: {protocol}/PORT")),
        (false, None) => Ok((protocol, None)),
        (false, Some(_)) => Err(format!("{protocol} takes no port")),
    }
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let (direction, address) = match (args.from, args.to) {
        (Some(a), _) => (Direction::Ingress, a),
        (None, Some(a)) => (Direction::Egress, a),
        (None, None) => bail!("give --from ADDR (inbound) or --to ADDR (outbound)"),
    };
    let set = if args.paths.is_empty() {
        None
    } else {
        match load_policies(&args.paths)? {
            Ok(set) => Some(set),
            Err(code) => return Ok(code),
        }
    };
    let policy_group = set
        .as_ref()
        .and_then(|s| s.groups.iter().find(|g| g.id == args.group));
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
                "--live needs the group's region: pass --region or a policy that names {}",
                args.group
            );
        };
        let (live, types) = runtime()?.block_on(async {
            let cloud = Cloud::connect(&args.cloud, Some(&region), set.as_ref()).await?;
            let refs = [GroupRef::new(&args.group, &region)];
            let reader = cloud.reader();
            let types = read_group_types(&reader, &refs).await?;
            anyhow::Ok((read_groups(&reader, &refs, 1).await?, types))
        })?;
        let Some(group) = live.groups.into_iter().next() else {
            bail!(
                "security group {} in region {region} does not exist",
                args.group
            );
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
            bail!("no policy defines security group {}", args.group);
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

    let (protocol, port) = args.port;
    let flow = Flow::new(direction, protocol, port, address);
    let mut on_interface = GroupOnInterface::new(&args.group, group_type, &rules);
    if let Some(inner) = inner {
        on_interface = on_interface.with_inner_access(inner);
    }
    let iface = Interface::single_group(on_interface);
    let e = explain_interface(&iface, &flow, PeerGroups::Unknown);
    let describe = |r: &Rule| {
        let at = rules
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .and_then(|i| origins[i].as_deref());
        match at {
            Some(at) => format!("{} ({at})", describe(r)),
            None => describe(r),
        }
    };
    let service = match port {
        Some(p) => format!("{protocol}/{p}"),
        None => protocol.to_string(),
    };
    let peer = match direction {
        Direction::Ingress => format!("from {address}"),
        Direction::Egress => format!("to {address}"),
    };
    let verdict = match e.decision.verdict {
        Verdict::Accept => "ALLOW",
        Verdict::Drop => "DENY",
    };
    let mut out = crate::output::stdout();
    let mut w = || -> std::io::Result<()> {
        writeln!(out, "{verdict} {direction} {service} {peer} ({source})")?;
        for w in &warnings {
            writeln!(out, "  warning: {w}")?;
        }
        match e.decision.decider {
            Decider::Rule(gr) => writeln!(out, "  decided by:  {}", describe(gr.rule))?,
            Decider::InnerAccess { group } => writeln!(
                out,
                "  decided by:  the inner access policy of {group} (Accept)"
            )?,
            Decider::Default { group_type } => writeln!(
                out,
                "  decided by:  no rule matches; ECS {} {direction} traffic by default{}",
                match e.decision.verdict {
                    Verdict::Drop => "denies",
                    Verdict::Accept => "allows",
                },
                match group_type {
                    GroupType::Normal => "",
                    GroupType::Enterprise => " in an enterprise group",
                }
            )?,
        }
        for gr in &e.overridden {
            writeln!(
                out,
                "  also matches (evaluated later): {}",
                describe(gr.rule)
            )?;
        }
        for gr in &e.undecidable {
            let r = gr.rule;
            writeln!(
                out,
                "  note: {} decides instead if {address} belongs to {}",
                describe(r),
                r.key.peer
            )?;
        }
        for group in &e.if_member {
            writeln!(
                out,
                "  note: allowed if {address} is an instance of {group} (its inner access policy is Accept)"
            )?;
        }
        if !unevaluated.is_empty() {
            writeln!(
                out,
                "  warning: {} live rule(s) could not be evaluated (moat cannot model them); ECS does evaluate them, so this answer may be wrong:",
                unevaluated.len()
            )?;
            for u in &unevaluated {
                writeln!(
                    out,
                    "    {} {} {} ({})",
                    u.direction, u.id, u.summary, u.reason
                )?;
            }
        }
        Ok(())
    };
    w().context("writing to stdout")?;
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
