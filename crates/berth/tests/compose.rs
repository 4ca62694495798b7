//! `berth compose` against berth's daemon, beyond the three-tier scenario it shares
//! with docker-compose 1.29 (tests/compose_v1.rs): dependency conditions that wait
//! for a job to finish, `--wait`, profiles, one-off `run --rm`, orphans, attached
//! `up` with prefixed logs stopped by Ctrl+C, `down -p` without a file, errors that
//! name the file, the service and the key, and projects made by one tool (berth
//! compose or docker-compose) seen and taken down by the other.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{berth_bin, out_err, tail, Daemon};

/// `berth compose -p PROJECT -f FILE ARGS` against `d`, in `dir`.
fn compose(d: &Daemon, dir: &Path, project: &str, args: &[&str]) -> Output {
    let mut c = Command::new("timeout");
    c.arg("120")
        .arg(berth_bin())
        .arg("compose")
        .arg("-p")
        .arg(project)
        .arg("-f")
        .arg(dir.join("compose.yaml"))
        .args(args)
        .env("DOCKER_HOST", d.host())
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROFILES")
        .stdin(Stdio::null());
    c.output().expect("run berth compose")
}

fn compose_ok(d: &Daemon, dir: &Path, project: &str, args: &[&str]) -> (String, String) {
    let o = compose(d, dir, project, args);
    let (out, err) = out_err(&o);
    assert!(
        o.status.success(),
        "berth compose {args:?} failed ({}):\nstdout: {out}\nstderr: {err}\nlog tail:\n{}",
        o.status,
        tail(&d.log(), 30)
    );
    (out, err)
}

/// `berth ARGS` against `d`: stdout.
fn berth(d: &Daemon, args: &[&str]) -> String {
    let o = Command::new(berth_bin())
        .args(args)
        .env("DOCKER_HOST", d.host())
        .stdin(Stdio::null())
        .output()
        .expect("run berth");
    let (out, err) = out_err(&o);
    assert!(o.status.success(), "berth {args:?}: {err}");
    out
}

