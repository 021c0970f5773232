//! Query strings and GitHub-style pagination: `per_page` (default 30, at most 100), `page`
//! (from 1), and a `Link` header with absolute `prev`, `next`, `last` and `first` URLs that keep
//! every other query parameter.

use serde_json::Value;

/// A decoded query string, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        Query(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value given for `key` (GitHub's Rails backend keeps the last one).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The requested page, 1 when absent or invalid.
    pub fn page(&self) -> u32 {
        self.get("page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    }

    /// The page size: 30 by default, capped at 100.
    pub fn per_page(&self) -> usize {
        self.get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|p| *p >= 1)
            .map_or(30, |p| p.min(100))
    }

    /// This query with `page` set to `page` (kept in place, or appended).
    fn with_page(&self, page: u32) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        let mut seen = false;
        for (k, v) in &self.0 {
            if k == "page" {
                if !seen {
                    ser.append_pair("page", &page.to_string());
                    seen = true;
                }
            } else {
                ser.append_pair(k, v);
            }
        }
        if !seen {
            ser.append_pair("page", &page.to_string());
        }
        ser.finish()
    }
}

/// One page of `items` and its `Link` header. `url` is the absolute URL of the listing
/// without its query string.
pub(crate) fn paginate(items: Vec<Value>, query: &Query, url: &str) -> (Value, Option<String>) {
    let per_page = query.per_page();
    let page = query.page();
    let total = items.len();
    let last = total.div_ceil(per_page).max(1) as u32;
    let start = (page as usize - 1).saturating_mul(per_page);
    let slice: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();

    let link_to = |p: u32, rel: &str| format!("<{url}?{}>; rel=\"{rel}\"", query.with_page(p));
    let mut links = Vec::new();
    if page > 1 {
        links.push(link_to(page - 1, "prev"));
    }
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
    }
    let link = (!links.is_empty()).then(|| links.join(", "));
    (Value::Array(slice), link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| Value::from(i as u64)).collect()
    }

    #[test]
    fn pages_and_links() {
        let q = Query::parse("state=open&per_page=100");
        let (body, link) = paginate(items(150), &q, "http://h/x");
        assert_eq!(body.as_array().unwrap().len(), 100);
        assert_eq!(
            link.unwrap(),
            "<http://h/x?state=open&per_page=100&page=2>; rel=\"next\", \
             <http://h/x?state=open&per_page=100&page=2>; rel=\"last\""
        );

        let q = Query::parse("state=open&page=2&per_page=100");
        let (body, link) = paginate(items(150), &q, "http://h/x");
        assert_eq!(body.as_array().unwrap().len(), 50);
        assert_eq!(
            link.unwrap(),
            "<http://h/x?state=open&page=1&per_page=100>; rel=\"prev\", \
             <http://h/x?state=open&page=1&per_page=100>; rel=\"first\""
        );
    }

    #[test]
    fn defaults_and_caps() {
        assert_eq!(Query::parse("").per_page(), 30);
        assert_eq!(Query::parse("per_page=500").per_page(), 100);
        assert_eq!(Query::parse("per_page=0").per_page(), 30);
        assert_eq!(Query::parse("page=0").page(), 1);
        let (_, link) = paginate(items(30), &Query::parse(""), "http://h/x");
        assert_eq!(link, None);
        let (body, link) = paginate(items(0), &Query::parse(""), "http://h/x");
        assert_eq!(body, Value::Array(vec![]));
        assert_eq!(link, None);
    }

    #[test]
    fn middle_page_has_all_four() {
        let q = Query::parse("labels=a%2Cb&per_page=10&page=3");
        let (_, link) = paginate(items(95), &q, "http://h/x");
        let link = link.unwrap();
        for rel in ["prev", "next", "last", "first"] {
            assert!(link.contains(&format!("rel=\"{rel}\"")), "{link}");
        }
        assert!(link.contains("labels=a%2Cb&per_page=10&page=10>; rel=\"last\""));
    }
}
