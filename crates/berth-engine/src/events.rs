//! The event bus behind `GET /events`: every event is kept in a ring of the last
//! [`RING`] (for `since` replays) and sent to each live subscriber; subscribers whose
//! receiver is gone are dropped on the next send.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use berth_api_types::system::{EventActor, EventMessage};
use berth_api_types::Filters;

use crate::api::{EngineError, EngineResult, EventStream};
use crate::timefmt::now_nanos;

/// How many past events are kept.
pub const RING: usize = 2048;

struct Subscriber {
    filters: Filters,
    tx: Sender<EventMessage>,
}

#[derive(Default)]
struct Bus {
    ring: VecDeque<EventMessage>,
    subs: Vec<Subscriber>,
}

/// The broadcaster.
#[derive(Default)]
pub struct Events {
    bus: Mutex<Bus>,
}

const FILTER_KEYS: &[&str] = &[
    "type",
    "event",
    "container",
    "image",
    "label",
    "daemon",
    "volume",
    "network",
    "plugin",
    "node",
    "service",
    "secret",
    "config",
    "scope",
];

impl Events {
    pub fn new() -> Events {
        Events::default()
    }

    /// Records and broadcasts an event of `kind` (`container`, `image`, …).
    pub fn emit(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let t = now_nanos();
        let legacy = matches!(kind, "container" | "image");
        let msg = EventMessage {
            status: if legacy {
                action.to_string()
            } else {
                String::new()
            },
            id: if legacy {
                id.to_string()
            } else {
                String::new()
            },
            from: if kind == "container" {
                attributes.get("image").cloned().unwrap_or_default()
            } else {
                String::new()
            },
            kind: kind.to_string(),
            action: action.to_string(),
            actor: EventActor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".to_string(),
            time: t / 1_000_000_000,
            time_nano: t,
        };
        let mut bus = self.bus.lock().expect("event bus lock poisoned");
        if bus.ring.len() == RING {
            bus.ring.pop_front();
        }
        bus.ring.push_back(msg.clone());
        bus.subs
            .retain(|s| !matches(&s.filters, &msg) || s.tx.send(msg.clone()).is_ok());
    }