/// Names of the containers (all states) carrying `label`.
fn names(d: &Daemon, label: &str) -> Vec<String> {
    let mut v: Vec<String> = berth(
        d,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("label={label}"),
            "--format",
            "{{.Names}}",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect();
    v.sort();
    v
}

fn project_dir(d: &Daemon, name: &str, yaml: &str) -> PathBuf {
    let dir = d.root.join(name);
    std::fs::create_dir_all(&dir).expect("project dir");
    std::fs::write(dir.join("compose.yaml"), yaml).expect("compose.yaml");
    dir
}

#[test]
#[ignore = "needs root: starts berth's daemon and containers"]
fn conditions_wait_profiles_run_and_orphans() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "jobs",
        r#"
services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; echo migrated > /shared/done"]
    volumes: [shared:/shared]
  api:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; cat /shared/done; sleep 600 & wait"]
    volumes: [shared:/shared]
    depends_on:
      migrate:
        condition: service_completed_successfully
    healthcheck:
      test: ["CMD", "test", "-f", "/shared/done"]
      interval: 1s
      retries: 20
  debug:
    image: busybox:latest
    command: ["sleep", "600"]
    profiles: [tools]
volumes:
  shared:
"#,
    );
    // --wait returns once api is healthy; api started only after migrate finished
    // (it printed the file migrate wrote).
    compose_ok(&d, &dir, "jobs", &["up", "-d", "--wait"]);
    let (logs, _) = compose_ok(&d, &dir, "jobs", &["logs", "--no-color", "api"]);
    assert!(logs.contains("jobs-api-1  | migrated"), "{logs}");
    let status = berth(
        &d,
        &["inspect", "-f", "{{.State.Health.Status}}", "jobs-api-1"],
    );
    assert_eq!(status.trim(), "healthy");
    // The profile's service is not started unless its profile is active.
    assert!(names(&d, "com.docker.compose.service=debug").is_empty());
    compose_ok(&d, &dir, "jobs", &["--profile", "tools", "up", "-d"]);
    assert_eq!(
        names(&d, "com.docker.compose.service=debug"),
        vec!["jobs-debug-1"]
    );

    // run --rm: a one-off container, labelled so, gone afterwards.
    let (out, _) = compose_ok(
        &d,
        &dir,
        "jobs",
        &["run", "--rm", "--no-deps", "api", "echo", "one-off"],
    );
    assert_eq!(out.trim(), "one-off");
    assert!(names(&d, "com.docker.compose.oneoff=True").is_empty());
    // run -d keeps it, named PROJECT-SERVICE-run-…, and `ps -a` lists it.
    let (out, _) = compose_ok(
        &d,
        &dir,
        "jobs",
        &["run", "-d", "--no-deps", "api", "sleep", "600"],
    );
    assert!(out.trim().starts_with("jobs-api-run-"), "{out}");

    // A service removed from the file is an orphan: named by up, removed with
    // --remove-orphans.
    std::fs::write(
        dir.join("compose.yaml"),
        std::fs::read_to_string(dir.join("compose.yaml"))
            .expect("read")
            .replace("  debug:\n", "  debug2:\n"),
    )
    .expect("write");
    let (_, err) = compose_ok(&d, &dir, "jobs", &["up", "-d"]);
    assert!(
        err.contains("Found orphan containers ([jobs-debug-1])"),
        "{err}"
    );
    compose_ok(&d, &dir, "jobs", &["up", "-d", "--remove-orphans"]);
    assert!(names(&d, "com.docker.compose.service=debug").is_empty());

    // down with only the project's name (no file at hand) takes everything away,
    // one-off containers and the volume too.
    let o = Command::new(berth_bin())
        .args(["compose", "-p", "jobs", "down", "-v", "-t", "1"])
        .current_dir(&d.root)
        .env("DOCKER_HOST", d.host())
        .stdin(Stdio::null())
        .output()
        .expect("down");
    assert!(o.status.success(), "{:?}", out_err(&o));
    assert!(names(&d, "com.docker.compose.project=jobs").is_empty());
    assert!(!berth(&d, &["volume", "ls", "-q"]).contains("jobs_shared"));
    assert!(!berth(&d, &["network", "ls"]).contains("jobs_default"));
}

#[test]
#[ignore = "needs root: starts berth's daemon and containers"]
fn a_failed_job_stops_its_dependents_and_wait_times_out() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "failing",
        r#"
services:
  job:
    image: busybox:latest
    command: ["sh", "-c", "exit 3"]
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    depends_on:
      job:
        condition: service_completed_successfully
"#,
    );
    let o = compose(&d, &dir, "failing", &["up", "-d"]);
    let (_, err) = out_err(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("service \"job\" didn't complete successfully: exit 3"),
        "{err}"
    );
    // app was never created.
    assert!(names(&d, "com.docker.compose.service=app").is_empty());
    compose_ok(&d, &dir, "failing", &["down"]);

    // --wait gives up after --wait-timeout on a service that never gets healthy.
    let dir = project_dir(
        &d,
        "slow",
        r#"
services:
  never:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1000
"#,
    );
    let o = compose(
        &d,
        &dir,
        "slow",
        &["up", "-d", "--wait", "--wait-timeout", "2"],
    );
    let (_, err) = out_err(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("container slow-never-1 is not healthy yet: the wait timed out"),
        "{err}"
    );
    compose_ok(&d, &dir, "slow", &["down"]);
}

#[test]
#[ignore = "needs root: starts berth's daemon and containers"]
fn attached_up_prefixes_logs_and_ctrl_c_stops_the_project() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "att",
        r#"
services:
  talker:
    image: busybox:latest
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo hello from talker; sleep 600 & wait"]
  once:
    image: busybox:latest
    command: ["echo", "done once"]
