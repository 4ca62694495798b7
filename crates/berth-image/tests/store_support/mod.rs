//! Builders for small images written straight into a content store: layers are
//! arbitrary bytes stored uncompressed (so a layer's digest is its diff_id).
#![allow(dead_code)]

use berth_image::content::ContentStore;
use berth_image::model::{media, Descriptor, Platform};
use berth_types::Digest;

pub struct TestImage {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

pub fn put_json(cs: &ContentStore, media_type: &str, v: &serde_json::Value) -> Descriptor {
    let bytes = serde_json::to_vec(v).unwrap();
    let digest = cs.put(&bytes, None).unwrap();
    Descriptor {
        media_type: media_type.into(),
        digest,
        size: bytes.len() as u64,
        urls: None,
        annotations: None,
        platform: None,
    }
}

pub fn platform(arch: &str) -> Platform {
    Platform {
        architecture: arch.into(),
        os: "linux".into(),
        ..Platform::default()
    }
}

/// An image of `n_layers` layers whose contents derive from `seed`, for `arch`.
pub fn image(cs: &ContentStore, seed: &str, arch: &str, n_layers: usize) -> TestImage {
    let layers = (0..n_layers)
        .map(|i| layer(cs, format!("layer {i} of {seed}").as_bytes()))
        .collect();
    image_with_layers(cs, seed, arch, layers)
}

/// An uncompressed layer blob.
pub fn layer(cs: &ContentStore, bytes: &[u8]) -> Descriptor {
    let digest = cs.put(bytes, None).unwrap();
    Descriptor {
        media_type: media::OCI_LAYER.into(),
        digest,
        size: bytes.len() as u64,
        urls: None,
        annotations: None,
        platform: None,
    }
}

/// An image over the given (uncompressed) layers.
pub fn image_with_layers(
    cs: &ContentStore,
    seed: &str,
    arch: &str,
    layers: Vec<Descriptor>,
) -> TestImage {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = put_json(
        cs,
        media::OCI_CONFIG,
        &serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Labels": {"seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }),
    );
    let manifest = put_json(
        cs,
        media::OCI_MANIFEST,
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": config,
            "layers": layers,
        }),
    );
    TestImage {
        manifest,
        config,
        layers,
    }
}

/// An index over the given platform manifests.
pub fn index(cs: &ContentStore, entries: &[(&Descriptor, &str)]) -> Descriptor {
    let manifests: Vec<Descriptor> = entries
        .iter()
        .map(|(d, arch)| Descriptor {
            platform: Some(platform(arch)),
            ..(*d).clone()
        })
        .collect();
    put_json(
        cs,
        media::OCI_INDEX,
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": manifests,
        }),
    )
}

pub fn all_digests(img: &TestImage) -> Vec<Digest> {
    let mut v = vec![img.manifest.digest.clone(), img.config.digest.clone()];
    v.extend(img.layers.iter().map(|l| l.digest.clone()));
    v
}
