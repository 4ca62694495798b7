//! Debian's docker-compose 1.29 (the Python one, talking to the daemon through
//! docker-py) drives the three-tier fixture (tests/compose/three-tier) against berth's
//! daemon: `up -d --build` with a healthy db before app starts, the published port,
//! service names and aliases on two networks, `ps`, `logs`, `exec`, `port`, `restart`,
//! `stop` + `start` keeping the volume's data, a changed environment recreating one
//! service only, `--scale` with every replica behind the service's name, the project's
//! labels in the list filters, and `down -v` leaving nothing behind.
//!
//! The same scenario runs against a real dockerd where scripts/dockerd.sh fetched one
//! (`compose_v1_against_dockerd`): what it asserts is dockerd's behaviour. And it runs
//! through `berth compose` against berth's daemon (`berth_compose_three_tier`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{out_err, tail};

/// The fixture's compose file.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose/three-tier/compose.yaml")
}

/// docker-compose 1.29, or None (with a note) where it is not installed.
fn docker_compose() -> Option<PathBuf> {
    let p = std::env::var_os("BERTH_DOCKER_COMPOSE")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    if p.is_none() {
        eprintln!("note: no docker-compose (apt-get install docker-compose); skipping");
    }
    p
}

/// The port web is published on (inside the daemon's network namespace).
const WEB_PORT: u16 = 18080;

/// An engine under test: its socket and the network namespace its published ports
/// answer in; `log` shows its log on failure.
struct Target<'a> {
    name: &'static str,
    sock: PathBuf,
    netns: Option<PathBuf>,
    log: Box<dyn Fn() -> String + 'a>,
    compose: PathBuf,
    /// `compose` is the `berth` binary, run as `berth compose …` (docker compose v2's
    /// names: `PROJECT-SERVICE-N`), not docker-compose 1.29 (`PROJECT_SERVICE_N`).
    berth_compose: bool,
    project: &'static str,
    config_dir: PathBuf,
}

