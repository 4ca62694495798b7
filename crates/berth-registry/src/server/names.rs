//! Repository names and tags, validated as the distribution spec's grammar says:
//! a name is path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`, a tag
//! is `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.

/// The longest repository name accepted (registry:2's limit too).
const MAX_NAME: usize = 255;

/// Whether `name` is a valid repository name (`library/busybox`, `a/b/c`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name.split('/').all(valid_component)
}

/// One path component: alphanumeric runs separated by `.`, `_`, `__` or dashes.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `tag` is a valid tag.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let first = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && first(b[0])
        && b[1..].iter().all(|&x| first(x) || x == b'.' || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for ok in [
            "busybox",
            "library/busybox",
            "a/b/c",
            "a.b_c__d---e/f-g",
            "conformance-5f1c8a54-2d6e-4c1e-9c5b-2c3f4a5b6c7d",
            "0",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Busybox",
            "a//b",
            "/a",
            "a/",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a._b",
            "a:b",
            "_manifests",
            "a/../b",
            &"a".repeat(256),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(valid_tag(ok), "{ok}");
        }
        for bad in [
            "",
            ".INVALID_MANIFEST_NAME",
            "-x",
            "a/b",
            "a:b",
            &"t".repeat(129),
        ] {
            assert!(!valid_tag(bad), "{bad:?}");
        }
    }
}
