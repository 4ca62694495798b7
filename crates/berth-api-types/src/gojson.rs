//! Request bodies decoded as dockerd decodes them, with Go's `encoding/json` rules, so
//! that what a Go, Python or JavaScript client sends to dockerd also works here:
//!
//! - an object key matches a struct field case-insensitively (an exact match wins), so
//!   `detachKeys` fills `DetachKeys`;
//! - `null` is the zero value of whatever it fills (0, "", false, empty list or map, a
//!   struct of defaults, `None`), as Go leaves the field untouched;
//! - unknown keys are ignored; when a key appears twice, the last one wins.
//!
//! A rejected body names the full path of the value at fault
//! (`HostConfig.Healthcheck.StartPeriod`, `HostConfig.Mounts[0].Type`).
//!
//! The rules are applied by a [`serde::Deserializer`] over a parsed JSON document, so
//! they hold for every type without per-field code. serde's `flatten` cannot take part
//! (it buffers keys before the embedded struct sees them); the API types embed structs
//! as Go does through [`embedded`] instead.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::{ser, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A body that could not be decoded: the path of the value at fault (empty for the
/// document itself) and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Path segments from the outside in.
    path: Vec<Segment>,
    message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl DecodeError {
    /// The path of the value at fault, such as `HostConfig.Mounts[0].Type`; empty for
    /// the document itself.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for s in &self.path {
            match s {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// What was wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn inside(mut self, segment: Segment) -> Self {
        self.path.insert(0, segment);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{FIELD_PREFIX}{}: {}", self.path(), self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// How a path is written into a message; [`DecodeError::custom`] reads it back, so a
/// path survives an [`embedded`] struct's generic error type.
const FIELD_PREFIX: &str = "field ";

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        if let Some((path, message)) = text
            .strip_prefix(FIELD_PREFIX)
            .and_then(|rest| rest.split_once(": "))
            .filter(|(path, _)| !path.is_empty() && !path.contains(' '))
        {
            return DecodeError {
                path: parse_path(path),
                message: message.to_string(),
            };
        }
        DecodeError {
            path: Vec::new(),
            message: text,
        }
    }
}

fn parse_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Segment::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

/// Decodes a JSON body with Go's rules.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| DecodeError {
        path: Vec::new(),
        message: format!("invalid JSON: {e}"),
    })?;
    from_value(&doc)
}

/// Decodes a parsed JSON document with Go's rules.
pub fn from_value<T: DeserializeOwned>(doc: &Value) -> Result<T, DecodeError> {
    T::deserialize(GoDecoder(doc))
}

/// Reads the object a Go struct with an embedded struct is decoded from, for the
/// `Deserialize` impls of such types: each part is then decoded from the whole object
/// with [`part`], and ignores the keys of the other.
pub(crate) fn embedded<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let doc = Value::deserialize(d)?;
    match doc {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(doc),
        other => Err(de::Error::invalid_type(unexpected(&other), &"an object")),
    }
}

/// Decodes one part of an [`embedded`] object with Go's rules, keeping the path of a
/// failure in the caller's error type.
pub(crate) fn part<T: DeserializeOwned, E: de::Error>(doc: &Value) -> Result<T, E> {
    from_value(doc).map_err(E::custom)
}

use serde::Deserialize;

