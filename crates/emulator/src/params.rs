//! Request parameters: the query string and a form body, merged.

use std::collections::BTreeMap;

/// The parameters of one API request, decoded with form rules (`+` is a
/// space, reference 1.6). Sorted by name, which is also the order the
/// canonical string needs. When a name appears twice the last value wins;
/// the SDKs never repeat a name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Merges the query string and, when given, an
    /// `application/x-www-form-urlencoded` body (body values win).
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Params {
        let mut map = BTreeMap::new();
        if let Some(q) = query {
            map.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        if let Some(body) = form_body {
            map.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(map)
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Params
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The value as sent, empty or not.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value when present and not empty: the API treats an empty business
    /// parameter as one not given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).filter(|v| !v.is_empty())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Parameters whose name starts with `prefix`, in name order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space_and_percent_escapes_decode() {
        let p = Params::parse(Some("A=SSH+admin%2Fops&B=%20x&C="), None);
        assert_eq!(p.get("A"), Some("SSH admin/ops"));
        assert_eq!(p.get("B"), Some(" x"));
        assert_eq!(p.raw("C"), Some(""));
        assert_eq!(p.get("C"), None);
        assert!(p.contains("C"));
    }

    #[test]
    fn body_is_merged_with_the_query() {
        let p = Params::parse(Some("Action=X&A=1"), Some(b"B=2&A=3"));
        assert_eq!(p.get("Action"), Some("X"));
        assert_eq!(p.get("B"), Some("2"));
        assert_eq!(p.get("A"), Some("3"));
    }

    #[test]
    fn prefix_scan_stops_at_the_first_other_name() {
        let p = Params::from_pairs([
            ("Permissions.1.A", "a"),
            ("Permissions.10.A", "b"),
            ("PermissionsX", "c"),
            ("Q", "d"),
        ]);
        let names: Vec<_> = p.with_prefix("Permissions.").map(|(k, _)| k).collect();
        assert_eq!(names, ["Permissions.1.A", "Permissions.10.A"]);
    }
}