impl Target<'_> {
    /// `docker-compose -p PROJECT -f FIXTURE ARGS` with `env` (GREETING and the like).
    fn compose(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        // A hung request must fail the test, not hang it.
        let mut c = Command::new("timeout");
        c.arg("300").arg(&self.compose);
        if self.berth_compose {
            c.arg("compose");
        }
        self.compose_args(&mut c, env, args);
        c.output().expect("run docker-compose")
    }

    /// The command line and environment of a docker-compose run, added to `c`.
    fn compose_args(&self, c: &mut Command, env: &[(&str, &str)], args: &[&str]) {
        c.arg("-p")
            .arg(self.project)
            .arg("-f")
            .arg(fixture())
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", &self.config_dir)
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            // Builds through docker-py's `POST /build`, not the docker CLI.
            .env("COMPOSE_DOCKER_CLI_BUILD", "0")
            .env("WEB_PORT", WEB_PORT.to_string())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
    }

    /// The compose tool's command, before its arguments.
    fn program(&self) -> Command {
        let mut c = Command::new(&self.compose);
        if self.berth_compose {
            c.arg("compose");
        }
        c
    }

    /// The name of `service`'s first container, as the tool names it.
    fn container(&self, service: &str) -> String {
        if self.berth_compose {
            format!("{}-{service}-1", self.project)
        } else {
            format!("{}_{service}_1", self.project)
        }
    }

    fn compose_ok(&self, env: &[(&str, &str)], args: &[&str]) -> String {
        let o = self.compose(env, args);
        let (out, err) = out_err(&o);
        assert!(
            o.status.success(),
            "[{}] docker-compose {args:?} failed ({}):\nstdout: {out}\nstderr: {err}\nlog tail:\n{}",
            self.name,
            o.status,
            tail(&(self.log)(), 40)
        );
        out
    }

    /// GET `path` (with `query` pairs) from the engine's API, as JSON.
    fn api(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        let (out, err) = self.get(path, query);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("[{}] GET {path}: {e}: {out}{err}", self.name))
    }

    /// GET `path` answering a stream of JSON objects (`/events` with `until`).
    fn api_stream(&self, path: &str, query: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let (out, err) = self.get(path, query);
        serde_json::Deserializer::from_str(&out)
            .into_iter::<serde_json::Value>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("[{}] GET {path}: {e}: {out}{err}", self.name))
    }

    /// The body and stderr of a GET of `path` with `query` pairs (10 s at most).
    fn get(&self, path: &str, query: &[(&str, &str)]) -> (String, String) {
        let mut c = Command::new("curl");
        c.args(["-sS", "-G", "--max-time", "10", "--unix-socket"])
            .arg(&self.sock);
        for (k, v) in query {
            c.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let o = c
            .arg(format!("http://engine{path}"))
            .output()
            .expect("curl");
        out_err(&o)
    }

    /// The project's objects of `kind` (containers, networks, volumes) by the label
    /// docker-compose puts on them.
    fn by_project_label(&self, kind: &str) -> Vec<serde_json::Value> {
        let filters = format!(
            r#"{{"label":["com.docker.compose.project={}"]}}"#,
            self.project
        );
        let (path, key) = match kind {
            "containers" => ("/containers/json", None),
            "networks" => ("/networks", None),
            "volumes" => ("/volumes", Some("Volumes")),
            _ => unreachable!("a kind of object"),
        };
        let mut q = vec![("filters", filters.as_str())];
        if kind == "containers" {
            q.push(("all", "1"));
        }
        let v = self.api(path, &q);
        let list = match key {
            Some(k) => v[k].clone(),
            None => v,
        };
        list.as_array()
            .unwrap_or_else(|| panic!("[{}] {kind} list: {list}", self.name))
            .clone()
    }

    /// The project's containers of `service`, by their labels: id → inspect JSON.
    fn service(&self, service: &str) -> BTreeMap<String, serde_json::Value> {
        let filters = format!(
            r#"{{"label":["com.docker.compose.project={}","com.docker.compose.service={service}"]}}"#,
            self.project
        );
        let list = self.api("/containers/json", &[("all", "1"), ("filters", &filters)]);
        list.as_array()
            .unwrap_or_else(|| panic!("[{}] containers: {list}", self.name))
            .iter()
            .map(|c| {
                let id = c["Id"].as_str().expect("an Id").to_string();
                let inspect = self.api(&format!("/containers/{id}/json"), &[]);
                (id, inspect)
            })
            .collect()
    }

    /// The one container of `service`.
    fn one(&self, service: &str) -> (String, serde_json::Value) {
        let mut s = self.service(service);
        assert_eq!(s.len(), 1, "[{}] containers of {service}: {s:?}", self.name);
        s.pop_first().expect("one container")
    }

    /// GET `url` from the engine's network namespace (where published ports answer).
    fn host_get(&self, url: &str) -> Result<String, String> {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg("curl");
                c
            }
            None => Command::new("curl"),
        };
        let o = c
            .args(["-sS", "--max-time", "5", url])
            .stdin(Stdio::null())
            .output()
            .expect("curl");
        let (out, err) = out_err(&o);
        if o.status.success() {
            Ok(out)
        } else {
            Err(err)
        }
    }
}

fn state(inspect: &serde_json::Value) -> &str {
    inspect["State"]["Status"].as_str().unwrap_or("")
}

