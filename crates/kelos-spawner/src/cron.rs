//! Cron source: one work item per schedule tick since the last discovery (spawner-reference
//! §5). Five fields (minute hour day-of-month month day-of-week), evaluated in UTC, as the
//! original's robfig/cron parser with `Minute | Hour | Dom | Month | Dow`: no seconds field,
//! no `@daily`-style descriptors, no `CRON_TZ=` prefix, no Quartz `L`/`W`/`#`.

use chrono::{DateTime, SecondsFormat, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::item::{DiscoveryError, SourceKind, WorkItem};

/// Most ticks one discovery returns (the original's `maxCronTicks`); the oldest are kept.
pub const MAX_CRON_TICKS: usize = 1000;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct CronSource {
    schedule: String,
    cron: Cron,
}

impl CronSource {
    /// Parses a 5-field schedule. Errors name the schedule and what is wrong with it.
    pub fn new(schedule: &str) -> Result<Self, DiscoveryError> {
        let cron = parse_schedule(schedule)?;
        Ok(CronSource {
            schedule: schedule.to_string(),
            cron,
        })
    }

    /// The cron source of a TaskSpawner, if it has one.
    pub fn from_spec(spec: &kelos_api::TaskSpawnerSpec) -> Option<Result<Self, DiscoveryError>> {
        spec.when.cron.as_ref().map(|c| Self::new(&c.schedule))
    }

    pub fn schedule(&self) -> &str {
        &self.schedule
    }

    /// Every tick `t` with `last < t <= now`, oldest first, at most [`MAX_CRON_TICKS`].
    /// `last` is `status.lastDiscoveryTime`, or the TaskSpawner's creation time when that is
    /// unset. Ticks are never "removed", so the result is always complete.
    pub fn discover(
        &self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WorkItem>, DiscoveryError> {
        let Some(last) = last else {
            return Err(DiscoveryError::Config(
                "cron: LastDiscoveryTime must not be zero".into(),
            ));
        };
        Ok(self
            .ticks(last, now)?
            .into_iter()
            .map(|t| tick_item(&self.schedule, t))
            .collect())
    }

    /// The tick times of [`discover`](Self::discover).
    pub fn ticks(
        &self,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, DiscoveryError> {
        let mut out = Vec::new();
        let mut cursor = last;
        while out.len() < MAX_CRON_TICKS {
            let next = match self.cron.find_next_occurrence(&cursor, false) {
                Ok(next) => next,
                // No further occurrence (e.g. 30 February): nothing more to list.
                Err(_) => break,
            };
            if next > now {
                break;
            }
            out.push(next);
            cursor = next;
        }
        Ok(out)
    }
}

/// The work item for one tick: ID `YYYYMMDD-HHMM`, Title and Time RFC 3339, Kind "".
pub fn tick_item(schedule: &str, tick: DateTime<Utc>) -> WorkItem {
    let rfc3339 = tick.to_rfc3339_opts(SecondsFormat::Secs, true);
    WorkItem {
        id: tick.format("%Y%m%d-%H%M").to_string(),
        source: Some(SourceKind::CronTick),
        number: 0,
        title: rfc3339.clone(),
        time: rfc3339,
        schedule: schedule.to_string(),
        kind: String::new(),
        trigger_time: Some(tick),
        ..WorkItem::default()
    }
}

/// Parses `schedule` as the original does (5 fields, UTC).
pub fn parse_schedule(schedule: &str) -> Result<Cron, DiscoveryError> {
    let bad =
        |why: &str| DiscoveryError::Config(format!("parsing cron schedule {schedule:?}: {why}"));
    let trimmed = schedule.trim();
    if trimmed.starts_with('@') {
        return Err(bad(
            "descriptors such as @daily are not supported; use 5 fields (minute hour day-of-month month day-of-week)",
        ));
    }
    if trimmed.starts_with("CRON_TZ=") || trimmed.starts_with("TZ=") {
        return Err(bad(
            "time zone prefixes are not supported; schedules run in UTC",
        ));
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(bad(&format!(
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        )));
    }
    for (i, field) in fields.iter().enumerate() {
        let mut rest = field.to_ascii_uppercase();
        for name in [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
            "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT",
        ] {
            rest = rest.replace(name, "");
        }
        if let Some(c) = rest
            .chars()
            .find(|c| !(c.is_ascii_digit() || matches!(c, '*' | ',' | '-' | '/' | '?')))
        {
            return Err(bad(&format!("field {} ({field}) contains {c:?}", i + 1)));
        }
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // robfig accepts `start/step` ("0/15"), which croner calls sloppy.
        .sloppy_ranges(true)
        .build()
        .parse(trimmed)
        .map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn accepts_five_fields_rejects_the_rest() {
        for ok in [
            "*/5 * * * *",
            "0 9 * * MON-FRI",
            "0 0 1 JAN *",
            "0/15 * * * *",
            "0 9 ? * *",
        ] {
            parse_schedule(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "@daily",
            "@hourly",
            "0 */5 * * * *",
            "* * * *",
            "CRON_TZ=UTC 0 9 * * *",
            "0 9 L * *",
            "0 9 * * 5#3",
            "61 * * * *",
            "",
        ] {
            assert!(parse_schedule(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn shape_of_one_tick() {
        let src = CronSource::new("0 9 * * *").unwrap();
        let items = src
            .discover(Some(t(2026, 2, 7, 8, 0, 0)), t(2026, 2, 7, 9, 30, 0))
            .unwrap();
        assert_eq!(items.len(), 1);
        let it = &items[0];
        assert_eq!(it.id, "20260207-0900");
        assert_eq!(it.title, "2026-02-07T09:00:00Z");
        assert_eq!(it.time, "2026-02-07T09:00:00Z");
        assert_eq!(it.schedule, "0 9 * * *");
        assert_eq!(it.kind, "");
        assert_eq!(it.number, 0);
        assert_eq!(it.source, Some(SourceKind::CronTick));
        assert_eq!(it.trigger_time, Some(t(2026, 2, 7, 9, 0, 0)));
        assert!(it.url.is_empty() && it.body.is_empty() && it.branch.is_empty());
        assert!(it.labels.is_empty() && it.head_sha.is_none());
    }

    #[test]
    fn ticks_are_exclusive_of_last_inclusive_of_now_and_chronological() {
        let src = CronSource::new("0 * * * *").unwrap();
        let ticks = src
            .ticks(t(2026, 1, 1, 9, 0, 0), t(2026, 1, 1, 12, 0, 0))
            .unwrap();
        assert_eq!(
            ticks,
            vec![
                t(2026, 1, 1, 10, 0, 0),
                t(2026, 1, 1, 11, 0, 0),
                t(2026, 1, 1, 12, 0, 0)
            ]
        );
        assert!(
            src.ticks(t(2026, 1, 1, 9, 0, 1), t(2026, 1, 1, 9, 59, 59))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn capped_at_1000_oldest_first() {
        let src = CronSource::new("* * * * *").unwrap();
        let last = t(2026, 1, 1, 0, 0, 0);
        let items = src.discover(Some(last), t(2026, 1, 5, 0, 0, 0)).unwrap();
        assert_eq!(items.len(), MAX_CRON_TICKS);
        assert_eq!(items[0].id, "20260101-0001");
        assert_eq!(items[999].id, "20260101-1640");
    }

    #[test]
    fn zero_last_time_is_an_error() {
        let src = CronSource::new("0 9 * * *").unwrap();
        let err = src.discover(None, Utc::now()).unwrap_err();
        assert!(
            err.to_string()
                .contains("LastDiscoveryTime must not be zero")
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // Vixie/robfig: both restricted → either matches.
        let src = CronSource::new("0 0 1 * MON").unwrap();
        let ticks = src
            .ticks(t(2026, 1, 31, 0, 0, 0), t(2026, 2, 9, 0, 0, 0))
            .unwrap();
        // Feb 1 (the 1st) and Mon Feb 2, Mon Feb 9.
        assert_eq!(
            ticks,
            vec![
                t(2026, 2, 1, 0, 0, 0),
                t(2026, 2, 2, 0, 0, 0),
                t(2026, 2, 9, 0, 0, 0)
            ]
        );
    }
}
