//! End to end: an image of 128 layers (a `docker save` archive made here: busybox, then
//! 127 layers that each add a file, overwrite one and one of which deletes a file with a
//! whiteout) loads, runs with every layer in place and in order, and commits a 129th.
//! Stacks this deep overflow the page that mount(2) takes overlay's options in, so the
//! runtime must mount them another way on every kernel.

mod common;

use common::Cli;

const LAYERS: usize = common::MANY_LAYERS;

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn an_image_of_128_layers_runs() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let b = Cli::berth();
    let tag = "many-layers:128";
    let tar = common::many_layer_archive(&d, tag);
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
