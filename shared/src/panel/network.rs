//! Which addresses Madar may call on a customer's behalf.
//!
//! A panel URL comes from a customer, so it must not let them make Madar call its own
//! internals (server-side request forgery). [`NetworkPolicy`] refuses loopback, private,
//! shared (CGNAT), link-local, unique-local, unspecified, multicast and broadcast addresses and
//! the platform's own networks, unless the operator allow-lists them. DNS names are checked
//! on every resolution by the clients' resolver, and the HTTP client connects only to the
//! addresses it returned, so a name cannot be re-pointed after the check (DNS rebinding).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

use super::error::PanelError;

/// One entry of an allow or deny list: a network (`10.0.0.0/8`, `127.0.0.1`) or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetRule {
    Net(IpNet),
    /// A host name, compared case-insensitively and without a trailing dot.
    Host(String),
}

impl NetRule {
    /// Parses `10.0.0.0/8`, `127.0.0.1`, `::1` or a host name such as `marzban.internal`.
    pub fn parse(raw: &str) -> Result<NetRule, PanelError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(PanelError::InvalidRequest(
                "an empty network rule; write an address, a CIDR range or a host name".into(),
            ));
        }
        if let Ok(net) = raw.parse::<IpNet>() {
            return Ok(NetRule::Net(net.trunc()));
        }
        if let Ok(ip) = raw.parse::<IpAddr>() {
            return Ok(NetRule::Net(IpNet::from(ip)));
        }
        match Host::parse(raw) {
            Ok(Host::Domain(domain)) => Ok(NetRule::Host(normalise_host(&domain))),
            _ => Err(PanelError::InvalidRequest(format!(
                "\"{raw}\" is neither an address, a CIDR range nor a host name"
            ))),
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            NetRule::Net(net) => net.contains(&ip),
            NetRule::Host(_) => false,
        }
    }

    fn matches_host(&self, host: &str) -> bool {
        match self {
            NetRule::Host(name) => *name == normalise_host(host),
            NetRule::Net(_) => false,
        }
    }
}

/// Written back in the form [`NetRule::parse`] reads, so a policy can be handed on as text.
impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetRule::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            NetRule::Net(net) => write!(f, "{net}"),
            NetRule::Host(name) => f.write_str(name),
        }
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Where panel clients may connect. `Default` refuses every non-public address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Allowed even when they would otherwise be refused (the operator's explicit choice).
    allow: Vec<NetRule>,
    /// The platform's own networks and hosts: refused unless allow-listed.
    platform: Vec<NetRule>,
}

impl NetworkPolicy {
    /// Refuses every non-public address and nothing else.
    pub fn strict() -> NetworkPolicy {
        NetworkPolicy::default()
    }

    /// Allows one address, range or host name (for example a panel on the operator's LAN).
    pub fn allow(mut self, rule: NetRule) -> NetworkPolicy {
        self.allow.push(rule);
        self
    }

    /// The operator's allow-list, to hand on to tenant bots (which check their own panels).
    pub fn allowed(&self) -> &[NetRule] {
        &self.allow
    }

    /// Refuses one of the platform's own addresses, ranges or host names.
    pub fn deny_platform(mut self, rule: NetRule) -> NetworkPolicy {
        self.platform.push(rule);
        self
    }

    /// Builds a policy from configuration lists such as `["127.0.0.1", "10.1.0.0/16"]`.
    pub fn from_lists(allow: &[String], platform: &[String]) -> Result<NetworkPolicy, PanelError> {
        let mut policy = NetworkPolicy::strict();
        for rule in allow {
            policy = policy.allow(NetRule::parse(rule)?);
        }
        for rule in platform {
            policy = policy.deny_platform(NetRule::parse(rule)?);
        }
        Ok(policy)
    }

    /// Whether `ip` may be called; the error says why not.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), PanelError> {
        let ip = canonical(ip);
        if self.allow.iter().any(|rule| rule.matches_ip(ip)) {
            return Ok(());
        }
        let refuse = |reason: &str| {
            Err(PanelError::RefusedAddress {
                host: host.to_string(),
                reason: format!("{ip} is {reason}"),
            })
        };
        if self.platform.iter().any(|rule| rule.matches_ip(ip)) {
            return refuse("one of the platform's own addresses");
        }
        match non_public_reason(ip) {
            Some(reason) => refuse(reason),
            None => Ok(()),
        }
    }

    /// Whether a host name is refused or allowed outright, before resolving it.
    fn check_name(&self, host: &str) -> NameVerdict {
        if self.allow.iter().any(|rule| rule.matches_host(host)) {
            return NameVerdict::Allowed;
        }
        if self.platform.iter().any(|rule| rule.matches_host(host)) {
            return NameVerdict::Refused("one of the platform's own hosts");
        }
        let host = normalise_host(host);
        if host == "localhost" || host.ends_with(".localhost") {
            return NameVerdict::Refused("the local machine");
        }
        NameVerdict::Resolve
    }

    /// Resolves `host` and checks every address it resolves to; returns them all.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, PanelError> {
        let allowed_by_name = match self.check_name(host) {
            NameVerdict::Allowed => true,
            NameVerdict::Refused(reason) => {
                return Err(PanelError::RefusedAddress {
                    host: host.to_string(),
                    reason: format!("it names {reason}"),
                })
            }
            NameVerdict::Resolve => false,
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| PanelError::Unreachable(format!("cannot resolve {host}: {error}")))?
            .collect();
        if addrs.is_empty() {
            return Err(PanelError::Unreachable(format!(
                "{host} does not resolve to any address"
            )));
        }
        if !allowed_by_name {
            for addr in &addrs {
                self.check_ip(host, addr.ip())?;
            }
        }
        Ok(addrs)
    }
}

