//! End to end: an image of 128 layers (a `docker save` archive made here: busybox, then
//! 127 layers that each add a file, overwrite one and one of which deletes a file with a
//! whiteout) loads, runs with every layer in place and in order, and commits a 129th.
//! Stacks this deep overflow the page that mount(2) takes overlay's options in, so the
//! runtime must mount them another way on every kernel.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Cli, Daemon};

const LAYERS: usize = 128;

/// A layer tarball adding `layers/NNN`, overwriting `layers/top`, and (for `delete`)
/// whiting out `layers/DDD`.
fn layer(n: usize, delete: Option<usize>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_uid(0);
    dir.set_gid(0);
    dir.set_size(0);
    dir.set_mtime(1_700_000_000);
    dir.set_cksum();
    b.append_data(&mut dir, "layers/", std::io::empty())
        .expect("layer dir");
    let mut file = |path: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, path, data).expect("layer file");
    };
    file(format!("layers/{n:03}"), format!("{n}\n").as_bytes());
    file("layers/top".into(), format!("{n}\n").as_bytes());
    if let Some(d) = delete {
        file(format!("layers/.wh.{d:03}"), b"");
    }
    b.into_inner().expect("layer tar")
}

fn sha256(path: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(o.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// Writes a `docker save` archive of a 128-layer image tagged `tag`; returns its path.
fn archive(d: &Daemon, tag: &str) -> std::path::PathBuf {
    let dir = d.root.join("many-layers");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let base = common::busybox_rootfs_tar(&d.root);
    let mut paths = Vec::new();
    let mut diff_ids = Vec::new();
    for n in 0..LAYERS {
        let rel = format!("{n:03}/layer.tar");
        let p = dir.join(&rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir layer");
        if n == 0 {
            std::fs::copy(&base, &p).expect("busybox layer");
        } else {
            // Layer 64 deletes what layer 10 added.
            std::fs::write(&p, layer(n, (n == 64).then_some(10))).expect("write layer");
        }
        diff_ids.push(format!("sha256:{}", sha256(&p)));
        paths.push(rel);
    }
    let history: Vec<serde_json::Value> = (0..LAYERS)
        .map(|n| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("layer {n}")}))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    std::fs::write(dir.join("config.json"), &config_bytes).expect("write config");
    let config_name = format!("{}.json", sha256(&dir.join("config.json")));
    std::fs::rename(dir.join("config.json"), dir.join(&config_name)).expect("rename config");
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": paths,
    }]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&manifest).expect("manifest json"),
    )
    .expect("write manifest");
    let out = d.root.join("many-layers.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the archive failed");
    std::fs::remove_dir_all(&dir).expect("remove the archive's tree");
    out
}

#[test]
fn an_image_of_128_layers_runs() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let b = Cli::berth();
    let tag = "many-layers:128";
    let tar = archive(&d, tag);
    d.ok(&b, &["load", "-i", tar.to_str().expect("utf-8 path")]);
    let layers = d.ok(
        &b,
        &["image", "inspect", "-f", "{{json .RootFS.Layers}}", tag],
    );
    let layers: Vec<String> = serde_json::from_str(layers.trim()).expect("RootFS.Layers");
    assert_eq!(layers.len(), LAYERS, "layers of {tag}");

    // Every layer is there, the last one on top, and layer 64's whiteout hides layer 10's file.
    let script = "cat /layers/top; ls /layers | grep -v top | wc -l; cat /layers/001 /layers/127; \
                  test -e /layers/010 && echo 010 is back || echo 010 is gone";
    for cli in Cli::all() {
        let c = &cli;
        let out = d.ok(c, &["run", "--rm", tag, "sh", "-c", script]);
        assert_eq!(
            out,
            format!("{}\n{}\n1\n127\n010 is gone\n", LAYERS - 1, LAYERS - 2),
            "{}: the 128-layer container's view",
            c.name
        );
    }

    // A container on it commits a 129th layer, and that image runs too.
    let name = "many-layers-ctr";
    d.ok(
        &b,
        &[
            "run",
            "--name",
            name,
            tag,
            "sh",
            "-c",
            "echo 128 > /layers/top",
        ],
    );
    d.ok(&b, &["commit", name, "many-layers:129"]);
    assert_eq!(
        d.ok(
            &b,
            &["run", "--rm", "many-layers:129", "cat", "/layers/top"]
        ),
        "128\n",
        "the committed 129th layer"
    );
    d.ok(&b, &["rm", name]);
}
