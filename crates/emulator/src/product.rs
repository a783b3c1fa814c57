//! What a product (an API of one version, such as ECS 2014-05-26 or STS
//! 2015-04-01) gives the service shell: its version, its host name for
//! error answers, and a table of actions with their handlers.
//!
//! Adding a product is a new module with a [`Product`] constant and one
//! entry in [`crate::emulator::PRODUCTS`]; adding an action is one
//! [`ActionSpec`] in its product's table.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::{Authenticator, Caller};
use crate::error::ApiError;
use crate::ids::IdGen;
use crate::model::State;
use crate::params::Params;
use crate::sts::Directory;

/// A successful answer before its RequestId is set: the members of the JSON
/// object in order. Kept as data so that a ClientToken replay can answer
/// again with a fresh RequestId.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Answer(Map<String, Value>);

impl Answer {
    /// `{"RequestId": ...}` and nothing else.
    pub(crate) fn empty() -> Answer {
        Answer::default()
    }

    /// The members of a wire answer; its own `RequestId` member is dropped
    /// (the shell sets it).
    pub(crate) fn of<T: Serialize>(body: &T) -> Answer {
        // Serialising the plain wire structs cannot fail (string keys, no
        // non-finite floats); an object that is not one is an empty answer.
        let mut map = match serde_json::to_value(body) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        map.shift_remove("RequestId");
        Answer(map)
    }

    /// Adds a member at the end.
    pub(crate) fn with(mut self, name: &str, value: Value) -> Answer {
        self.0.insert(name.to_owned(), value);
        self
    }

    /// The JSON text, `RequestId` first as the service writes it.
    pub(crate) fn render(&self, request_id: &str) -> String {
        let mut map = Map::with_capacity(self.0.len() + 1);
        map.insert("RequestId".to_owned(), Value::from(request_id));
        map.extend(self.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(map).to_string()
    }
}

/// The emulated cloud every product acts on, under the shell's lock.
#[derive(Debug)]
pub(crate) struct Cloud {
    pub state: State,
    pub ids: IdGen,
}

/// Settings of the emulator that actions consult.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Rules per security group, both directions together.
    pub rules_per_group: usize,
}

/// One authenticated call as a handler sees it.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub params: &'a Params,
    /// The `RegionId` of a regional product's call (checked to be known);
    /// empty for a global product.
    pub region: &'a str,
    pub now: i64,
    /// Who signed the call; `None` for an action that takes no signature.
    pub caller: Option<&'a Caller>,
    pub limits: Limits,
    /// Accepted keys and the credentials STS has issued.
    pub auth: &'a Authenticator,
    /// The roles and OIDC providers STS knows.
    pub sts: &'a Directory,
}

/// Reads the cloud.
pub(crate) type ReadFn = fn(&Cloud, &Call) -> Result<Answer, ApiError>;
/// Changes the cloud; returns the answer and whether anything changed (so
/// that the state file is written only then).
pub(crate) type WriteFn = fn(&mut Cloud, &Call) -> Result<(Answer, bool), ApiError>;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Handler {
    Read(ReadFn),
    /// A mutating call: ClientToken replays apply to it.
    Write(WriteFn),
}

/// How a call must be authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Signed with an accepted key (v1.0 or ACS3).
    Signed,
    /// Taken without a signature (STS AssumeRoleWithOIDC: the token is the
    /// credential).
    Anonymous,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ActionSpec {
    pub name: &'static str,
    pub auth: Auth,
    pub handler: Handler,
}

impl ActionSpec {
    /// A signed action that reads the cloud.
    pub(crate) const fn read(name: &'static str, f: ReadFn) -> ActionSpec {
        ActionSpec {
            name,
            auth: Auth::Signed,
            handler: Handler::Read(f),
        }
    }

    /// A signed action that changes the cloud.
    pub(crate) const fn write(name: &'static str, f: WriteFn) -> ActionSpec {
        ActionSpec {
            name,
            auth: Auth::Signed,
            handler: Handler::Write(f),
        }
    }
}

/// One API (product and version).
#[derive(Debug)]
pub(crate) struct Product {
    /// The product code in error answers' `Recommend` links (`Ecs`, `Sts`).
    pub code: &'static str,
    /// The `Version` its requests carry.
    pub version: &'static str,
    /// The first label of its endpoints' host names (`ecs`, `sts`).
    pub service: &'static str,
    /// Whether its calls need a known `RegionId` (and its endpoints are
    /// regional).
    pub regional: bool,
    pub actions: &'static [ActionSpec],
}

impl Product {
    /// The host its error answers name in `HostId`: the region's endpoint
    /// (`ecs.cn-hangzhou.aliyuncs.com`), or the central one when the call
    /// named no region or the product has no regional endpoints.
    pub(crate) fn host(&self, region: &str) -> String {
        if self.regional && !region.is_empty() {
            format!("{}.{region}.aliyuncs.com", self.service)
        } else {
            format!("{}.aliyuncs.com", self.service)
        }
    }

    pub(crate) fn action(&self, name: &str) -> Option<&ActionSpec> {
        // Exact, case-sensitive, as the service matches action names.
        self.actions.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_comes_first_and_replaces_the_bodys_own() {
        let a = Answer::of(&serde_json::json!({"RequestId": "old", "B": 1, "A": [2]}))
            .with("Z", Value::from("z"));
        assert_eq!(
            a.render("new"),
            r#"{"RequestId":"new","B":1,"A":[2],"Z":"z"}"#
        );
        assert_eq!(Answer::empty().render("r"), r#"{"RequestId":"r"}"#);
    }
}
