//! Small helpers over `ciborium::Value`: one-item decoding, deterministic map
//! encoding (RFC 8949 §4.2.1 key order) and a map reader that rejects
//! duplicate keys and ignores labels it is not asked about.

use std::collections::{BTreeMap, BTreeSet};

use ciborium::value::{Integer, Value};

use crate::error::DecodeError;

/// Decode exactly one CBOR data item from `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|e| DecodeError::Cbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Encode one CBOR data item.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a `Value` into a `Vec` has no I/O error and every `Value`
    // this crate builds is serializable, so this cannot fail.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

/// Integer value of a CBOR item, if it is an integer.
pub(crate) fn as_i128(value: &Value) -> Option<i128> {
    match value {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// A CBOR integer `Value`.
pub(crate) fn int(v: i64) -> Value {
    Value::Integer(Integer::from(v))
}

/// A CBOR unsigned integer `Value`.
pub(crate) fn uint(v: u64) -> Value {
    Value::Integer(Integer::from(v))
}

/// Builds a map whose keys are integers, emitted in the deterministic order
/// of RFC 8949 §4.2.1 (bytewise order of the encoded keys: 0, 1, …, 23, 24,
/// …, then -1, -2, …).
#[derive(Default)]
pub(crate) struct MapWriter {
    entries: Vec<(i64, Value)>,
}

impl MapWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn put(&mut self, key: i64, value: Value) -> &mut Self {
        self.entries.push((key, value));
        self
    }

    pub(crate) fn put_opt(&mut self, key: i64, value: Option<Value>) -> &mut Self {
        if let Some(v) = value {
            self.entries.push((key, v));
        }
        self
    }

    pub(crate) fn finish(self) -> Value {
        let mut entries: Vec<(Vec<u8>, i64, Value)> = self
            .entries
            .into_iter()
            .map(|(k, v)| (encode(&int(k)), k, v))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Map(entries.into_iter().map(|(_, k, v)| (int(k), v)).collect())
    }
}

/// Reads a map keyed by integers. Duplicate keys (of any type) are an error;
/// keys that are not integers, and integer keys nobody asks for, are ignored
/// (unknown extension labels, RFC 8747 §3.1 / RFC 9200 §5.8.4.3 spirit).
pub(crate) struct MapReader {
    what: &'static str,
    entries: BTreeMap<i128, Value>,
}

impl MapReader {
    pub(crate) fn new(value: Value, what: &'static str) -> Result<Self, DecodeError> {
        let Value::Map(pairs) = value else {
            return Err(DecodeError::wrong_type(what, "map"));
        };
        let mut seen = BTreeSet::new();
        let mut entries = BTreeMap::new();
        for (k, v) in pairs {
            let encoded = encode(&k);
            if !seen.insert(encoded) {
                return Err(DecodeError::DuplicateKey {
                    what,
                    key: diag_key(&k),
                });
            }
            if let Some(i) = as_i128(&k) {
                entries.insert(i, v);
            }
        }
        Ok(MapReader { what, entries })
    }

    /// Name of the map, for error messages.
    #[allow(dead_code)]
    pub(crate) fn what(&self) -> &'static str {
        self.what
    }

    pub(crate) fn take(&mut self, key: i64) -> Option<Value> {
        self.entries.remove(&i128::from(key))
    }

    pub(crate) fn contains(&self, key: i64) -> bool {
        self.entries.contains_key(&i128::from(key))
    }

    /// Integer keys present in the map (after earlier `take`s).
    pub(crate) fn keys(&self) -> impl Iterator<Item = i128> + '_ {
        self.entries.keys().copied()
    }

    pub(crate) fn bytes(
        &mut self,
        key: i64,
        field: &'static str,
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b)),
            Some(_) => Err(DecodeError::wrong_type(field, "bstr")),
        }
    }

    pub(crate) fn text(
        &mut self,
        key: i64,
        field: &'static str,
    ) -> Result<Option<String>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Text(t)) => Ok(Some(t)),
            Some(_) => Err(DecodeError::wrong_type(field, "tstr")),
        }
    }

    pub(crate) fn uint(
        &mut self,
        key: i64,
        field: &'static str,
    ) -> Result<Option<u64>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => value_to_u64(&v, field).map(Some),
        }
    }

    pub(crate) fn int(
        &mut self,
        key: i64,
        field: &'static str,
    ) -> Result<Option<i64>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => value_to_i64(&v, field).map(Some),
        }
    }
}

pub(crate) fn value_to_u64(v: &Value, field: &'static str) -> Result<u64, DecodeError> {
    let i = as_i128(v).ok_or_else(|| DecodeError::wrong_type(field, "uint"))?;
    u64::try_from(i).map_err(|_| DecodeError::invalid(field, "out of range for uint"))
}

pub(crate) fn value_to_i64(v: &Value, field: &'static str) -> Result<i64, DecodeError> {
    let i = as_i128(v).ok_or_else(|| DecodeError::wrong_type(field, "int"))?;
    i64::try_from(i).map_err(|_| DecodeError::invalid(field, "out of range for int"))
}

fn diag_key(k: &Value) -> String {
    match k {
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Text(t) => format!("{t:?}"),
        _ => "(non-integer key)".to_owned(),
    }
}
