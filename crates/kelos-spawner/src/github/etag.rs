//! A bounded ETag cache for conditional GETs, keyed by the full URL (as the original's
//! `etag_transport.go`, but bounded): least recently used entries are evicted once either the
//! entry or the byte budget is exceeded.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

/// A cached 200 response: what a later 304 stands for.
#[derive(Clone, Debug)]
pub struct CachedResponse {
    pub etag: String,
    pub body: Bytes,
    /// The `Link` header of the cached response (pagination keeps working on a 304).
    pub link: Option<String>,
}

#[derive(Debug)]
struct Entry {
    response: CachedResponse,
    tick: u64,
}

/// LRU map URL → cached response.
#[derive(Debug)]
pub struct EtagCache {
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    tick: u64,
    entries: HashMap<String, Entry>,
    /// tick → URL, oldest first.
    order: BTreeMap<u64, String>,
}

impl EtagCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        EtagCache {
            max_entries,
            max_bytes,
            bytes: 0,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The entry for `url`, marked as recently used.
    pub fn get(&mut self, url: &str) -> Option<CachedResponse> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(url)?;
        self.order.remove(&entry.tick);
        entry.tick = tick;
        self.order.insert(tick, url.to_string());
        Some(entry.response.clone())
    }

    pub fn insert(&mut self, url: &str, response: CachedResponse) {
        self.remove(url);
        let size = url.len() + response.body.len() + response.etag.len();
        if self.max_entries == 0 || size > self.max_bytes {
            return;
        }
        self.tick += 1;
        self.bytes += size;
        self.order.insert(self.tick, url.to_string());
        self.entries.insert(
            url.to_string(),
            Entry {
                response,
                tick: self.tick,
            },
        );
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes -= oldest.len() + e.response.body.len() + e.response.etag.len();
            }
        }
    }

    pub fn remove(&mut self, url: &str) {
        if let Some(e) = self.entries.remove(url) {
            self.order.remove(&e.tick);
            self.bytes -= url.len() + e.response.body.len() + e.response.etag.len();
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(tag: &str, body: &str) -> CachedResponse {
        CachedResponse {
            etag: tag.into(),
            body: Bytes::from(body.to_string()),
            link: None,
        }
    }

    #[test]
    fn evicts_least_recently_used_by_count_and_bytes() {
        let mut c = EtagCache::new(2, 1 << 20);
        c.insert("a", resp("1", "x"));
        c.insert("b", resp("2", "y"));
        assert!(c.get("a").is_some()); // a is now newer than b
        c.insert("c", resp("3", "z"));
        assert!(c.get("b").is_none());
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert_eq!(c.len(), 2);

        let mut c = EtagCache::new(100, 10);
        c.insert("a", resp("1", "1234")); // 6 bytes
        c.insert("b", resp("2", "1234")); // 12 > 10 → a goes
        assert!(c.get("a").is_none() && c.get("b").is_some());
        assert_eq!(c.bytes(), 6);
        c.insert("b", resp("3", "12"));
        assert_eq!(c.bytes(), 4);
        assert_eq!(c.get("b").unwrap().etag, "3");
        c.insert("huge", resp("1", "0123456789"));
        assert!(c.get("huge").is_none());
    }
}
