//! The `filters` query parameter of the list, prune and events endpoints.
//!
//! Docker accepts two JSON shapes for it, and so does [`Filters::from_query`]:
//! `{"status":{"running":true}}`, what current clients send, and the older
//! `{"status":["running"]}`. [`Filters`] serialises to the first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `filters` parameter that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiltersError {
    /// Not JSON, or JSON of neither accepted shape.
    #[error("invalid `filters` query parameter {value:?}: {reason}")]
    InvalidJson { value: String, reason: String },
    /// A key the endpoint does not filter on (Docker's wording).
    #[error("invalid filter '{key}'")]
    UnknownKey { key: String },
}

/// Filter values by key. Several values for one key mean "any of them" for most keys
/// and "all of them" for `label`; that is the caller's to decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Values kept sorted and without duplicates, so that [`Filters::get`] can lend a
    /// slice.
    fields: BTreeMap<String, Vec<String>>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the value of the `filters` query parameter (already URL-decoded). An
    /// empty value means no filters.
    pub fn from_query(value: &str) -> Result<Self, FiltersError> {
        if value.trim().is_empty() {
            return Ok(Self::new());
        }
        let invalid = |reason: String| FiltersError::InvalidJson {
            value: value.to_string(),
            reason,
        };
        let json: serde_json::Value =
            serde_json::from_str(value).map_err(|e| invalid(e.to_string()))?;
        Self::from_json_value(json).map_err(invalid)
    }

    fn from_json_value(json: serde_json::Value) -> Result<Self, String> {
        use serde_json::Value;
        let Value::Object(top) = json else {
            return Err("expected a JSON object of filter names".into());
        };
        let mut filters = Self::new();
        for (key, values) in top {
            match values {
                // {"status":{"running":true}}: the map's keys are the values. Docker
                // keeps a value whatever its boolean says, and so does berth.
                Value::Object(set) => {
                    for (v, flag) in set {
                        if !flag.is_boolean() {
                            return Err(format!("filter '{key}': value {v:?} must map to true"));
                        }
                        filters.add(&key, v);
                    }
                }
                // {"status":["running"]}
                Value::Array(list) => {
                    for v in list {
                        let Value::String(v) = v else {
                            return Err(format!("filter '{key}': values must be strings"));
                        };
                        filters.add(&key, v);
                    }
                }
                Value::Null => {}
                other => {
                    return Err(format!(
                        "filter '{key}': expected a list or an object of values, found {other}"
                    ))
                }
            }
            filters.fields.entry(key).or_default();
        }
        Ok(filters)
    }

    /// Adds one value for `key`.
    pub fn add(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        let values = self.fields.entry(key.to_string()).or_default();
        let value = value.into();
        if let Err(at) = values.binary_search(&value) {
            values.insert(at, value);
        }
        self
    }

    /// The values given for `key`, sorted; empty when none.
    pub fn get(&self, key: &str) -> &[String] {
        self.fields.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `key` was given at all.
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// Fails on the first key not in `allowed`, naming it.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FiltersError> {
        match self.keys().find(|k| !allowed.contains(k)) {
            Some(key) => Err(FiltersError::UnknownKey {
                key: key.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// True when `key` has no values or one of them equals `value`.
    pub fn exact_match(&self, key: &str, value: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| v == value)
    }

    /// True when `key` has no values or one of them is a prefix of `value` (how ids are
    /// matched: `id=4f6` matches `4f66ad9a…`).
    pub fn prefix_match(&self, key: &str, value: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| value.starts_with(v.as_str()))
    }

    /// True when every `label` filter holds for `labels`: `key` (present), `key=value`
    /// (present with that value) or `key!=value` (absent or another value). True when
    /// there is no `label` filter.
    pub fn match_label(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_kv("label", labels)
    }

    /// [`Filters::match_label`] for any key holding `k`, `k=v` or `k!=v` values.
    pub fn match_kv(&self, key: &str, pairs: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|filter| {
            if let Some((k, v)) = filter.split_once("!=") {
                !matches!(pairs.get(k), Some(have) if have == v)
            } else if let Some((k, v)) = filter.split_once('=') {
                pairs.get(k).is_some_and(|have| have == v)
            } else {
                pairs.contains_key(filter.as_str())
            }
        })
    }

    /// The `{"key":{"value":true}}` form, for a query string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a map of strings always serialises")
    }
}