"#,
    );
    let out_path = d.root.join("attached.out");
    let mut child = Command::new(berth_bin())
        .args(["compose", "-p", "att", "-f"])
        .arg(dir.join("compose.yaml"))
        .args(["up", "--no-color"])
        .env("DOCKER_HOST", d.host())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("out"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn up");
    let read = || std::fs::read_to_string(&out_path).unwrap_or_default();
    let seen = common::wait_for(30, || {
        let t = read();
        t.contains("att-talker-1  | hello from talker")
            && t.contains("att-once-1 exited with code 0")
    });
    if !seen {
        let _ = child.kill();
        panic!("attached output: {}", read());
    }
    assert!(read().contains("att-once-1    | done once"), "{}", read());
    // Ctrl+C: the project is stopped, talker says bye on its way out.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{}", read());
    let text = read();
    assert!(text.contains("Gracefully stopping..."), "{text}");
    assert!(text.contains("att-talker-1  | bye"), "{text}");
    let state = berth(&d, &["inspect", "-f", "{{.State.Status}}", "att-talker-1"]);
    assert_eq!(state.trim(), "exited");
    compose_ok(&d, &dir, "att", &["down"]);
}

#[test]
#[ignore = "needs root: starts berth's daemon"]
fn bad_files_are_refused_naming_file_service_and_key() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "bad",
        "services:\n  web:\n    image: busybox:latest\n    ports: [\"80:eighty\"]\n",
    );
    let o = compose(&d, &dir, "bad", &["up", "-d"]);
    let (_, err) = out_err(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let file = dir.join("compose.yaml").display().to_string();
    assert!(err.contains(&file), "{err}");
    assert!(err.contains("services.web.ports[0]"), "{err}");
    // A typo in a key is named, not ignored.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: busybox:latest\n    enviroment: [A=1]\n",
    )
    .expect("write");
    let (_, err) = out_err(&compose(&d, &dir, "bad", &["config"]));
    assert!(
        err.contains("services.web") && err.contains("enviroment"),
        "{err}"
    );
    // A required variable that is unset.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: \"busybox:${TAG:?set TAG first}\"\n",
    )
    .expect("write");
    let (_, err) = out_err(&compose(&d, &dir, "bad", &["config"]));
    assert!(
        err.contains("set TAG first") && err.contains("services.web.image"),
        "{err}"
    );
    // Nothing was created.
    assert!(names(&d, "com.docker.compose.project=bad").is_empty());
}

#[test]
#[ignore = "needs root: starts berth's daemon and containers"]
fn docker_compose_and_berth_compose_see_each_others_projects() {
    let Some(dc) = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("note: no docker-compose (apt-get install docker-compose); skipping");
        return;
    };
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "shared",
        r#"
services:
  one:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
  two:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    depends_on: [one]
volumes:
  data:
"#,
    );
    let v1 = |args: &[&str]| {
        let o = Command::new("timeout")
            .arg("120")
            .arg(&dc)
            .args(["-p", "shared", "-f"])
            .arg(dir.join("compose.yaml"))
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .stdin(Stdio::null())
            .output()
            .expect("docker-compose");
        let (out, err) = out_err(&o);
        assert!(o.status.success(), "docker-compose {args:?}: {out}{err}");
        out
    };
    // Made by docker-compose: berth compose lists it and takes it down.
    v1(&["up", "-d"]);
    let (ps, _) = compose_ok(&d, &dir, "shared", &["ps"]);
    for n in ["shared_one_1", "shared_two_1"] {
        assert!(
            ps.lines().any(|l| l.starts_with(n) && l.contains(" Up ")),
            "{ps}"
        );
    }
    let (ls, _) = compose_ok(&d, &dir, "shared", &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("shared ") && l.contains("running(2)")),
        "{ls}"
    );
    compose_ok(&d, &dir, "shared", &["down"]);
    assert!(names(&d, "com.docker.compose.project=shared").is_empty());
    assert!(!berth(&d, &["network", "ls"]).contains("shared_default"));

    // Made by berth compose: docker-compose lists it and takes it down.
    compose_ok(&d, &dir, "shared", &["up", "-d"]);
    let ps = v1(&["ps"]);
    for n in ["shared-one-1", "shared-two-1"] {
        assert!(
            ps.lines().any(|l| l.starts_with(n) && l.contains(" Up")),
            "{ps}"
        );
    }
    v1(&["down"]);
    assert!(names(&d, "com.docker.compose.project=shared").is_empty());
    assert!(!berth(&d, &["network", "ls"]).contains("shared_default"));
}