/// Decodes the own fields of an [`embedded`] object with a type's derived (remote =
/// "Self") deserializer.
pub(crate) fn own_part<T, E: de::Error>(
    doc: &Value,
    derived: impl FnOnce(GoDecoder<'_>) -> Result<T, DecodeError>,
) -> Result<T, E> {
    derived(GoDecoder(doc)).map_err(E::custom)
}

/// Implements `Serialize` and `Deserialize` for a struct that embeds another as a Go
/// struct does: the struct derives both with `#[serde(remote = "Self")]` and marks the
/// embedded field `#[serde(skip)]`; its fields and the embedded struct's share one
/// object, each side decoded with Go's rules.
macro_rules! go_embeds {
    ($ty:ident, $field:ident) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                struct Own<'a>(&'a $ty);
                impl serde::Serialize for Own<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        $ty::serialize(self.0, s)
                    }
                }
                $crate::gojson::serialize_embedded(s, &Own(self), &self.$field)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let doc = $crate::gojson::embedded(d)?;
                let mut own: $ty = $crate::gojson::own_part(&doc, |g| $ty::deserialize(g))?;
                own.$field = $crate::gojson::part(&doc)?;
                Ok(own)
            }
        }
    };
}
pub(crate) use go_embeds;

/// Serialises a Go struct with an embedded struct as one object: `own`'s fields, then
/// `embedded`'s, where both serialise as structs (the counterpart of [`embedded`]).
pub(crate) fn serialize_embedded<S, A, B>(s: S, own: &A, embedded: &B) -> Result<S::Ok, S::Error>
where
    S: ser::Serializer,
    A: Serialize + ?Sized,
    B: Serialize + ?Sized,
{
    use ser::SerializeMap;
    let mut map = s.serialize_map(None)?;
    own.serialize(Fields::new(&mut map, &[]))?;
    embedded.serialize(Fields::new(&mut map, &[]))?;
    map.end()
}

/// Serialises a struct with the fields named in `nil` written as `null`, in their
/// place: for a Go nil map or slice where the Rust type cannot tell nil from empty.
pub(crate) fn serialize_with_nil<S, T>(s: S, value: &T, nil: &[&str]) -> Result<S::Ok, S::Error>
where
    S: ser::Serializer,
    T: Serialize + ?Sized,
{
    use ser::SerializeMap;
    let mut map = s.serialize_map(None)?;
    value.serialize(Fields::new(&mut map, nil))?;
    map.end()
}

/// A serializer that writes a struct's fields into an enclosing map, those named in
/// `nil` as `null`.
struct Fields<'m, M> {
    map: &'m mut M,
    nil: &'m [&'m str],
}

impl<'m, M> Fields<'m, M> {
    fn new(map: &'m mut M, nil: &'m [&'m str]) -> Self {
        Fields { map, nil }
    }
}

fn only_structs<E: ser::Error>() -> E {
    E::custom("only a struct can be embedded")
}

macro_rules! not_a_struct {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<(), M::Error> {
            Err(only_structs())
        }
    )*};
}

impl<'m, M: ser::SerializeMap> ser::Serializer for Fields<'m, M> {
    type Ok = ();
    type Error = M::Error;
    type SerializeSeq = ser::Impossible<(), M::Error>;
    type SerializeTuple = ser::Impossible<(), M::Error>;
    type SerializeTupleStruct = ser::Impossible<(), M::Error>;
    type SerializeTupleVariant = ser::Impossible<(), M::Error>;
    type SerializeMap = ser::Impossible<(), M::Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), M::Error>;

    not_a_struct! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_none(self) -> Result<(), M::Error> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), M::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), M::Error> {
        Err(only_structs())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, M::Error> {
        Err(only_structs())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, M::Error> {
        Err(only_structs())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, M::Error> {
        Err(only_structs())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, M::Error> {
        Err(only_structs())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, M::Error> {
        Err(only_structs())
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, M::Error> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, M::Error> {
        Err(only_structs())
    }
}

impl<'m, M: ser::SerializeMap> ser::SerializeStruct for Fields<'m, M> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if self.nil.contains(&key) {
            self.map.serialize_entry(key, &())
        } else {
            self.map.serialize_entry(key, value)
        }
    }

    fn end(self) -> Result<(), M::Error> {
        Ok(())
    }
}

/// The deserializer: a JSON value, decoded with Go's rules.
#[derive(Clone, Copy)]
pub(crate) struct GoDecoder<'a>(&'a Value);

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                de::Unexpected::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                de::Unexpected::Signed(i)
            } else {
                de::Unexpected::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

impl<'a> GoDecoder<'a> {
    fn any<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                index: 0,
            }),
            Value::Object(map) => visitor.visit_map(Entries::new(
                map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            )),
        }
    }
}