/// The whole scenario against `t`.
fn scenario(t: &Target) {
    let hello = [("GREETING", "hello")];
    // Leftovers of an earlier, interrupted run would change what is asserted.
    let _ = t.compose(&hello, &["down", "-v", "--remove-orphans"]);
    let since = now();

    // up: builds web, creates networks and the volume, starts db, waits for it to be
    // healthy, then starts web and app.
    let up = t.compose(&hello, &["up", "-d", "--build"]);
    let (out, err) = out_err(&up);
    assert!(
        up.status.success(),
        "[{}] up -d --build failed:\n{out}\n{err}\n{}",
        t.name,
        tail(&(t.log)(), 40)
    );
    let (db, db_inspect) = t.one("db");
    let (web, _) = t.one("web");
    let (app, app_inspect) = t.one("app");
    for (name, i) in [("db", &db_inspect), ("app", &app_inspect)] {
        assert_eq!(state(i), "running", "[{}] {name}: {i}", t.name);
    }
    assert_eq!(
        db_inspect["State"]["Health"]["Status"], "healthy",
        "[{}] {db_inspect}",
        t.name
    );
    // The events say db was healthy before app started.
    let until = now();
    let events = t.api_stream(
        "/events",
        &[
            ("since", &since),
            ("until", &until),
            ("filters", r#"{"type":["container"]}"#),
        ],
    );
    let when = |id: &str, action: &str| -> Option<u64> {
        events.iter().find_map(|e| {
            (e["id"] == id && e["Action"] == action).then(|| e["timeNano"].as_u64().unwrap_or(0))
        })
    };
    let healthy = when(&db, "health_status: healthy")
        .unwrap_or_else(|| panic!("[{}] no healthy event for db: {events:?}", t.name));
    let app_started = when(&app, "start")
        .unwrap_or_else(|| panic!("[{}] no start event for app: {events:?}", t.name));
    assert!(healthy <= app_started, "[{}] {events:?}", t.name);
    // Each probe is an exec, told as created, started and dead.
    let probe = "wget -qO /dev/null http://127.0.0.1/record.txt";
    for verb in ["exec_create", "exec_start"] {
        let told = events.iter().any(|e| {
            e["id"] == db.as_str()
                && e["Action"] == format!("{verb}: {probe}").as_str()
                && e["Actor"]["Attributes"]["execID"].is_string()
        });
        assert!(told, "[{}] no {verb} of db's probe: {events:?}", t.name);
    }
    // The network alias is set on db's backend endpoint.
    let aliases =
        &db_inspect["NetworkSettings"]["Networks"][format!("{}_backend", t.project)]["Aliases"];
    assert!(
        aliases
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "database") && a.iter().any(|x| x == "db")),
        "[{}] db's aliases: {aliases}",
        t.name
    );

    // The published port answers from the host.
    let page = t
        .host_get(&format!("http://127.0.0.1:{WEB_PORT}/index.html"))
        .unwrap_or_else(|e| panic!("[{}] GET the published port: {e}", t.name));
    assert_eq!(page.trim(), "web: three-tier front page");
    // The build's argument and label.
    let tier = t
        .host_get(&format!("http://127.0.0.1:{WEB_PORT}/tier.txt"))
        .unwrap_or_else(|e| panic!("[{}] GET the published port: {e}", t.name));
    assert_eq!(tier.trim(), "front", "[{}]", t.name);
    let built = if t.berth_compose {
        format!("{}-web", t.project)
    } else {
        format!("{}_web", t.project)
    };
    let image = t.api(&format!("/images/{built}/json"), &[]);
    assert_eq!(
        image["Config"]["Labels"]["com.example.tier"], "web",
        "[{}] {image}",
        t.name
    );
    let port = t.compose_ok(&hello, &["port", "web", "80"]);
    assert_eq!(port.trim(), format!("127.0.0.1:{WEB_PORT}"), "[{}]", t.name);

    // app reaches db (by name and by alias) and web by name; web, on the frontend
    // network only, does not reach db.
    let record = t.compose_ok(
        &hello,
        &["exec", "-T", "app", "wget", "-qO-", "http://db/record.txt"],
    );
    assert!(record.starts_with("record "), "[{}] {record}", t.name);
    let by_alias = t.compose_ok(
        &hello,
        &[
            "exec",
            "-T",
            "app",
            "wget",
            "-qO-",
            "http://database/record.txt",
        ],
    );
    assert_eq!(by_alias, record, "[{}]", t.name);
    let page = t.compose_ok(
        &hello,
        &["exec", "-T", "app", "wget", "-qO-", "http://web/index.html"],
    );
    assert_eq!(page.trim(), "web: three-tier front page");
    let cross = t.compose(
        &hello,
        &[
            "exec",
            "-T",
            "web",
            "wget",
            "-T",
            "3",
            "-qO-",
            "http://db/record.txt",
        ],
    );
    assert!(
        !cross.status.success(),
        "[{}] web (frontend only) reached db: {:?}",
        t.name,
        out_err(&cross)
    );
    // run: one-off containers of app. docker-compose 1.29 starts one, attaches, and
    // starts it again if it has exited meanwhile: a quick command's output may be in
    // either run (or in none, with dockerd as with berth, when the exit comes between
    // the attach and compose's look at the state), but the run succeeds. A command
    // that outlives the attach shows its output.
    for _ in 0..3 {
        t.compose_ok(&hello, &["run", "--rm", "app", "echo", "quick"]);
    }
    let out = t.compose_ok(
        &hello,
        &["run", "--rm", "app", "sh", "-c", "sleep 1; echo one-off"],
    );
    assert_eq!(out.trim(), "one-off", "[{}]", t.name);
    let out = t.compose_ok(
        &hello,
        &[
            "run",
            "--rm",
            "-T",
            "app",
            "sh",
            "-c",
            "sleep 1; wget -qO- http://database/record.txt",
        ],
    );
    assert_eq!(out, record, "[{}]", t.name);
    assert!(
        t.by_project_label("containers").len() == 3,
        "[{}] one-off containers left: {:?}",
        t.name,
        t.by_project_label("containers")
    );
    // exec: the env_file and the interpolated environment are in app's environment.
    let env = t.compose_ok(&hello, &["exec", "-T", "app", "env"]);
    assert!(
        env.contains("APP_ROLE=three-tier-app\n"),
        "[{}] {env}",
        t.name
    );
    assert!(env.contains("GREETING=hello\n"), "[{}] {env}", t.name);

    // ps: the three containers, up, db healthy.
    let ps = t.compose_ok(&hello, &["ps"]);
    for svc in ["db", "web", "app"] {
        let name = t.container(svc);
        let line = ps
            .lines()
            .find(|l| l.starts_with(&name))
            .unwrap_or_else(|| panic!("[{}] no {name} in ps:\n{ps}", t.name));
        assert!(line.contains(" Up"), "[{}] {line}", t.name);
    }
    assert!(ps.contains("(healthy)"), "[{}] {ps}", t.name);
    let ids: BTreeSet<String> = t
        .compose_ok(&hello, &["ps", "-q"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([db.clone(), web.clone(), app.clone()]),
        "[{}]",
        t.name
    );

    // logs: app's first lines and its fetches, db's start line.
    assert!(
        common::wait_for(20, || {
            let l = t.compose_ok(&hello, &["logs", "--no-color", "app"]);
            l.contains("app: role=three-tier-app greeting=hello")
                && l.contains(&format!("app: db says {}", record.trim()))
                && l.contains("app: web says web: three-tier front page")
        }),
        "[{}] app's logs: {}",
        t.name,
        t.compose_ok(&hello, &["logs", "--no-color", "app"])
    );
    let logs = t.compose_ok(&hello, &["logs", "--no-color", "db"]);
    assert!(
        logs.contains(&format!("db: serving {}", record.trim())),
        "[{}] {logs}",
        t.name
    );

    // The project's labels, on every object, through the list filters.
    let containers = t.by_project_label("containers");
    assert_eq!(containers.len(), 3, "[{}] {containers:?}", t.name);
    for c in &containers {
        let labels = &c["Labels"];
        assert_eq!(
            labels["com.docker.compose.project"], t.project,
            "[{}] {c}",
            t.name
        );
        assert!(
            labels["com.docker.compose.service"].is_string(),
            "[{}] {c}",
            t.name
        );
        assert_eq!(
            labels["com.docker.compose.container-number"], "1",
            "[{}] {c}",
            t.name
        );
    }
    let networks: BTreeSet<String> = t
        .by_project_label("networks")
        .iter()
        .map(|n| n["Name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        networks,
        BTreeSet::from([
            format!("{}_backend", t.project),
            format!("{}_frontend", t.project)
        ]),
        "[{}]",
        t.name
    );
    let volumes = t.by_project_label("volumes");
    let volume = format!("{}_dbdata", t.project);
    assert_eq!(volumes.len(), 1, "[{}] {volumes:?}", t.name);
    assert_eq!(volumes[0]["Name"], volume.as_str(), "[{}]", t.name);
    let v = t.api(&format!("/volumes/{volume}"), &[]);
    assert_eq!(
        v["Labels"]["com.docker.compose.volume"], "dbdata",
        "[{}] {v}",
        t.name
    );

    // restart: every container starts again; db is healthy again.
    t.compose_ok(&hello, &["restart", "-t", "2"]);
    let (_, app_after) = t.one("app");
    assert_eq!(state(&app_after), "running", "[{}] {app_after}", t.name);
    assert_ne!(
        app_after["State"]["StartedAt"], app_inspect["State"]["StartedAt"],
        "[{}] app did not restart",
        t.name
    );
    assert!(
        common::wait_for(30, || t.one("db").1["State"]["Health"]["Status"]
            == "healthy"),
        "[{}] db not healthy after restart: {}",
        t.name,
        t.one("db").1
    );

    // stop + start: the volume keeps db's record.
    t.compose_ok(&hello, &["stop", "-t", "2"]);
    for svc in ["db", "web", "app"] {
        let (_, i) = t.one(svc);
        assert_eq!(state(&i), "exited", "[{}] {svc}: {i}", t.name);
    }
    t.compose_ok(&hello, &["start"]);
    assert!(
        common::wait_for(30, || t.one("db").1["State"]["Health"]["Status"]
            == "healthy"),
        "[{}] db not healthy after start: {}",
        t.name,
        t.one("db").1
    );
    let again = t.compose_ok(
        &hello,
        &["exec", "-T", "app", "wget", "-qO-", "http://db/record.txt"],
    );
    assert_eq!(again, record, "[{}] the volume lost db's record", t.name);

    // A changed environment recreates that service only.
    let bonjour = [("GREETING", "bonjour")];
    t.compose_ok(&bonjour, &["up", "-d"]);
    assert_eq!(t.one("db").0, db, "[{}] db was recreated", t.name);
    assert_eq!(t.one("web").0, web, "[{}] web was recreated", t.name);
    let (app2, app2_inspect) = t.one("app");
    assert_ne!(app2, app, "[{}] app was not recreated", t.name);
    let env = app2_inspect["Config"]["Env"].to_string();
    assert!(env.contains("\"GREETING=bonjour\""), "[{}] {env}", t.name);

    // --scale: three app containers, each behind the name `app` in the embedded DNS,
    // which answers, as dockerd's, with the replicas' addresses on one network (the
    // first by name: backend), not on every network the asking container is on.
    t.compose_ok(&bonjour, &["up", "-d", "--scale", "app=3"]);
    let apps = t.service("app");
    assert_eq!(apps.len(), 3, "[{}] {apps:?}", t.name);
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (id, i) in &apps {
        assert_eq!(state(i), "running", "[{}] {i}", t.name);
        for n in i["NetworkSettings"]["Networks"]
            .as_object()
            .expect("networks")
            .values()
        {
            owner.insert(
                n["IPAddress"].as_str().unwrap_or("").to_string(),
                id.clone(),
            );
        }
    }
    let answered = || -> BTreeSet<String> {
        let o = t.compose(
            &bonjour,
            &["exec", "-T", "--index=1", "app", "nslookup", "app"],
        );
        let (out, _) = out_err(&o);
        // busybox nslookup: the server first, then "Name:"/"Address: IP" per answer.
        out.split("Name:")
            .skip(1)
            .flat_map(|s| s.lines())
            .filter_map(|l| l.trim().strip_prefix("Address:"))
            .map(|a| a.split_whitespace().next().unwrap_or("").to_string())
            .filter(|a| a.contains('.'))
            .collect()
    };
    let mut got = BTreeSet::new();
    let all_three = common::wait_for(10, || {
        got = answered();
        got.len() == 3
            && got
                .iter()
                .filter_map(|a| owner.get(a))
                .collect::<BTreeSet<_>>()
                .len()
                == 3
    });
    assert!(
        all_three,
        "[{}] `nslookup app` answered {got:?}; the replicas' addresses: {owner:?}",
        t.name
    );

    // down -v: no container, network or volume of the project is left.
    t.compose_ok(&bonjour, &["down", "-v", "-t", "2"]);
    for kind in ["containers", "networks", "volumes"] {
        let left = t.by_project_label(kind);
        assert!(left.is_empty(), "[{}] {kind} left: {left:?}", t.name);
    }
    let vols = t.api("/volumes", &[]);
    assert!(
        !vols["Volumes"]
            .to_string()
            .contains(&format!("\"{volume}\"")),
        "[{}] {vols}",
        t.name
    );

    // up in the foreground: compose attaches to each container before it connects
    // its networks and starts it; the services' output comes through, and app
    // reaches both by name. Ctrl-C stops them.
    let mut c = t.program();
    t.compose_args(&mut c, &hello, &["up", "--no-color"]);
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn docker-compose up");
    let mut up = common::Reaped(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = up.0.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let want = [
        "app: db says record ",
        "app: web says web: three-tier front page",
        "db: serving record ",
    ];
    while !want.iter().all(|w| seen.iter().any(|l| l.contains(w))) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!(
                "[{}] up in the foreground showed:\n{}\nlog tail:\n{}",
                t.name,
                seen.join("\n"),
                tail(&(t.log)(), 40)
            ),
        }
    }
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(up.0.id().to_string())
        .status();
    let st = up.0.wait().expect("wait for docker-compose up");
    // docker-compose 1.29 exits 0 after Ctrl-C, docker compose v2 (and berth's) 130.
    let want = if t.berth_compose { Some(130) } else { Some(0) };
    assert!(
        st.code() == want,
        "[{}] up ended with {st}: {}",
        t.name,
        seen.join("\n")
    );
    for svc in ["db", "web", "app"] {
        let (_, i) = t.one(svc);
        assert_eq!(state(&i), "exited", "[{}] {svc}: {i}", t.name);
    }
    t.compose_ok(&hello, &["down", "-v", "-t", "2"]);
    for kind in ["containers", "networks", "volumes"] {
        let left = t.by_project_label(kind);
        assert!(left.is_empty(), "[{}] {kind} left: {left:?}", t.name);
    }
}