#[test]
#[ignore = "needs root: starts berth's daemon and containers"]
fn service_keys_reach_the_container() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "keys",
        r#"
services:
  box:
    image: busybox:latest
    command: sh -c 'cat /run/secrets/token /conf.txt; sleep 600'
    hostname: boxhost
    user: "1000:1000"
    working_dir: /tmp
    extra_hosts: ["db.example:10.1.2.3"]
    dns: [10.9.9.9]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only: true
    tmpfs: [/scratch]
    init: true
    stop_signal: SIGUSR1
    stop_grace_period: 3s
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    labels: {com.example.role: box}
    logging:
      driver: json-file
      options: {max-size: 1m}
    deploy:
      resources:
        limits: {memory: 64m, cpus: "0.5"}
    restart: on-failure:2
    secrets: [token]
    configs:
      - source: conf
        target: /conf.txt
secrets:
  token:
    file: ./token.txt
configs:
  conf:
    file: ./conf.txt
"#,
    );
    std::fs::write(dir.join("token.txt"), "s3cret\n").expect("token");
    std::fs::write(dir.join("conf.txt"), "conf-line\n").expect("conf");
    compose_ok(&d, &dir, "keys", &["up", "-d"]);
    let f = |t: &str| {
        berth(&d, &["inspect", "-f", t, "keys-box-1"])
            .trim()
            .to_string()
    };
    assert_eq!(f("{{.Config.Hostname}}"), "boxhost");
    assert_eq!(f("{{.Config.User}}"), "1000:1000");
    assert_eq!(f("{{.Config.WorkingDir}}"), "/tmp");
    assert_eq!(f("{{.Config.StopSignal}}"), "SIGUSR1");
    assert_eq!(f("{{.Config.StopTimeout}}"), "3");
    assert_eq!(f("{{index .Config.Labels \"com.example.role\"}}"), "box");
    assert_eq!(f("{{.HostConfig.ExtraHosts}}"), "[db.example:10.1.2.3]");
    assert_eq!(f("{{.HostConfig.Dns}}"), "[10.9.9.9]");
    assert_eq!(f("{{.HostConfig.CapAdd}}"), "[NET_ADMIN]");
    assert_eq!(f("{{.HostConfig.CapDrop}}"), "[MKNOD]");
    assert_eq!(f("{{.HostConfig.ReadonlyRootfs}}"), "true");
    assert_eq!(f("{{.HostConfig.Init}}"), "true");
    assert_eq!(f("{{.HostConfig.Memory}}"), (64 << 20).to_string());
    assert_eq!(f("{{.HostConfig.NanoCpus}}"), "500000000");
    assert_eq!(
        f("{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
        "on-failure:2"
    );
    assert_eq!(
        f("{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"),
        "json-file 1m"
    );
    assert_eq!(
        f("{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}}"),
        "nofile=1024:2048"
    );
    assert!(f("{{.HostConfig.Tmpfs}}").contains("/scratch"));
    // The secret and the config are in the container, from their files.
    assert!(
        common::wait_for(10, || {
            let (logs, _) = compose_ok(&d, &dir, "keys", &["logs", "--no-log-prefix", "box"]);
            logs.contains("s3cret") && logs.contains("conf-line")
        }),
        "{}",
        compose_ok(&d, &dir, "keys", &["logs", "box"]).0
    );
    // In the container: the read-only root, the tmpfs, the limit.
    let (out, _) = compose_ok(
        &d,
        &dir,
        "keys",
        &["exec", "-T", "box", "sh", "-c", "touch /x 2>/dev/null && echo rw || echo ro; touch /scratch/y && echo tmpfs-ok; ulimit -n; id -u"],
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["ro", "tmpfs-ok", "1024", "1000"]
    );
    compose_ok(&d, &dir, "keys", &["down", "-t", "1"]);
}

