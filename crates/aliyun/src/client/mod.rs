//! The client: configuration, the shared HTTP connection pool and rate
//! limit, and the typed calls; the paged reads are in `paging`, the attempts
//! and their retries in `transport`.
//!
//! Two types: [`ReadClient`] has only the `Describe*` calls, so code holding
//! one (`moat drift`, `moat export`, plan) cannot change anything by
//! construction; [`Client`] adds the mutating calls and hands out
//! `ReadClient`s that share its pool and limiter.

mod network;
mod paging;
mod transport;

pub use network::{InstanceFilter, InterfaceFilter};
pub(crate) use transport::host_header;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use moat_policy::model::{Direction, LiveGroup, Rule};
use moat_wire::{Action, CreateSecurityGroupResponse, Product, RequestIdResponse, tag_limits};
use reqwest::Url;

use crate::actions::{
    self, GroupFilter, GroupSummary, NewGroup, RULES_PAGE_SIZE, ResourceTag, RevokeReport,
};
use crate::credentials::{CredentialProvider, Credentials};
use crate::endpoint::{
    region_endpoint, region_vpc_endpoint, resolve_endpoint, resolve_vpc_endpoint,
};
use crate::error::{CallError, ConfigError};
use crate::observe::{AttemptObserver, CallInfo, Outcome};
use crate::ratelimit::{AdaptiveRate, Limiters, RateLimiter, RateMode, RegionRate};
use crate::request::{ApiRequest, ClientToken, SignatureVersion};
use crate::retry::RetryPolicy;
use crate::tls::CaBundle;

/// How a client talks to the API.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Region of the groups (`RegionId` of every call, and the endpoint's
    /// region unless `endpoint` is given).
    pub region: String,
    /// An endpoint URL that wins over the region's (`--endpoint`), for ECS
    /// calls and, unless `vpc_endpoint` is given, VPC calls.
    pub endpoint: Option<String>,
    /// An endpoint URL for VPC calls alone (`--vpc-endpoint`).
    pub vpc_endpoint: Option<String>,
    /// Allow plain http to a host that is not loopback (`--insecure-http`).
    pub insecure_http: bool,
    pub credentials: CredentialProvider,
    /// The request signature (`--signature-version`); ACS3 by default, as
    /// Alibaba's current SDKs.
    pub signature_version: SignatureVersion,
    /// Without `adaptive`: calls per second shared by every task of the
    /// client and of every client derived from it, in all regions
    /// (`--max-rps`), or `None` for no limit. With `adaptive`: the most
    /// each region's adaptive rate may reach. Retries count like any call.
    pub max_rps: Option<f64>,
    /// Calls allowed at once after a quiet spell at a fixed rate (at least
    /// 1).
    pub burst: u32,
    /// A rate per region that finds the quota by itself (see
    /// [`crate::ratelimit::control`]), capped by `max_rps`.
    pub adaptive: Option<AdaptiveRate>,
    /// Bound on each attempt, from sending the request to the end of the
    /// answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// `MaxResults` of `DescribeSecurityGroupAttribute` (10 to 1000).
    pub rules_page_size: u32,
    /// Roots trusted for https besides the platform's.
    pub ca_bundle: Option<CaBundle>,
}

impl ClientConfig {
    /// Defaults: the region's https endpoint, a fixed 10 calls per second
    /// with no burst, 20 s per attempt, [`RetryPolicy::default`], 1000 rules a page.
    pub fn new(region: impl Into<String>, credentials: CredentialProvider) -> ClientConfig {
        ClientConfig {
            region: region.into(),
            endpoint: None,
            vpc_endpoint: None,
            insecure_http: false,
            credentials,
            signature_version: SignatureVersion::default(),
            max_rps: Some(10.0),
            burst: 1,
            adaptive: None,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            rules_page_size: RULES_PAGE_SIZE,
            ca_bundle: None,
        }
    }

    pub fn with_credentials(region: impl Into<String>, credentials: Credentials) -> ClientConfig {
        ClientConfig::new(region, CredentialProvider::fixed(credentials))
    }