impl Serialize for Filters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, BTreeMap<&str, bool>> = self
            .fields
            .iter()
            .map(|(k, vs)| (k.as_str(), vs.iter().map(|v| (v.as_str(), true)).collect()))
            .collect();
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filters {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        Self::from_json_value(json).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_form_parses() {
        let f = Filters::from_query(
            r#"{"status":{"running":true,"paused":true},"label":{"a=b":true}}"#,
        )
        .unwrap();
        assert_eq!(f.get("status"), ["paused", "running"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(f.contains("status"));
        assert!(!f.contains("name"));
        assert_eq!(f.get("name"), [] as [String; 0]);
    }

    #[test]
    fn list_form_parses_to_the_same() {
        let list =
            Filters::from_query(r#"{"status":["running","paused"],"label":["a=b"]}"#).unwrap();
        let map = Filters::from_query(
            r#"{"status":{"running":true,"paused":true},"label":{"a=b":true}}"#,
        )
        .unwrap();
        assert_eq!(list, map);
    }

    #[test]
    fn empty_parameter_means_no_filters() {
        assert!(Filters::from_query("").unwrap().is_empty());
        assert!(Filters::from_query("{}").unwrap().is_empty());
    }

    #[test]
    fn bad_json_names_the_parameter() {
        let err = Filters::from_query("{status:running").unwrap_err();
        assert!(matches!(err, FiltersError::InvalidJson { .. }));
        let msg = err.to_string();
        assert!(msg.contains("`filters` query parameter"), "{msg}");
        assert!(msg.contains("{status:running"), "{msg}");
    }

    #[test]
    fn wrong_shape_is_rejected() {
        for bad in [
            r#"["status"]"#,
            r#"{"status":"running"}"#,
            r#"{"status":[1]}"#,
            r#"{"status":{"running":"yes"}}"#,
        ] {
            let err = Filters::from_query(bad).unwrap_err();
            assert!(
                err.to_string().contains("`filters` query parameter"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let f = Filters::from_query(r#"{"status":["running"],"colour":["red"]}"#).unwrap();
        let err = f.validate(&["status", "name", "label"]).unwrap_err();
        assert_eq!(
            err,
            FiltersError::UnknownKey {
                key: "colour".into()
            }
        );
        assert_eq!(err.to_string(), "invalid filter 'colour'");
        assert!(f.validate(&["status", "colour"]).is_ok());
    }

    #[test]
    fn labels_match_by_presence_value_and_inequality() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "front".to_string()),
        ]
        .into();
        let with = |q: &str| Filters::from_query(q).unwrap().match_label(&labels);
        assert!(with("{}"));
        assert!(with(r#"{"label":["app"]}"#));
        assert!(with(r#"{"label":["app=web","tier"]}"#));
        assert!(!with(r#"{"label":["app=db"]}"#));
        assert!(!with(r#"{"label":["app","missing"]}"#));
        assert!(with(r#"{"label":["app!=db"]}"#));
        assert!(with(r#"{"label":["missing!=x"]}"#));
        assert!(!with(r#"{"label":["app!=web"]}"#));
        assert!(!Filters::from_query(r#"{"label":["app"]}"#)
            .unwrap()
            .match_label(&BTreeMap::new()));
    }

    #[test]
    fn exact_and_prefix_matching() {
        let f = Filters::from_query(r#"{"id":["4f6"],"name":["web"]}"#).unwrap();
        assert!(f.prefix_match("id", "4f66ad9a"));
        assert!(!f.prefix_match("id", "a4f6"));
        assert!(f.exact_match("name", "web"));
        assert!(!f.exact_match("name", "web2"));
        assert!(f.exact_match("status", "anything"));
    }

    #[test]
    fn serialises_to_the_map_form_and_back() {
        let mut f = Filters::new();
        f.add("status", "running")
            .add("status", "exited")
            .add("status", "running");
        f.add("label", "a=b");
        assert_eq!(
            f.to_json(),
            r#"{"label":{"a=b":true},"status":{"exited":true,"running":true}}"#
        );
        assert_eq!(Filters::from_query(&f.to_json()).unwrap(), f);
        let embedded: Filters = serde_json::from_str(r#"{"status":["running"]}"#).unwrap();
        assert_eq!(embedded.get("status"), ["running"]);
    }
}