/// The resource, cgroup and link keys reach the container's HostConfig (and its
/// process); `label_file` labels sit under the explicit ones; `post_start` runs
/// in the container once it has started, with its user, directory and environment,
/// and `pre_stop` before it is stopped; `attach: false` keeps a service's logs out
/// of an attached `up`.
#[test]
#[ignore = "needs root: starts berth's daemon and containers"]
fn service_keys_for_cgroups_links_labels_and_hooks_reach_the_container() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    // The external_links target: a container outside the project, on a network the
    // service joins too.
    berth(&d, &["network", "create", "keysx-shared"]);
    berth(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "keysx-outside",
            "--network",
            "keysx-shared",
            "busybox:latest",
            "sleep",
            "600",
        ],
    );
    let dir = project_dir(
        &d,
        "keysx",
        &format!(
            r#"
services:
  box:
    image: busybox:latest
    command: sleep 600
    cgroup_parent: {parent}
    cpu_period: 100000
    cpu_quota: 50000
    oom_score_adj: 500
    mem_swappiness: 10
    device_cgroup_rules: ["c 1:3 mr"]
    external_links: [keysx-outside:outside]
    label_file: ./box.labels
    labels: {{com.example.shared: explicit}}
    volumes: [./out:/out]
    networks: [shared]
    post_start:
      - command: sh -c 'echo "$$GREETING $$(id -u) $$(pwd)" > /out/post_start'
        working_dir: /tmp
        environment: {{GREETING: hello}}
    pre_stop:
      - command: ["sh", "-c", "echo bye > /out/pre_stop"]
networks:
  shared:
    external: true
    name: keysx-shared
"#,
            parent = d.cgroup_parent
        ),
    );
    std::fs::write(
        dir.join("box.labels"),
        "com.example.from-file=1
com.example.shared=from-file
",
    )
    .expect("labels");
    let out = dir.join("out");
    compose_ok(&d, &dir, "keysx", &["up", "-d"]);
    let f = |t: &str| {
        berth(&d, &["inspect", "-f", t, "keysx-box-1"])
            .trim()
            .to_string()
    };
    assert_eq!(f("{{.HostConfig.CpuPeriod}}"), "100000");
    assert_eq!(f("{{.HostConfig.CpuQuota}}"), "50000");
    assert_eq!(f("{{.HostConfig.OomScoreAdj}}"), "500");
    assert_eq!(f("{{.HostConfig.MemorySwappiness}}"), "10");
    assert_eq!(f("{{.HostConfig.CgroupParent}}"), d.cgroup_parent);
    assert_eq!(f("{{.HostConfig.DeviceCgroupRules}}"), "[c 1:3 mr]");
    assert_eq!(
        f("{{(index .NetworkSettings.Networks \"keysx-shared\").Links}}"),
        "[keysx-outside:outside]"
    );
    assert_eq!(
        f("{{index .Config.Labels \"com.example.from-file\"}} {{index .Config.Labels \"com.example.shared\"}}"),
        "1 explicit"
    );
    // In the container: its own OOM score, and the link's alias resolves.
    let (seen, _) = compose_ok(
        &d,
        &dir,
        "keysx",
        &[
            "exec",
            "-T",
            "box",
            "sh",
            "-c",
            "cat /proc/1/oom_score_adj; nslookup outside >/dev/null && echo resolved",
        ],
    );
    assert_eq!(
        seen.split_whitespace().collect::<Vec<_>>(),
        ["500", "resolved"]
    );
    // post_start ran as the container's user (root), where and with what it was told.
    let post = std::fs::read_to_string(out.join("post_start")).expect("post_start ran");
    assert_eq!(post.trim(), "hello 0 /tmp");
    assert!(!out.join("pre_stop").exists());
    compose_ok(&d, &dir, "keysx", &["stop", "-t", "1"]);
    let pre = std::fs::read_to_string(out.join("pre_stop")).expect("pre_stop ran");
    assert_eq!(pre.trim(), "bye");
    compose_ok(&d, &dir, "keysx", &["down", "-t", "1"]);
    berth(&d, &["rm", "-f", "keysx-outside"]);
    berth(&d, &["network", "rm", "keysx-shared"]);

    // attach: false — an attached `up` shows only the other service's logs.
    let dir = project_dir(
        &d,
        "keysa",
        r#"
services:
  loud:
    image: busybox:latest
    command: echo loud-line
  quiet:
    image: busybox:latest
    command: echo quiet-line
    attach: false
"#,
    );
    let (logs, _) = compose_ok(&d, &dir, "keysa", &["up", "--no-color"]);
    assert!(logs.contains("loud-line"), "{logs}");
    assert!(!logs.contains("quiet-line"), "{logs}");
    compose_ok(&d, &dir, "keysa", &["down"]);
}