/// Scalars: `null` is the zero value, anything else decodes as it is.
macro_rules! scalar {
    ($($method:ident => $zero:expr),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            match self.0 {
                Value::Null => $zero(visitor),
                _ => self.any(visitor),
            }
        }
    )*};
}

impl<'de, 'a> Deserializer<'de> for GoDecoder<'a> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.any(visitor)
    }

    scalar! {
        deserialize_bool => |v: V| v.visit_bool(false),
        deserialize_i8 => |v: V| v.visit_i64(0),
        deserialize_i16 => |v: V| v.visit_i64(0),
        deserialize_i32 => |v: V| v.visit_i64(0),
        deserialize_i64 => |v: V| v.visit_i64(0),
        deserialize_i128 => |v: V| v.visit_i64(0),
        deserialize_u8 => |v: V| v.visit_u64(0),
        deserialize_u16 => |v: V| v.visit_u64(0),
        deserialize_u32 => |v: V| v.visit_u64(0),
        deserialize_u64 => |v: V| v.visit_u64(0),
        deserialize_u128 => |v: V| v.visit_u64(0),
        deserialize_f32 => |v: V| v.visit_f64(0.0),
        deserialize_f64 => |v: V| v.visit_f64(0.0),
        deserialize_char => |v: V| v.visit_char('\0'),
        deserialize_str => |v: V| v.visit_str(""),
        deserialize_string => |v: V| v.visit_str(""),
        deserialize_bytes => |v: V| v.visit_bytes(&[]),
        deserialize_byte_buf => |v: V| v.visit_bytes(&[]),
        deserialize_unit => |v: V| v.visit_unit(),
        deserialize_identifier => |v: V| v.visit_str(""),
        deserialize_ignored_any => |v: V| v.visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_seq(Seq {
                items: [].iter(),
                index: 0,
            }),
            _ => self.any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_map(Entries::new(Vec::new())),
            _ => self.any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let map = match self.0 {
            Value::Null => return visitor.visit_map(Entries::new(Vec::new())),
            Value::Object(map) => map,
            other => return Err(de::Error::invalid_type(unexpected(other), &"an object")),
        };
        // Each key to its field's own name (exact first, then any case); the last of
        // several keys for one field wins, as in Go.
        let mut entries: Vec<(&str, &Value)> = Vec::with_capacity(map.len());
        for (key, value) in map {
            let name = fields
                .iter()
                .find(|f| **f == key)
                .or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(key)))
                .copied()
                .unwrap_or(key.as_str());
            match entries.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => entries.push((name, value)),
            }
        }
        visitor.visit_map(Entries::new(entries))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
    }
}

/// An array's items, each decoded with Go's rules; a failure names its index.
struct Seq<'a> {
    items: std::slice::Iter<'a, Value>,
    index: usize,
}

impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(GoDecoder(item))
            .map(Some)
            .map_err(|e| e.inside(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An object's entries, each value decoded with Go's rules; a failure names its key.
struct Entries<'a> {
    entries: std::vec::IntoIter<(&'a str, &'a Value)>,
    current: Option<(&'a str, &'a Value)>,
}

impl<'a> Entries<'a> {
    fn new(entries: Vec<(&'a str, &'a Value)>) -> Self {
        Entries {
            entries: entries.into_iter(),
            current: None,
        }
    }
}

impl<'de, 'a> MapAccess<'de> for Entries<'a> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some((key, value));
        seed.deserialize(key.into_deserializer())
            .map(Some)
            .map_err(|e: DecodeError| e.inside(Segment::Key(key.to_string())))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let (key, value) = self
            .current
            .take()
            .ok_or_else(|| <DecodeError as de::Error>::custom("a value without its key"))?;
        seed.deserialize(GoDecoder(value))
            .map_err(|e| e.inside(Segment::Key(key.to_string())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Inner {
        #[serde(rename = "StartPeriod")]
        start_period: i64,
        #[serde(rename = "Test")]
        test: Vec<String>,
        #[serde(rename = "Name")]
        name: Option<String>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Outer {
        #[serde(rename = "DetachKeys")]
        detach_keys: String,
        #[serde(rename = "Tty")]
        tty: bool,
        #[serde(rename = "Healthcheck")]
        healthcheck: Inner,
        #[serde(rename = "Labels")]
        labels: BTreeMap<String, String>,
        #[serde(rename = "Items")]
        items: Vec<Inner>,
    }

    fn decode(v: serde_json::Value) -> Result<Outer, DecodeError> {
        from_value(&v)
    }

    #[test]
    fn keys_match_fields_in_any_case_exact_first() {
        let o = decode(json!({"detachKeys": "ctrl-x", "TTY": true})).unwrap();
        assert_eq!(o.detach_keys, "ctrl-x");
        assert!(o.tty);
        // The last key for one field wins.
        let o = decode(json!({"DetachKeys": "a", "detachkeys": "b"})).unwrap();
        assert_eq!(o.detach_keys, "b");
    }

    #[test]
    fn map_keys_keep_their_case() {
        let o = decode(json!({"labels": {"tty": "1", "Name": "x"}})).unwrap();
        assert_eq!(o.labels.get("tty").map(String::as_str), Some("1"));
        assert_eq!(o.labels.get("Name").map(String::as_str), Some("x"));
    }

    #[test]
    fn null_is_the_zero_value_everywhere() {
        let o = decode(json!({
            "DetachKeys": null, "Tty": null, "Labels": {"a": null},
            "Healthcheck": {"StartPeriod": null, "Test": null, "Name": null},
            "Items": [null]
        }))
        .unwrap();
        assert_eq!(o.detach_keys, "");
        assert!(!o.tty);
        assert_eq!(o.labels.get("a").map(String::as_str), Some(""));
        assert_eq!(o.healthcheck, Inner::default());
        assert_eq!(o.items, vec![Inner::default()]);
        assert_eq!(decode(json!(null)).unwrap(), Outer::default());
    }

    #[test]
    fn unknown_keys_are_ignored() {
        assert_eq!(
            decode(json!({"Nope": [1, 2], "healthcheck": {"Extra": {}}})).unwrap(),
            Outer::default()
        );
    }

    #[test]
    fn errors_name_the_full_path() {
        let e = decode(json!({"healthcheck": {"startPeriod": "soon"}})).unwrap_err();
        assert_eq!(e.path(), "Healthcheck.StartPeriod");
        assert!(e.message().contains("invalid type"), "{e}");
        assert!(
            e.to_string().starts_with("field Healthcheck.StartPeriod: "),
            "{e}"
        );
        let e = decode(json!({"Items": [{}, {"Test": [1]}]})).unwrap_err();
        assert_eq!(e.path(), "Items[1].Test[0]");
        let e = decode(json!([1])).unwrap_err();
        assert_eq!(e.path(), "");
        let e = from_slice::<Outer>(b"{\"Tty\": tru").unwrap_err();
        assert!(e.message().starts_with("invalid JSON"), "{e}");
    }

    #[test]
    fn paths_survive_a_generic_error_type() {
        let e = DecodeError {
            path: parse_path("HostConfig.Mounts[0].Type"),
            message: "bad".into(),
        };
        let back = <DecodeError as de::Error>::custom(&e);
        assert_eq!(back, e);
        assert_eq!(back.path(), "HostConfig.Mounts[0].Type");
        let plain = <DecodeError as de::Error>::custom("missing field `x`");
        assert_eq!(plain.path(), "");
    }
}
