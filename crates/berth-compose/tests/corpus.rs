//! The loader's corpus: `corpus/good/NAME/` holds compose file(s) (and `.env`,
//! env files, extended files) with `expected.json`, the resolved project;
//! `corpus/bad/NAME.yaml` (or `bad/NAME/` with `compose.yaml`) starts with
//! `# error: TEXT`, text the error must contain. An optional `options.json` in a
//! case sets `files`, `profiles`, `project_name`, `project_directory`, `env_files`
//! `cwd` (relative to the case) and `env` (the environment; `HOME=/home/tester` unless given). Paths under the
//! case directory are written `$CASE`, others in the corpus `$CORPUS`.
//!
//! `BLESS=1 cargo test -p berth-compose --test corpus` rewrites expected.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_compose::{load, LoadOptions};
use serde_json::{json, Value};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn options(dir: &Path) -> LoadOptions {
    let mut opts = LoadOptions {
        cwd: dir.to_path_buf(),
        environment: BTreeMap::from([("HOME".to_owned(), "/home/tester".to_owned())]),
        ..Default::default()
    };
    let Ok(text) = std::fs::read_to_string(dir.join("options.json")) else {
        return opts;
    };
    let o: Value = serde_json::from_str(&text).expect("options.json is JSON");
    let strings = |k: &str| -> Vec<String> {
        o.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(c) = o.get("cwd").and_then(Value::as_str) {
        opts.cwd = dir.join(c);
    }
    opts.files = strings("files").into_iter().map(PathBuf::from).collect();
    opts.env_files = strings("env_files")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    opts.profiles = strings("profiles");
    opts.project_name = o
        .get("project_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    opts.project_directory = o
        .get("project_directory")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    opts.stdin = o.get("stdin").and_then(Value::as_str).map(str::to_owned);
    if let Some(env) = o.get("env").and_then(Value::as_object) {
        for (k, v) in env {
            opts.environment
                .insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
        }
    }
    opts
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus().join(kind))
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// The project as compared: the serialised model plus the parts it skips.
fn observed(dir: &Path) -> Result<Value, String> {
    let p = load(&options(dir)).map_err(|e| e.to_string())?;
    let resources: BTreeMap<&String, Value> = p
        .services
        .iter()
        .chain(p.disabled.iter())
        .filter(|(_, s)| s.resources != Default::default())
        .map(|(n, s)| (n, serde_json::to_value(&s.resources).expect("serialises")))
        .collect();
    let names_ok = p
        .services
        .iter()
        .chain(p.disabled.iter())
        .all(|(n, s)| &s.name == n);
    assert!(
        names_ok,
        "{}: Service.name differs from its key",
        dir.display()
    );
    let mut v = json!({
        "project": p,
        "working_dir": p.working_dir,
        "config_files": p.config_files,
        "disabled": p.disabled.keys().collect::<Vec<_>>(),
        "resources": resources,
    });
    if !p.warnings.is_empty() {
        v["warnings"] = json!(p.warnings);
    }
    let text = serde_json::to_string_pretty(&v).expect("serialises");
    let text = text
        .replace(&dir.display().to_string(), "$CASE")
        .replace(&corpus().display().to_string(), "$CORPUS");
    Ok(serde_json::from_str(&text).expect("reparses"))
}

#[test]
fn good_cases() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let all = cases("good");
    assert!(all.len() >= 30, "only {} good cases", all.len());
    for dir in all {
        let got = match observed(&dir) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: load failed: {e}", dir.display()));
                continue;
            }
        };
        let expected_path = dir.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&got).expect("serialises") + "\n";
            std::fs::write(&expected_path, text).expect("writes expected.json");
            continue;
        }
        let want: Value = match std::fs::read_to_string(&expected_path) {
            Ok(t) => serde_json::from_str(&t).expect("expected.json is JSON"),
            Err(e) => {
                failures.push(format!("{}: {e}", expected_path.display()));
                continue;
            }
        };
        if got != want {
            failures.push(format!(
                "{}: got\n{}",
                dir.display(),
                serde_json::to_string_pretty(&got).expect("serialises")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_cases() {
    let mut failures = Vec::new();
    let all = cases("bad");
    assert!(all.len() >= 25, "only {} bad cases", all.len());
    for case in all {
        let (dir, file) = if case.is_dir() {
            (case.clone(), case.join("compose.yaml"))
        } else {
            (
                case.parent().expect("has a parent").to_path_buf(),
                case.clone(),
            )
        };
        let text = std::fs::read_to_string(&file).expect("reads the case");
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# error: …`", file.display()))
            .trim();
        let mut opts = options(&dir);
        if opts.files.is_empty() {
            opts.files = vec![file.clone()];
        }
        match load(&opts) {
            Ok(_) => failures.push(format!("{}: loaded, wanted error {want:?}", case.display())),
            Err(e) => {
                let got = e.to_string().replace(&format!("{}/", dir.display()), "");
                if !got.contains(want) {
                    failures.push(format!("{}: got {got:?}, wanted {want:?}", case.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
