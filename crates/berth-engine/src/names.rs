//! Container ids and names: 64-hex ids from the kernel's random pool, Docker's name
//! syntax, and berth's own `adjective_noun` names (harbour words, not Docker's list).

use std::io::Read;

use crate::api::{EngineError, EngineResult};

const ADJECTIVES: &[&str] = &[
    "amber", "ample", "azure", "bold", "brave", "breezy", "bright", "brisk", "calm", "candid",
    "clever", "coastal", "cosy", "crisp", "dapper", "deft", "eager", "earnest", "fair", "fleet",
    "gentle", "glad", "golden", "hale", "hardy", "hearty", "humble", "jolly", "keen", "kind",
    "lively", "lucid", "mellow", "merry", "misty", "nimble", "noble", "patient", "placid",
    "plucky", "polished", "proud", "quiet", "rapid", "ready", "salty", "serene", "sharp", "silent",
    "sleek", "snug", "sober", "spry", "stable", "steady", "stout", "sturdy", "sunny", "swift",
    "tidal", "tidy", "trusty", "vivid", "wary", "windy", "wise", "witty", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor",
    "barge",
    "beacon",
    "bollard",
    "bosun",
    "bow",
    "buoy",
    "cabin",
    "capstan",
    "cargo",
    "channel",
    "compass",
    "coracle",
    "crane",
    "cutter",
    "davit",
    "deck",
    "dinghy",
    "dock",
    "ferry",
    "fathom",
    "galley",
    "gangway",
    "harbour",
    "hatch",
    "hawser",
    "helm",
    "hull",
    "jetty",
    "keel",
    "ketch",
    "lantern",
    "launch",
    "lighthouse",
    "lock",
    "mainsail",
    "marina",
    "mast",
    "mooring",
    "oar",
    "pier",
    "pilot",
    "pontoon",
    "port",
    "quay",
    "rudder",
    "schooner",
    "sextant",
    "skiff",
    "slipway",
    "sloop",
    "spar",
    "starboard",
    "stern",
    "tide",
    "tiller",
    "towline",
    "trawler",
    "tug",
    "wake",
    "wharf",
    "winch",
    "yawl",
];

/// `n` random bytes from /dev/urandom.
pub fn random_bytes(n: usize) -> EngineResult<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| EngineError::io("reading", "/dev/urandom", e))?;
    Ok(buf)
}

/// A new 64-hex-digit id. Like Docker, never all digits, so a short id is never
/// mistaken for a number.
pub fn new_id() -> EngineResult<String> {
    loop {
        let id: String = random_bytes(32)?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id[..12].bytes().all(|c| c.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// A random `adjective_noun`; after a few collisions a digit is appended, as Docker
/// does.
pub fn random_name(retry: usize) -> EngineResult<String> {
    let r = random_bytes(4)?;
    let a = ADJECTIVES[usize::from(u16::from_le_bytes([r[0], r[1]])) % ADJECTIVES.len()];
    let n = NOUNS[usize::from(u16::from_le_bytes([r[2], r[3]])) % NOUNS.len()];
    Ok(if retry > 0 {
        format!("{a}_{n}{}", r[0] % 10)
    } else {
        format!("{a}_{n}")
    })
}

/// Checks a user-given name against Docker's `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+` and returns
/// it without its leading slash.
pub fn validate_name(name: &str) -> EngineResult<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let b = n.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        return Err(EngineError::BadParameter(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert_eq!(validate_name("a.b_c").unwrap(), "a.b_c");
        assert!(validate_name("x").is_err());
        assert!(validate_name("_x").is_err());
        assert!(validate_name("a b").is_err());
        let n = random_name(0).unwrap();
        let (a, b) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && NOUNS.contains(&b));
        validate_name(&n).unwrap();
    }

    #[test]
    fn ids() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id().unwrap());
    }
}
