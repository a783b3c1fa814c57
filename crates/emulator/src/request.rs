//! One API request as the server received it: what the signature checks and
//! the dispatch need, independent of HTTP.

use crate::params::Params;

/// An API request: method, path, the raw query string, headers, body and
/// the parameters of query and form body merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    /// The path as sent, `/` for every RPC call.
    pub path: String,
    /// The query string as sent (percent-encoded), without the `?`.
    pub query: String,
    /// Header names in lower case, values as sent, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub params: Params,
}

impl ApiRequest {
    /// A request on `/` carrying `params` (as the query string would), with
    /// no headers and no body.
    pub fn new(method: &str, params: Params) -> ApiRequest {
        ApiRequest {
            method: method.to_owned(),
            path: "/".to_owned(),
            params,
            ..ApiRequest::default()
        }
    }

    /// Adds a header (its name is stored in lower case).
    pub fn with_header(mut self, name: &str, value: &str) -> ApiRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The first value of header `name` (any letter case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The action: the `Action` parameter, else the `x-acs-action` header
    /// (ACS3 requests carry it there).
    pub fn action(&self) -> Option<&str> {
        self.params
            .get("Action")
            .or_else(|| self.header("x-acs-action").filter(|v| !v.is_empty()))
    }

    /// The API version: the `Version` parameter, else `x-acs-version`.
    pub fn version(&self) -> Option<&str> {
        self.params
            .get("Version")
            .or_else(|| self.header("x-acs-version").filter(|v| !v.is_empty()))
    }
}