    /// How calls are paced, from `max_rps`, `burst` and `adaptive`.
    pub fn rate_mode(&self) -> RateMode {
        match (&self.adaptive, self.max_rps) {
            (Some(a), cap) => RateMode::Adaptive(AdaptiveRate {
                cap: match (a.cap, cap) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                },
                ..a.clone()
            }),
            (None, Some(per_second)) => RateMode::Fixed {
                per_second,
                burst: self.burst,
            },
            (None, None) => RateMode::Unlimited,
        }
    }
}

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    endpoint: Url,
    endpoint_overridden: bool,
    /// Where VPC calls go.
    vpc_endpoint: Url,
    /// The `vpc_endpoint` or `endpoint` override, kept for other regions.
    vpc_override: Option<Url>,
    region: String,
    credentials: CredentialProvider,
    signature_version: SignatureVersion,
    /// Shared with every client derived from this one.
    limiters: Arc<Limiters>,
    /// This region's.
    limiter: Option<Arc<RateLimiter>>,
    retry: RetryPolicy,
    timeout: Duration,
    rules_page_size: u32,
}

impl Shared {
    fn new(config: &ClientConfig) -> Result<Shared, ConfigError> {
        let endpoint = resolve_endpoint(
            &config.region,
            config.endpoint.as_deref(),
            config.insecure_http,
        )?;
        let vpc_endpoint = resolve_vpc_endpoint(
            &config.region,
            config.endpoint.as_deref(),
            config.vpc_endpoint.as_deref(),
            config.insecure_http,
        )?;
        let vpc_override = (config.endpoint.is_some() || config.vpc_endpoint.is_some())
            .then(|| vpc_endpoint.clone());
        // The region goes into every request, so it is checked even when an
        // endpoint override means it does not pick the host.
        region_endpoint(&config.region)?;
        let limiters = Arc::new(Limiters::new(config.rate_mode())?);
        let limiter = limiters.for_region(&config.region);
        if !(10..=1000).contains(&config.rules_page_size) {
            return Err(ConfigError::InvalidPageSize {
                value: config.rules_page_size,
            });
        }
        // One pool for every call: connections are reused across calls and
        // tasks. No proxy from the environment: this library does not read
        // the process environment. TLS as `crate::tls` sets it up, loaded
        // once per process.
        let http = crate::tls::http_client(config.ca_bundle.as_ref())
            .map_err(ConfigError::Tls)?
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("moat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Http)?;
        Ok(Shared {
            http,
            endpoint,
            endpoint_overridden: config.endpoint.is_some(),
            vpc_endpoint,
            vpc_override,
            region: config.region.clone(),
            credentials: config.credentials.clone(),
            limiters,
            signature_version: config.signature_version,
            limiter,
            retry: config.retry.clone(),
            timeout: config.timeout,
            rules_page_size: config.rules_page_size,
        })
    }
}

/// The read-only calls. Cheap to clone; clones share the connection pool
/// and the rate limit.
#[derive(Clone, Debug)]
pub struct ReadClient {
    shared: Arc<Shared>,
    observer: Option<Arc<dyn AttemptObserver>>,
    /// Set on every `ReadClient` a user can hold; the one inside a
    /// [`Client`] is the only one without it. Checked before each call as
    /// a second guard behind the missing methods.
    read_only: bool,
}

/// Every call. Cheap to clone; clones share the connection pool and the
/// rate limit.
#[derive(Clone, Debug)]
pub struct Client {
    inner: ReadClient,
}

impl Client {
    pub fn new(config: &ClientConfig) -> Result<Client, ConfigError> {
        Ok(Client {
            inner: ReadClient {
                shared: Arc::new(Shared::new(config)?),
                observer: None,
                read_only: false,
            },
        })
    }

    /// A client for the read-only calls, sharing this one's pool, limiter
    /// and observer.
    pub fn read_only(&self) -> ReadClient {
        ReadClient {
            read_only: true,
            ..self.inner.clone()
        }
    }

    /// The same client reporting every attempt to `observer`.
    pub fn with_observer(&self, observer: Arc<dyn AttemptObserver>) -> Client {
        Client {
            inner: self.inner.with_observer(observer),
        }
    }

    /// A client for another region sharing this one's pool, credentials,
    /// observer and limiters (a fixed rate is shared by all regions; an
    /// adaptive one is that region's own, the same for every client asking
    /// for it). With an endpoint override the endpoint stays; otherwise it
    /// becomes that region's.
    pub fn for_region(&self, region: &str) -> Result<Client, ConfigError> {
        Ok(Client {
            inner: self.inner.for_region(region)?,
        })
    }

    pub fn region(&self) -> &str {
        self.inner.region()
    }

    /// See [`ReadClient::rate_stats`].
    pub fn rate_stats(&self) -> Vec<RegionRate> {
        self.inner.rate_stats()
    }

    pub fn endpoint(&self) -> &Url {
        self.inner.endpoint()
    }