enum NameVerdict {
    Allowed,
    Refused(&'static str),
    Resolve,
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || a >= 240 {
        Some("a multicast, reserved or broadcast address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("a protocol-assignment address")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking address")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique-local (private) address")
    } else if first & 0xffc0 == 0xfec0 {
        Some("a site-local (private) address")
    } else if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: judge the IPv4 address inside.
        let [.., g, h] = ip.segments();
        let v4 = Ipv4Addr::new((g >> 8) as u8, g as u8, (h >> 8) as u8, h as u8);
        non_public_v4(v4)
    } else {
        None
    }
}

/// The address of a panel, checked against a [`NetworkPolicy`]: http(s), no user name or
/// password in it, and a literal IP address must be allowed. Host names are checked again
/// at every connection, by the client's resolver.
#[derive(Clone, PartialEq, Eq)]
pub struct PanelUrl(Url);

impl PanelUrl {
    /// Parses what a person typed. The path is kept (it is 3x-UI's base path, or the prefix
    /// of a Marzban behind a reverse proxy) and always ends with `/`.
    pub fn parse(raw: &str, policy: &NetworkPolicy) -> Result<PanelUrl, PanelError> {
        let raw = raw.trim();
        let mut url = Url::parse(raw).map_err(|error| {
            PanelError::InvalidUrl(format!(
                "{error}; write it like https://panel.example.com:8443/"
            ))
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(PanelError::InvalidUrl(format!(
                "the address must start with https:// (or http://), not {}://",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PanelError::InvalidUrl(
                "the address must not contain a user name or password; enter them separately"
                    .into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            url.set_query(None);
            url.set_fragment(None);
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        match url.host() {
            Some(Host::Ipv4(ip)) => policy.check_ip(&ip.to_string(), IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => policy.check_ip(&ip.to_string(), IpAddr::V6(ip))?,
            Some(Host::Domain(domain)) => {
                if let NameVerdict::Refused(reason) = policy.check_name(domain) {
                    return Err(PanelError::RefusedAddress {
                        host: domain.to_string(),
                        reason: format!("it names {reason}"),
                    });
                }
            }
            None => return Err(PanelError::InvalidUrl("the address has no host".into())),
        }
        Ok(PanelUrl(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn host_str(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }

    /// Resolves the host (when it is a name) and checks every address against `policy`.
    pub async fn check_resolved(&self, policy: &NetworkPolicy) -> Result<(), PanelError> {
        if let Some(Host::Domain(domain)) = self.0.host() {
            policy.resolve(domain, self.port()).await?;
        }
        Ok(())
    }

    /// `relative` (no leading `/`) under this URL's path.
    pub(crate) fn join(&self, relative: &str) -> Result<Url, PanelError> {
        self.0
            .join(relative)
            .map_err(|error| PanelError::InvalidUrl(format!("cannot build {relative}: {error}")))
    }
}

impl fmt::Debug for PanelUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PanelUrl({})", self.0)
    }
}

impl fmt::Display for PanelUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// The marker error a refused resolution carries through reqwest, so that the client can
/// report [`PanelError::RefusedAddress`] instead of a generic connection failure.
#[derive(Debug)]
pub(crate) struct RefusedByPolicy(pub PanelError);

impl fmt::Display for RefusedByPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RefusedByPolicy {}

/// reqwest's DNS resolver for panel clients: resolves with the system resolver and hands
/// reqwest only addresses the policy allows, so the connection goes to a checked address.
#[derive(Debug, Clone)]
pub(crate) struct PolicyResolver {
    policy: Arc<NetworkPolicy>,
}

impl PolicyResolver {
    pub(crate) fn new(policy: Arc<NetworkPolicy>) -> PolicyResolver {
        PolicyResolver { policy }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // The port is replaced by reqwest with the URL's port.
            match policy.resolve(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(error) => Err(Box::new(RefusedByPolicy(error)) as _),
            }
        })
    }
}