/// Secrets from `environment:` (here a variable of the project's `.env`) and configs
/// from `content:` are copied into the container before it starts, with the long
/// syntax's owner and mode (0444 by default), and stay across a restart; a secret whose
/// variable is unset stops `up` naming the secret and the variable, with no container.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn secrets_and_configs_from_variables_and_content_are_copied_in() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let dir = project_dir(
        &d,
        "inject",
        r#"
services:
  box:
    image: busybox:latest
    command: sleep 600
    secrets:
      - source: token
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - source: inline
        target: /etc/app/app.conf
secrets:
  token:
    environment: TOKEN
configs:
  inline:
    content: |
      port=${PORT:-80}
"#,
    );
    std::fs::write(dir.join(".env"), "TOKEN=from-dotenv\n").expect(".env");
    compose_ok(&d, &dir, "inject", &["up", "-d"]);
    let script = "cat /run/secrets/token; echo; stat -c '%u:%g %a' /run/secrets/token; \
                  cat /etc/app/app.conf; stat -c '%u:%g %a' /etc/app/app.conf";
    let look = || {
        compose_ok(
            &d,
            &dir,
            "inject",
            &["exec", "-T", "box", "sh", "-c", script],
        )
        .0
    };
    let expected = "from-dotenv\n1000:1001 400\nport=80\n0:0 444\n";
    assert_eq!(look(), expected);
    compose_ok(&d, &dir, "inject", &["restart", "-t", "1"]);
    assert_eq!(look(), expected);
    compose_ok(&d, &dir, "inject", &["down", "-t", "1"]);

    let dir = project_dir(
        &d,
        "unset",
        "services:\n  box:\n    image: busybox:latest\n    secrets: [token]\n\
         secrets:\n  token:\n    environment: BERTH_TEST_NEVER_SET\n",
    );
    let o = compose(&d, &dir, "unset", &["up", "-d"]);
    let (_, err) = out_err(&o);
    assert!(
        !o.status.success(),
        "up with an unset secret variable worked"
    );
    assert!(
        err.contains(
            "service box: secret \"token\": environment variable \"BERTH_TEST_NEVER_SET\" is not set"
        ),
        "{err}"
    );
    assert_eq!(
        names(&d, "com.docker.compose.project=unset"),
        Vec::<String>::new()
    );
    compose_ok(&d, &dir, "unset", &["down"]);
}