    /// See [`ReadClient::describe_security_groups`].
    pub async fn describe_security_groups(
        &self,
        filter: &GroupFilter,
    ) -> Result<Outcome<Vec<GroupSummary>>, CallError> {
        self.inner.describe_security_groups(filter).await
    }

    /// See [`ReadClient::describe_security_group_attribute`].
    pub async fn describe_security_group_attribute(
        &self,
        group_id: &str,
        direction: Option<Direction>,
    ) -> Result<Outcome<LiveGroup>, CallError> {
        self.inner
            .describe_security_group_attribute(group_id, direction)
            .await
    }

    /// Adds 1 to 100 rules of one direction in one call
    /// (`AuthorizeSecurityGroup` or `...Egress` with `Permissions.N`).
    /// Rules that already exist are a silent no-op for the service; the
    /// answer names no rule ids, so read the group again to learn them.
    pub async fn authorize(
        &self,
        group_id: &str,
        direction: Direction,
        rules: &[Rule],
        token: &ClientToken,
    ) -> Result<Outcome<()>, CallError> {
        let req = actions::authorize(self.region(), group_id, direction, rules, token)?;
        self.call_unit(&req).await
    }

    /// Removes 1 to 100 rules of one direction by rule id
    /// (`RevokeSecurityGroup` or `...Egress` with `SecurityGroupRuleId.N`).
    ///
    /// Rules already absent are not an error: a "rule not found" answer
    /// (any of [`crate::error::RULE_NOT_FOUND_CODES`]) counts the rule as
    /// done and lists it in [`RevokeReport::already_absent`]. For a batch of
    /// several ids the service does not say which was missing, so the client
    /// reads the group's rules in that direction and revokes the ids still
    /// present in one more call, under a token derived from `token`. Any
    /// other error, a missing group included, is returned as it is.
    pub async fn revoke(
        &self,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
        token: &ClientToken,
    ) -> Result<Outcome<RevokeReport>, CallError> {
        let req = actions::revoke(self.region(), group_id, direction, rule_ids, token)?;
        let first = match self.inner.execute::<RequestIdResponse>(&req).await {
            Ok((_, info)) => {
                return Ok(Outcome {
                    value: RevokeReport {
                        revoked: rule_ids.to_vec(),
                        already_absent: Vec::new(),
                    },
                    calls: vec![info],
                });
            }
            Err(e) if e.is_rule_not_found() => e,
            Err(e) => return Err(e),
        };
        let mut calls = vec![CallInfo {
            action: first.action,
            request_id: first.request_id().unwrap_or_default().to_owned(),
            attempts: first.attempts,
            elapsed: first.elapsed,
        }];
        if rule_ids.len() == 1 {
            tracing::info!(group = group_id, rule = %rule_ids[0], code = first.code().unwrap_or_default(), "rule already absent");
            return Ok(Outcome {
                value: RevokeReport {
                    revoked: Vec::new(),
                    already_absent: rule_ids.to_vec(),
                },
                calls,
            });
        }
        let live = self
            .inner
            .describe_security_group_attribute(group_id, Some(direction))
            .await?;
        calls.extend(live.calls);
        let existing: HashSet<&str> = live
            .value
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .chain(live.value.unmodeled.iter().map(|u| u.id.as_str()))
            .collect();
        let (present, absent): (Vec<String>, Vec<String>) = rule_ids
            .iter()
            .cloned()
            .partition(|id| existing.contains(id.as_str()));
        tracing::info!(
            group = group_id,
            absent = absent.len(),
            present = present.len(),
            "some rules already absent"
        );
        if !present.is_empty() {
            let token = token.derive("revoke-present");
            let req = actions::revoke(self.region(), group_id, direction, &present, &token)?;
            let (_, info) = self.inner.execute::<RequestIdResponse>(&req).await?;
            calls.push(info);
        }
        Ok(Outcome {
            value: RevokeReport {
                revoked: present,
                already_absent: absent,
            },
            calls,
        })
    }

    /// Changes the priority and description of rule `rule_id` in place
    /// (`ModifySecurityGroupRule` or `...EgressRule`, by the direction of
    /// `rule`). An empty description leaves the live one unchanged: the API
    /// cannot clear a field, so clearing takes a new rule and a revoke.
    pub async fn modify_rule(
        &self,
        group_id: &str,
        rule_id: &str,
        rule: &Rule,
        token: &ClientToken,
    ) -> Result<Outcome<()>, CallError> {
        let req = actions::modify_rule(self.region(), group_id, rule_id, rule, token);
        self.call_unit(&req).await
    }