/// Now, as `since`/`until` take it (seconds, fractional).
fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

#[test]
#[ignore = "needs root: starts a daemon"]
fn compose_v1_three_tier() {
    let Some(compose) = docker_compose() else {
        return;
    };
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let t = Target {
        name: "berth",
        sock: d.sock.clone(),
        netns: d.netns.clone(),
        log: Box::new(|| d.log()),
        compose,
        berth_compose: false,
        project: "berthdc",
        config_dir: d.root.join("docker-config"),
    };
    scenario(&t);
}

#[test]
#[ignore = "needs root: starts a dockerd"]
fn compose_v1_against_dockerd() {
    let Some(compose) = docker_compose() else {
        return;
    };
    if common::busybox().is_none() || common::docker_cli().is_none() {
        eprintln!("note: no static busybox or docker CLI; skipping");
        return;
    }
    let Some(k) = common::dockerd::Dockerd::start_networked_alone("10.231.0.1/24") else {
        return;
    };
    k.import_busybox();
    let t = Target {
        name: "dockerd",
        sock: k.sock(),
        netns: Some(k.netns()),
        log: Box::new(|| k.log()),
        compose,
        berth_compose: false,
        project: "berthdc",
        config_dir: k.sock().with_file_name("docker-config"),
    };
    scenario(&t);
}

/// The same scenario through `berth compose` against berth's daemon.
#[test]
#[ignore = "needs root: starts a daemon"]
fn berth_compose_three_tier() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let t = Target {
        name: "berth compose",
        sock: d.sock.clone(),
        netns: d.netns.clone(),
        log: Box::new(|| d.log()),
        compose: common::berth_bin(),
        berth_compose: true,
        project: "berthbc",
        config_dir: d.root.join("docker-config"),
    };
    scenario(&t);
}