    /// Past events in `[since, until]` and, unless `until` is past, a live receiver.
    pub fn subscribe(
        &self,
        since_nanos: i64,
        until_nanos: i64,
        filters: Filters,
    ) -> EngineResult<EventStream> {
        filters
            .validate(FILTER_KEYS)
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        for t in filters.get("type") {
            if !matches!(
                t.as_str(),
                "container"
                    | "image"
                    | "volume"
                    | "network"
                    | "daemon"
                    | "plugin"
                    | "node"
                    | "service"
                    | "secret"
                    | "config"
            ) {
                return Err(EngineError::BadParameter(format!(
                    "Invalid event type filter: {t}"
                )));
            }
        }
        let now = now_nanos();
        let mut bus = self.bus.lock().expect("event bus lock poisoned");
        let past = if since_nanos > 0 || until_nanos > 0 {
            bus.ring
                .iter()
                .filter(|m| m.time_nano >= since_nanos)
                .filter(|m| until_nanos == 0 || m.time_nano <= until_nanos)
                .filter(|m| matches(&filters, m))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let live = if until_nanos != 0 && until_nanos <= now {
            None
        } else {
            let (tx, rx): (Sender<EventMessage>, Receiver<EventMessage>) = channel();
            bus.subs.push(Subscriber { filters, tx });
            Some(rx)
        };
        Ok(EventStream {
            past,
            live,
            until_nanos,
        })
    }
}

/// Whether `m` passes `f` (Docker's rules: each key must match when given).
pub fn matches(f: &Filters, m: &EventMessage) -> bool {
    let attrs = &m.actor.attributes;
    let types = f.get("type");
    if !types.is_empty() && !types.contains(&m.kind) {
        return false;
    }
    let events = f.get("event");
    if !events.is_empty()
        && !events.iter().any(|e| {
            // `health_status` matches `health_status: healthy`, `exec_start` its forms.
            *e == m.action
                || m.action
                    .split_once(':')
                    .is_some_and(|(a, _)| a == e.as_str())
        })
    {
        return false;
    }
    let containers = f.get("container");
    if !containers.is_empty() {
        if m.kind != "container" {
            return false;
        }
        let name = attrs.get("name").map(String::as_str).unwrap_or("");
        if !containers
            .iter()
            .any(|c| c == name || (!c.is_empty() && m.actor.id.starts_with(c.as_str())))
        {
            return false;
        }
    }
    let networks = f.get("network");
    if !networks.is_empty() {
        if m.kind != "network" {
            return false;
        }
        let name = attrs.get("name").map(String::as_str).unwrap_or("");
        if !networks
            .iter()
            .any(|n| n == name || (!n.is_empty() && m.actor.id.starts_with(n.as_str())))
        {
            return false;
        }
    }
    let images = f.get("image");
    if !images.is_empty() {
        let img = match m.kind.as_str() {
            "container" => attrs.get("image").cloned().unwrap_or_default(),
            "image" => m.actor.id.clone(),
            _ => return false,
        };
        let bare = |s: &str| s.strip_suffix(":latest").unwrap_or(s).to_string();
        let name_attr = attrs.get("name").cloned().unwrap_or_default();
        if !images.iter().any(|i| {
            bare(i) == bare(&img)
                || (m.kind == "image" && bare(i) == bare(&name_attr))
                || (!i.is_empty()
                    && img
                        .trim_start_matches("sha256:")
                        .starts_with(i.trim_start_matches("sha256:")))
        }) {
            return false;
        }
    }
    if !f.match_label(attrs) {
        return false;
    }
    let daemons = f.get("daemon");
    if !daemons.is_empty() && m.kind != "daemon" {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(name: &str) -> BTreeMap<String, String> {
        [
            ("name".to_string(), name.to_string()),
            ("image".to_string(), "busybox".to_string()),
            ("l".to_string(), "1".to_string()),
        ]
        .into()
    }

    #[test]
    fn replay_and_live_with_filters() {
        let ev = Events::new();
        ev.emit("container", "create", "abc123", attrs("one"));
        ev.emit(
            "container",
            "health_status: healthy",
            "abc123",
            attrs("one"),
        );
        ev.emit("image", "tag", "sha256:ff", BTreeMap::new());
        let mut f = Filters::new();
        f.add("event", "health_status");
        let s = ev.subscribe(1, 0, f).unwrap();
        assert_eq!(s.past.len(), 1);
        assert_eq!(s.past[0].action, "health_status: healthy");
        let mut f = Filters::new();
        f.add("container", "one");
        f.add("label", "l=1");
        let s = ev.subscribe(0, 0, f).unwrap();
        assert!(s.past.is_empty());
        ev.emit("container", "start", "abc123", attrs("one"));
        ev.emit("container", "start", "def", attrs("two"));
        let rx = s.live.unwrap();
        let got = rx.try_recv().unwrap();
        assert_eq!(
            (got.action.as_str(), got.status.as_str()),
            ("start", "start")
        );
        assert_eq!(got.from, "busybox");
        assert!(rx.try_recv().is_err());
        ev.emit(
            "network",
            "create",
            "abcdef",
            [("name".to_string(), "mynet".to_string())].into(),
        );
        let mut f = Filters::new();
        f.add("network", "mynet");
        let got = ev.subscribe(1, 0, f).unwrap().past;
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].id.as_str(), got[0].status.as_str()), ("", ""));
        let mut f = Filters::new();
        f.add("network", "abc");
        f.add("type", "network");
        assert_eq!(ev.subscribe(1, 0, f).unwrap().past.len(), 1);
        let mut f = Filters::new();
        f.add("type", "bogus");
        assert!(ev.subscribe(0, 0, f).is_err());
        assert!(ev.subscribe(1, 2, Filters::new()).unwrap().live.is_none());
    }
}
