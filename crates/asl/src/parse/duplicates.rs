//! Keys that JSON text gives twice in one object. serde_json keeps the last
//! of them silently; the state names among them are an error on AWS.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::pointer_join;

/// The JSON pointers of every key that repeats an earlier key of its
/// object, in document order. Text that is not JSON gives none.
pub(crate) fn duplicate_keys(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let _ = Walk {
        pointer: String::new(),
        found: &mut found,
    }
    .deserialize(&mut deserializer);
    found
}

/// Whether `pointer` names a member of a machine's `States` object: the top
/// level's, a Parallel branch's or a Map item processor's.
pub(crate) fn is_state(pointer: &str) -> bool {
    let Some((parent, _)) = pointer.rsplit_once('/') else {
        return false;
    };
    let Some(machine) = parent.strip_suffix("/States") else {
        return false;
    };
    if machine.is_empty() || machine.ends_with("/ItemProcessor") || machine.ends_with("/Iterator") {
        return true;
    }
    matches!(machine.rsplit_once('/'), Some((branches, index))
        if branches.ends_with("/Branches") && index.parse::<usize>().is_ok())
}

struct Walk<'a> {
    pointer: String,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let pointer = pointer_join(&self.pointer, &key);
            if !seen.insert(key) {
                self.found.push(pointer.clone());
            }
            map.next_value_seed(Walk {
                pointer,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let seed = Walk {
                pointer: format!("{}/{index}", self.pointer),
                found: self.found,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}
