//! Address arithmetic: ranges of one family as integers, the fewest CIDRs
//! of a range, private and public addresses, and IPv4-mapped IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The IPv4-mapped IPv6 block (RFC 4291 2.5.5.2): `::ffff:a.b.c.d` is the
/// IPv4 address `a.b.c.d` written as IPv6.
pub const IPV4_MAPPED: (Ipv6Addr, u8) = (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);

/// The IPv4 address an IPv4-mapped IPv6 address stands for; any other
/// address as it is.
///
/// moat treats `::ffff:0:0/96` and everything within it as the IPv4 space
/// it maps to, so that a rule written as `::ffff:0.0.0.0/96` is judged like
/// `0.0.0.0/0` and is not a way around lint. A wider IPv6 network that
/// merely contains the block (`::/0`) stays IPv6: ECS matches IPv4 traffic
/// only against IPv4 rules.
pub fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// The IPv4 network an IPv6 network within `::ffff:0:0/96` stands for
/// (`::ffff:10.0.0.0/104` is `10.0.0.0/8`); any other network as it is.
pub fn unmap_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(n) if n.prefix_len() >= IPV4_MAPPED.1 => match n.network().to_ipv4_mapped() {
            // `prefix_len() >= 96`, so the IPv4 prefix fits in 0..=32.
            Some(v4) => Ipv4Net::new(v4, n.prefix_len() - IPV4_MAPPED.1).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

/// True when `net` holds `addr`, both taken with [`unmap`] / [`unmap_net`]:
/// `::ffff:0.0.0.0/96` holds `8.8.8.8`, and `0.0.0.0/0` holds
/// `::ffff:8.8.8.8`.
pub fn net_contains(net: IpNet, addr: IpAddr) -> bool {
    unmap_net(net).contains(&unmap(addr))
}

/// An inclusive range of addresses of one family, as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrRange {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl AddrRange {
    /// Every address of `net`. A network within `::ffff:0:0/96` is the
    /// range of IPv4 addresses it maps to ([`unmap_net`]).
    pub fn of(net: IpNet) -> AddrRange {
        match unmap_net(net) {
            IpNet::V4(n) => AddrRange {
                v6: false,
                first: u128::from(u32::from(n.network())),
                last: u128::from(u32::from(n.broadcast())),
            },
            IpNet::V6(n) => AddrRange {
                v6: true,
                first: u128::from(n.network()),
                last: u128::from(n.broadcast()),
            },
        }
    }

    /// How many addresses the range holds (saturating at `u128::MAX` for the
    /// whole IPv6 space).
    pub fn count(self) -> u128 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }

    pub fn contains(self, other: AddrRange) -> bool {
        self.v6 == other.v6 && self.first <= other.first && other.last <= self.last
    }

    pub fn overlaps(self, other: AddrRange) -> bool {
        self.v6 == other.v6 && self.first <= other.last && other.first <= self.last
    }

    /// The fewest CIDR blocks that hold exactly this range.
    pub fn to_cidrs(self) -> Vec<IpNet> {
        let bits: u32 = if self.v6 { 128 } else { 32 };
        let mut out = Vec::new();
        let mut start = self.first;
        loop {
            // The largest block aligned at `start` that does not pass `last`.
            let mut size = if start == 0 {
                bits
            } else {
                start.trailing_zeros().min(bits)
            };
            while size > 0 && block_end(start, size).is_none_or(|end| end > self.last) {
                size -= 1;
            }
            // `size <= bits`, so the prefix length fits in a u8.
            out.push(to_net(self.v6, start, (bits - size) as u8));
            match block_end(start, size).and_then(|end| end.checked_add(1)) {
                Some(next) if next <= self.last => start = next,
                _ => break,
            }
        }
        out
    }
}

/// The last address of the block of `2^size` addresses at `start`.
fn block_end(start: u128, size: u32) -> Option<u128> {
    if size >= 128 {
        return (start == 0).then_some(u128::MAX);
    }
    start.checked_add((1u128 << size) - 1)
}

fn to_net(v6: bool, addr: u128, prefix: u8) -> IpNet {
    if v6 {
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(addr), prefix))
    } else {
        // The address came from an IPv4 range, so it fits in 32 bits.
        let v4 = Ipv4Addr::from(u32::try_from(addr).unwrap_or(u32::MAX));
        IpNet::V4(Ipv4Net::new_assert(v4, prefix))
    }
}

/// Address ranges that are not reachable from the internet: private
/// networks (RFC 1918, RFC 4193), shared address space (RFC 6598, which
/// Alibaba Cloud uses for its internal services such as 100.100.2.136),
/// loopback, link-local, "this network" and the unspecified address.
/// Everything else is public, including the documentation ranges
/// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), which examples use to
/// stand for public addresses.
pub const PRIVATE_V4: [(Ipv4Addr, u8); 7] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// The IPv6 counterpart of [`PRIVATE_V4`]: the unspecified address,
/// loopback, unique local (fc00::/7) and link-local (fe80::/10).
pub const PRIVATE_V6: [(Ipv6Addr, u8); 4] = [
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
];

/// The private ranges of one family as address ranges, sorted.
fn private_ranges(v6: bool) -> Vec<AddrRange> {
    let mut out: Vec<AddrRange> = if v6 {
        PRIVATE_V6
            .iter()
            .map(|&(a, p)| AddrRange::of(IpNet::V6(Ipv6Net::new_assert(a, p))))
            .collect()
    } else {
        PRIVATE_V4
            .iter()
            .map(|&(a, p)| AddrRange::of(IpNet::V4(Ipv4Net::new_assert(a, p))))
            .collect()
    };
    out.sort_unstable();
    out
}

/// The public parts of `range`: the range minus every private range.
pub fn public_parts(range: AddrRange) -> Vec<AddrRange> {
    let mut out = Vec::new();
    let mut next = Some(range.first);
    for p in private_ranges(range.v6) {
        let Some(start) = next else { break };
        if p.last < start || p.first > range.last {
            continue;
        }
        if p.first > start {
            out.push(AddrRange {
                v6: range.v6,
                first: start,
                last: p.first - 1,
            });
        }
        next = p.last.checked_add(1);
    }
    if let Some(start) = next
        && start <= range.last
    {
        out.push(AddrRange {
            v6: range.v6,
            first: start,
            last: range.last,
        });
    }
    out
}

/// How many public addresses `range` holds (saturating).
pub fn public_count(range: AddrRange) -> u128 {
    public_parts(range)
        .iter()
        .fold(0u128, |n, r| n.saturating_add(r.count()))
}

/// True when `addr` is not in any private range (an IPv4-mapped address
/// is judged as the IPv4 address it maps to).
pub fn is_public(addr: IpAddr) -> bool {
    let range = match unmap(addr) {
        IpAddr::V4(a) => AddrRange {
            v6: false,
            first: u128::from(u32::from(a)),
            last: u128::from(u32::from(a)),
        },
        IpAddr::V6(a) => AddrRange {
            v6: true,
            first: u128::from(a),
            last: u128::from(a),
        },
    };
    public_count(range) > 0
}
/// Sorts and merges touching or overlapping ranges of the same family.
pub fn merge(mut ranges: Vec<AddrRange>) -> Vec<AddrRange> {
    ranges.sort_unstable();
    let mut out: Vec<AddrRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(l) if l.v6 == r.v6 && l.last.checked_add(1).is_none_or(|n| n >= r.first) => {
                l.last = l.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}
