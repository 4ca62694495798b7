//! The labels and names docker compose gives what it creates, so that a project
//! started by one tool is found by the other, and the config hash that tells whether
//! a container still matches its service.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::model::{Project, Service};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
/// The id of the image a container was created from: a rebuilt or re-pulled image
/// recreates the container.
pub const IMAGE: &str = "com.docker.compose.image";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// The compose version berth writes in `com.docker.compose.version`.
pub const COMPOSE_VERSION: &str = "2.24.0";

/// `PROJECT-SERVICE-N`, docker compose v2's container name (`container_name:` wins).
pub fn container_name(project: &str, service: &Service, number: u32) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => format!("{project}-{}-{number}", service.name),
    }
}

/// The image a service runs: `image:`, else `PROJECT-SERVICE` for a built one.
pub fn image_name(project: &str, service: &Service) -> String {
    match &service.image {
        Some(image) => image.clone(),
        None => format!("{project}-{}", service.name),
    }
}

/// The labels every container of `service` carries (its own labels first, compose's
/// over them).
pub fn container_labels(
    project: &Project,
    service: &Service,
    number: u32,
    oneoff: bool,
    hash: &str,
    image_id: &str,
) -> BTreeMap<String, String> {
    let mut labels = service.labels.clone();
    labels.extend(project_labels(project));
    labels.insert(SERVICE.into(), service.name.clone());
    labels.insert(NUMBER.into(), number.to_string());
    labels.insert(ONEOFF.into(), if oneoff { "True" } else { "False" }.into());
    labels.insert(CONFIG_HASH.into(), hash.into());
    labels.insert(IMAGE.into(), image_id.into());
    let deps: Vec<String> = service
        .depends_on
        .iter()
        .map(|(name, d)| {
            let condition = serde_json::to_value(d.condition)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{name}:{condition}:{}", d.restart)
        })
        .collect();
    if !deps.is_empty() {
        labels.insert(DEPENDS_ON.into(), deps.join(","));
    }
    labels
}

/// The labels that say which project something belongs to.
pub fn project_labels(project: &Project) -> BTreeMap<String, String> {
    let files: Vec<String> = project
        .config_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    BTreeMap::from([
        (PROJECT.to_string(), project.name.clone()),
        (
            WORKING_DIR.to_string(),
            project.working_dir.display().to_string(),
        ),
        (CONFIG_FILES.to_string(), files.join(",")),
        (VERSION.to_string(), COMPOSE_VERSION.to_string()),
    ])
}

/// The hash of what a service's containers are made from: its configuration without
/// the keys that do not change a container (replicas, build, pull policy, whether
/// `up` shows its logs, the lifecycle hooks run through exec). Equal hashes leave a
/// running container alone; a different one recreates it.
pub fn config_hash(service: &Service) -> String {
    let mut s = service.clone();
    s.scale = None;
    s.build = None;
    s.pull_policy = None;
    s.attach = None;
    s.post_start.clear();
    s.pre_stop.clear();
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    if s.deploy == Some(Default::default()) {
        s.deploy = None;
    }
    let config = serde_json::to_vec(&(&s, &s.resources)).unwrap_or_default();
    let digest = Sha256::digest(&config);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How many containers a service wants: `--scale`, else deploy.replicas, else
/// `scale:`, else one.
pub fn replicas(service: &Service, scale: &BTreeMap<String, u32>) -> u32 {
    scale
        .get(&service.name)
        .copied()
        .or(service.deploy.as_ref().and_then(|d| d.replicas))
        .or(service.scale)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Deploy;

    fn svc(name: &str) -> Service {
        Service {
            name: name.into(),
            image: Some("busybox".into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_docker_compose_v2() {
        let s = svc("web");
        assert_eq!(container_name("shop", &s, 2), "shop-web-2");
        assert_eq!(
            image_name(
                "shop",
                &Service {
                    image: None,
                    ..svc("web")
                }
            ),
            "shop-web"
        );
        let named = Service {
            container_name: Some("mine".into()),
            ..svc("web")
        };
        assert_eq!(container_name("shop", &named, 1), "mine");
    }

    #[test]
    fn hash_ignores_replicas_but_not_environment() {
        let a = svc("web");
        let mut b = a.clone();
        b.deploy = Some(Deploy {
            replicas: Some(3),
            ..Default::default()
        });
        b.scale = Some(2);
        assert_eq!(config_hash(&a), config_hash(&b));
        let mut c = a.clone();
        c.environment.insert("A".into(), Some("1".into()));
        assert_ne!(config_hash(&a), config_hash(&c));
        let mut d = a.clone();
        d.resources.memory = Some(1 << 20);
        assert_ne!(config_hash(&a), config_hash(&d));
    }

    #[test]
    fn hash_follows_the_host_config_keys_but_not_attach_or_hooks() {
        let a = svc("web");
        let changed = [
            Service {
                cpu_quota: Some(50_000),
                ..a.clone()
            },
            Service {
                oom_score_adj: Some(500),
                ..a.clone()
            },
            Service {
                external_links: vec!["other".into()],
                ..a.clone()
            },
            Service {
                blkio_config: Some(Default::default()),
                ..a.clone()
            },
        ];
        for c in &changed {
            assert_ne!(config_hash(&a), config_hash(c), "{c:?}");
        }
        let same = Service {
            attach: Some(false),
            post_start: vec![crate::model::Hook {
                command: vec!["true".into()],
                ..Default::default()
            }],
            ..a.clone()
        };
        assert_eq!(config_hash(&a), config_hash(&same));
    }

    #[test]
    fn replicas_prefer_the_flag() {
        let mut s = svc("app");
        assert_eq!(replicas(&s, &BTreeMap::new()), 1);
        s.scale = Some(2);
        assert_eq!(replicas(&s, &BTreeMap::new()), 2);
        s.deploy = Some(Deploy {
            replicas: Some(4),
            ..Default::default()
        });
        assert_eq!(replicas(&s, &BTreeMap::new()), 4);
        assert_eq!(replicas(&s, &BTreeMap::from([("app".into(), 0)])), 0);
    }
}
