//! Cron tick enumeration (spawner-reference §5): one work item per tick since the last
//! discovery, oldest first, at most 1000, evaluated in UTC.

use chrono::{DateTime, Utc};
use kelos_spawner::cron::{CronSource, MAX_CRON_TICKS};
use kelos_spawner::item::{DiscoveryError, SourceKind};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn one_item_per_tick_since_the_last_discovery() {
    let src = CronSource::new("0 9 * * MON-FRI").unwrap();
    // Friday 2026-02-06 08:00 → Tuesday 2026-02-10 09:00: Fri, Mon, Tue.
    let items = src
        .discover(Some(at("2026-02-06T08:00:00Z")), at("2026-02-10T09:00:00Z"))
        .unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["20260206-0900", "20260209-0900", "20260210-0900"]);
    for it in &items {
        assert_eq!(it.title, it.time);
        assert_eq!(it.schedule, "0 9 * * MON-FRI");
        assert_eq!(it.kind, "");
        assert_eq!(it.number, 0);
        assert_eq!(it.source, Some(SourceKind::CronTick));
        assert_eq!(it.trigger_time, Some(at(&it.time)));
    }
    assert_eq!(items[1].time, "2026-02-09T09:00:00Z");

    // The next cycle starts where this one ended: nothing new until the next tick.
    assert!(
        src.discover(Some(at("2026-02-10T09:00:00Z")), at("2026-02-10T17:00:00Z"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn every_five_minutes_and_the_cap() {
    let src = CronSource::new("*/5 * * * *").unwrap();
    let items = src
        .discover(Some(at("2026-01-01T00:02:30Z")), at("2026-01-01T00:20:00Z"))
        .unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "20260101-0005",
            "20260101-0010",
            "20260101-0015",
            "20260101-0020"
        ]
    );
    let many = src
        .discover(Some(at("2025-01-01T00:00:00Z")), at("2026-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(many.len(), MAX_CRON_TICKS);
    assert_eq!(many[0].id, "20250101-0005", "oldest first");
}

#[test]
fn schedules_the_original_rejects_are_rejected() {
    for bad in [
        "@daily",
        "0 0 9 * * *",
        "CRON_TZ=Europe/Berlin 0 9 * * *",
        "not a schedule",
    ] {
        let err = CronSource::new(bad).unwrap_err();
        assert!(matches!(err, DiscoveryError::Config(_)), "{bad}: {err}");
        assert!(err.to_string().contains("parsing cron schedule"), "{err}");
    }
    let err = CronSource::new("0 9 * * *")
        .unwrap()
        .discover(None, Utc::now())
        .unwrap_err();
    assert!(err.to_string().contains("must not be zero"), "{err}");
}