    /// Creates a group and returns its id.
    pub async fn create_security_group(
        &self,
        group: &NewGroup,
        token: &ClientToken,
    ) -> Result<Outcome<String>, CallError> {
        let req = actions::create_security_group(self.region(), group, token);
        let (resp, info) = self
            .inner
            .execute::<CreateSecurityGroupResponse>(&req)
            .await?;
        Ok(Outcome {
            value: resp.security_group_id.to_string(),
            calls: vec![info],
        })
    }

    /// Sets `tags` on security groups, 50 groups a call.
    pub async fn tag_resources(
        &self,
        group_ids: &[String],
        tags: &[(String, String)],
    ) -> Result<Outcome<()>, CallError> {
        let mut calls = Vec::new();
        for chunk in group_ids.chunks(tag_limits::RESOURCES_PER_CALL) {
            let req = actions::tag_resources(self.region(), chunk, tags);
            calls.extend(self.call_unit(&req).await?.calls);
        }
        Ok(Outcome { value: (), calls })
    }

    /// Removes the tag `keys` from security groups, 50 groups a call.
    pub async fn untag_resources(
        &self,
        group_ids: &[String],
        keys: &[String],
    ) -> Result<Outcome<()>, CallError> {
        let mut calls = Vec::new();
        for chunk in group_ids.chunks(tag_limits::RESOURCES_PER_CALL) {
            let req = actions::untag_resources(self.region(), chunk, keys);
            calls.extend(self.call_unit(&req).await?.calls);
        }
        Ok(Outcome { value: (), calls })
    }

    /// See [`ReadClient::list_tag_resources`].
    pub async fn list_tag_resources(
        &self,
        group_ids: &[String],
    ) -> Result<Outcome<Vec<ResourceTag>>, CallError> {
        self.inner.list_tag_resources(group_ids).await
    }

    /// Deletes a group with all its rules.
    pub async fn delete_security_group(&self, group_id: &str) -> Result<Outcome<()>, CallError> {
        let req = actions::delete_security_group(self.region(), group_id);
        self.call_unit(&req).await
    }

    async fn call_unit(&self, req: &ApiRequest) -> Result<Outcome<()>, CallError> {
        let (_, info) = self.inner.execute::<RequestIdResponse>(req).await?;
        Ok(Outcome {
            value: (),
            calls: vec![info],
        })
    }
}

impl ReadClient {
    /// A read-only client of its own (its own pool and limiter).
    pub fn new(config: &ClientConfig) -> Result<ReadClient, ConfigError> {
        Ok(Client::new(config)?.read_only())
    }

    pub fn with_observer(&self, observer: Arc<dyn AttemptObserver>) -> ReadClient {
        ReadClient {
            observer: Some(observer),
            ..self.clone()
        }
    }

    /// See [`Client::for_region`].
    pub fn for_region(&self, region: &str) -> Result<ReadClient, ConfigError> {
        let s = &self.shared;
        let regional = region_endpoint(region)?;
        let endpoint = if s.endpoint_overridden {
            s.endpoint.clone()
        } else {
            regional
        };
        let vpc_endpoint = match &s.vpc_override {
            Some(url) => url.clone(),
            None => region_vpc_endpoint(region)?,
        };
        Ok(ReadClient {
            shared: Arc::new(Shared {
                http: s.http.clone(),
                endpoint,
                endpoint_overridden: s.endpoint_overridden,
                vpc_endpoint,
                vpc_override: s.vpc_override.clone(),
                region: region.to_owned(),
                credentials: s.credentials.clone(),
                limiters: s.limiters.clone(),
                signature_version: s.signature_version,
                limiter: s.limiters.for_region(region),
                retry: s.retry.clone(),
                timeout: s.timeout,
                rules_page_size: s.rules_page_size,
            }),
            observer: self.observer.clone(),
            read_only: self.read_only,
        })
    }

    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// The rate each limiter of this client and its siblings has reached,
    /// by region.
    pub fn rate_stats(&self) -> Vec<RegionRate> {
        self.shared.limiters.stats()
    }

    pub fn endpoint(&self) -> &Url {
        &self.shared.endpoint
    }

    /// Where VPC calls go.
    pub fn vpc_endpoint(&self) -> &Url {
        &self.shared.vpc_endpoint
    }

