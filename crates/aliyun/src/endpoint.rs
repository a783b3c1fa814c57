//! Which URL a client talks to: the region's endpoint by default
//! (reference 1.1), an override when given, and plain http only where it
//! cannot be sniffed (loopback) unless the user insists.

use std::net::IpAddr;

use reqwest::Url;

use crate::error::ConfigError;

/// The region's public endpoint: `https://ecs.<region>.aliyuncs.com/`, except
/// cn-hangzhou, which both official SDKs map to `ecs-cn-hangzhou.aliyuncs.com`.
pub fn region_endpoint(region: &str) -> Result<Url, ConfigError> {
    let valid = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(ConfigError::InvalidRegion {
            region: region.to_owned(),
        });
    }
    let host = if region == "cn-hangzhou" {
        "ecs-cn-hangzhou.aliyuncs.com".to_owned()
    } else {
        format!("ecs.{region}.aliyuncs.com")
    };
    Url::parse(&format!("https://{host}/")).map_err(|_| ConfigError::InvalidRegion {
        region: region.to_owned(),
    })
}

/// The region's VPC endpoint: `https://vpc.<region>.aliyuncs.com/` (the
/// product's regional host, which every region answers on).
pub fn region_vpc_endpoint(region: &str) -> Result<Url, ConfigError> {
    // The same check of the region's spelling as for ECS.
    region_endpoint(region)?;
    Url::parse(&format!("https://vpc.{region}.aliyuncs.com/")).map_err(|_| {
        ConfigError::InvalidRegion {
            region: region.to_owned(),
        }
    })
}

/// The URL VPC calls go to: `vpc_endpoint` (`--vpc-endpoint`) when given,
/// else `endpoint` (`--endpoint`, one server answering both products, as
/// the emulator does), else the region's VPC endpoint. The same rules of
/// scheme and loopback as [`resolve_endpoint`].
pub fn resolve_vpc_endpoint(
    region: &str,
    endpoint: Option<&str>,
    vpc_endpoint: Option<&str>,
    insecure_http: bool,
) -> Result<Url, ConfigError> {
    match vpc_endpoint.or(endpoint) {
        Some(text) => resolve_endpoint(region, Some(text), insecure_http),
        None => region_vpc_endpoint(region),
    }
}

/// The URL to send requests to: `endpoint` when given (it wins), else the
/// region's. Requests always go to path `/`.
pub fn resolve_endpoint(
    region: &str,
    endpoint: Option<&str>,
    insecure_http: bool,
) -> Result<Url, ConfigError> {
    let Some(text) = endpoint else {
        return region_endpoint(region);
    };
    let invalid = || ConfigError::InvalidEndpoint {
        endpoint: text.to_owned(),
    };
    if !text.contains("://") {
        return Err(invalid());
    }
    let mut url = Url::parse(text).map_err(|_| invalid())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    match url.scheme() {
        "https" => {}
        "http" if insecure_http || is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError::PlainHttpNotLoopback {
                endpoint: text.to_owned(),
            });
        }
        other => {
            return Err(ConfigError::UnsupportedScheme {
                endpoint: text.to_owned(),
                scheme: other.to_owned(),
            });
        }
    }
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// True for `localhost`, 127.0.0.0/8 and ::1.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_endpoints() {
        assert_eq!(
            region_endpoint("cn-beijing").unwrap().as_str(),
            "https://ecs.cn-beijing.aliyuncs.com/"
        );
        assert_eq!(
            region_endpoint("cn-hangzhou").unwrap().as_str(),
            "https://ecs-cn-hangzhou.aliyuncs.com/"
        );
        assert!(region_endpoint("evil.com/x?").is_err());
        assert!(region_endpoint("").is_err());
    }

    #[test]
    fn an_override_wins_and_plain_http_needs_loopback_or_consent() {
        let url = resolve_endpoint("cn-beijing", Some("http://127.0.0.1:8080"), false).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/");
        assert!(resolve_endpoint("x", Some("http://[::1]:9/"), false).is_ok());
        assert!(resolve_endpoint("x", Some("http://localhost:9"), false).is_ok());
        assert!(resolve_endpoint("x", Some("http://127.8.9.10:9"), false).is_ok());
        assert!(matches!(
            resolve_endpoint("x", Some("http://10.0.0.1:80"), false),
            Err(ConfigError::PlainHttpNotLoopback { .. })
        ));
        assert!(resolve_endpoint("x", Some("http://10.0.0.1:80"), true).is_ok());
        assert!(resolve_endpoint("x", Some("https://ecs.example.test"), false).is_ok());
        assert!(matches!(
            resolve_endpoint("x", Some("127.0.0.1:8080"), false),
            Err(ConfigError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            resolve_endpoint("x", Some("ftp://h"), false),
            Err(ConfigError::UnsupportedScheme { .. })
        ));
    }
}
