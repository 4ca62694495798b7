//! Deserialisation helpers for the ways Go clients encode empty and short values.

use serde::{Deserialize, Deserializer};

/// A Go nil slice or map arrives as `null`; take it as the empty value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Docker's `StrSlice` (Cmd, Entrypoint, Shell): a string, a list of strings, or null.
/// `null` stays `None`, because "not given" and "given empty" differ for Entrypoint.
pub(crate) fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|v| match v {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

/// A `StrSlice` where null and empty mean the same (CapAdd, CapDrop).
pub(crate) fn str_slice_or_empty<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(str_slice(d)?.unwrap_or_default())
}

/// A collection that can be empty.
pub(crate) trait Collection {
    fn is_empty(&self) -> bool;
}

impl<T> Collection for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> Collection for std::collections::BTreeMap<K, V> {
    fn is_empty(&self) -> bool {
        std::collections::BTreeMap::is_empty(self)
    }
}

/// An empty list or map as `null`: for fields dockerd leaves as Go's nil slice or map
/// unless something set them.
pub(crate) fn nil_if_empty<S, T>(v: &T, s: S) -> Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: serde::Serialize + Collection,
{
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// `true` when a value is its type's default: for `skip_serializing_if` on fields Go
/// tags `omitempty`.
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