    /// The endpoint of `action`'s product.
    pub(crate) fn endpoint_of(&self, action: Action) -> &Url {
        match action.product() {
            Product::Ecs => &self.shared.endpoint,
            Product::Vpc => &self.shared.vpc_endpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use moat_wire::RequestIdResponse;

    use super::*;
    use crate::error::CallErrorKind;

    #[tokio::test]
    async fn a_read_only_client_refuses_mutating_actions_before_sending() {
        let mut config =
            ClientConfig::with_credentials("cn-hangzhou", Credentials::access_key("id", "s"));
        // Nothing listens here; the guard must stop the call before any
        // connection is tried.
        config.endpoint = Some("http://127.0.0.1:9".into());
        let read = ReadClient::new(&config).unwrap();
        let req = actions::delete_security_group("cn-hangzhou", "sg-1");
        let err = read.execute::<RequestIdResponse>(&req).await.unwrap_err();
        assert!(matches!(err.kind, CallErrorKind::ReadOnly), "{err:?}");
        assert_eq!(err.attempts, 0);
    }

    /// Executors spawn calls on a multi-threaded runtime: every call's
    /// future must be `Send`, and the clients `Send + Sync`.
    #[test]
    fn clients_and_their_calls_can_cross_threads() {
        fn send<T: Send>(_: &T) {}
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Client>();
        send_sync::<ReadClient>();
        let mut config =
            ClientConfig::with_credentials("cn-hangzhou", Credentials::access_key("id", "s"));
        config.endpoint = Some("http://127.0.0.1:9".into());
        let c = Client::new(&config).unwrap();
        let t = ClientToken::new("t").unwrap();
        let ids = vec!["sgr-1".to_owned()];
        send(&c.describe_security_groups(&GroupFilter::default()));
        send(&c.describe_security_group_attribute("sg", None));
        send(&c.authorize("sg", Direction::Ingress, &[], &t));
        send(&c.revoke("sg", Direction::Ingress, &ids, &t));
        send(&c.delete_security_group("sg"));
        send(&c.create_security_group(&NewGroup::default(), &t));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let creds = Credentials::access_key("id", "s");
        let mut c = ClientConfig::with_credentials("cn-hangzhou", creds);
        c.max_rps = Some(0.0);
        assert!(matches!(
            Client::new(&c),
            Err(ConfigError::InvalidRate { .. })
        ));
        c.max_rps = Some(5.0);
        c.rules_page_size = 5;
        assert!(matches!(
            Client::new(&c),
            Err(ConfigError::InvalidPageSize { .. })
        ));
        c.rules_page_size = 100;
        c.region = "bad region".into();
        assert!(matches!(
            Client::new(&c),
            Err(ConfigError::InvalidRegion { .. })
        ));
        c.region = "cn-beijing".into();
        let client = Client::new(&c).unwrap();
        assert_eq!(
            client.endpoint().as_str(),
            "https://ecs.cn-beijing.aliyuncs.com/"
        );
        let other = client.for_region("cn-hangzhou").unwrap();
        assert_eq!(
            other.endpoint().as_str(),
            "https://ecs-cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(other.region(), "cn-hangzhou");
        assert_eq!(
            other.read_only().vpc_endpoint().as_str(),
            "https://vpc.cn-hangzhou.aliyuncs.com/"
        );
    }

    #[test]
    fn vpc_calls_follow_the_endpoint_unless_the_vpc_endpoint_is_given() {
        let creds = Credentials::access_key("id", "s");
        let mut c = ClientConfig::with_credentials("cn-beijing", creds);
        c.endpoint = Some("http://127.0.0.1:9000".into());
        let one = ReadClient::new(&c).unwrap();
        assert_eq!(one.vpc_endpoint().as_str(), "http://127.0.0.1:9000/");
        assert_eq!(
            one.endpoint_of(Action::DescribeVSwitches).as_str(),
            "http://127.0.0.1:9000/"
        );
        c.vpc_endpoint = Some("http://127.0.0.1:9001".into());
        let two = ReadClient::new(&c)
            .unwrap()
            .for_region("cn-shanghai")
            .unwrap();
        assert_eq!(two.endpoint().as_str(), "http://127.0.0.1:9000/");
        assert_eq!(two.vpc_endpoint().as_str(), "http://127.0.0.1:9001/");
        assert_eq!(
            two.endpoint_of(Action::DescribeInstances).as_str(),
            "http://127.0.0.1:9000/"
        );
        // Plain http is for loopback only, for this flag too.
        c.vpc_endpoint = Some("http://vpc.example.com".into());
        assert!(matches!(
            ReadClient::new(&c),
            Err(ConfigError::PlainHttpNotLoopback { .. })
        ));
    }
}
