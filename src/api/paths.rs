//! URLs: joining resource paths under the configured endpoint, and re-basing the absolute
//! `next` links of paginated answers onto it.
//!
//! The server writes `next` with the host and scheme *it* believes it has, which behind a
//! proxy or a load balancer is often not the one the client talks to (contract §3). So the
//! client keeps only the path and query of `next` and puts them under its own origin; when
//! the endpoint has a path prefix the server does not know about (`https://gw/dr/api/v2`
//! with `next` under `/api/v2/…`), the prefix is put back.

use reqwest::Url;

/// Joins a relative resource path (`projects/`, `projects/abc/accessControl/`) under the
/// endpoint (which ends in `/`), then appends query pairs. Every path segment is taken
/// verbatim: callers pass ids they got from the server.
pub fn join(endpoint: &Url, path: &str, query: &[(&str, String)]) -> Url {
    let mut url = endpoint.clone();
    let base = endpoint.path().trim_end_matches('/');
    let rel = path.trim_start_matches('/');
    url.set_path(&format!("{base}/{rel}"));
    url.set_query(None);
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    url
}

/// Puts a `next` link under the endpoint's origin: the scheme, host and port come from
/// `endpoint`; the path and query from `next`. A relative `next` (which the Python client
/// cannot follow, but a proxy might produce) is resolved against `page`, the URL of the
/// page that holds it, as a browser resolves a link: `?offset=1` keeps the page's path,
/// `/api/v2/x/?offset=1` replaces it, `x/?offset=1` is relative to the page's directory.
/// Returns `None` when `next` is not a URL at all.
pub fn rebase_next(endpoint: &Url, page: &Url, next: &str) -> Option<Url> {
    let next = next.trim();
    if next.is_empty() {
        return None;
    }
    let parsed = match Url::parse(next) {
        Ok(u) => u,
        Err(_) => page.join(next).ok()?,
    };
    let mut url = endpoint.clone();
    url.set_path(&with_prefix(endpoint.path(), parsed.path()));
    url.set_query(parsed.query());
    url.set_fragment(None);
    Some(url)
}

/// When `next_path` starts with a tail of the endpoint's path (at a `/` boundary) but not
/// with the whole of it, puts the missing head back: endpoint `/dr/api/v2/`, next
/// `/api/v2/projects/` → `/dr/api/v2/projects/`.
fn with_prefix(endpoint_path: &str, next_path: &str) -> String {
    for (i, _) in endpoint_path.match_indices('/') {
        let tail = &endpoint_path[i..];
        if tail.len() > 1 && next_path.starts_with(tail) {
            return format!("{}{}", &endpoint_path[..i], next_path);
        }
    }
    next_path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn joins_under_the_endpoint_with_a_query() {
        let ep = url("https://dr.example.com/api/v2/");
        assert_eq!(
            join(
                &ep,
                "projects/p1/accessControl/",
                &[("username", "a+b@x.com".into())]
            )
            .as_str(),
            "https://dr.example.com/api/v2/projects/p1/accessControl/?username=a%2Bb%40x.com"
        );
        assert_eq!(
            join(&ep, "/version/", &[]).as_str(),
            "https://dr.example.com/api/v2/version/"
        );
    }

    #[test]
    fn next_keeps_path_and_query_and_takes_our_origin() {
        let ep = url("https://dr.example.com:8443/api/v2/");
        let next = "http://10.0.0.5:8080/api/v2/deployments/d1/sharedRoles/?offset=2&limit=2";
        assert_eq!(
            rebase_next(&ep, &ep, next).unwrap().as_str(),
            "https://dr.example.com:8443/api/v2/deployments/d1/sharedRoles/?offset=2&limit=2"
        );
        let ep = url("http://127.0.0.1:4567/api/v2/");
        assert_eq!(
            rebase_next(
                &ep,
                &ep,
                "https://app.datarobot.com/api/v2/projects/?offset=3"
            )
            .unwrap()
            .as_str(),
            "http://127.0.0.1:4567/api/v2/projects/?offset=3"
        );
    }

    #[test]
    fn next_gets_the_endpoint_prefix_back() {
        let ep = url("https://gw.example.com/dr/api/v2/");
        assert_eq!(
            rebase_next(
                &ep,
                &ep,
                "https://internal/api/v2/useCases/?offset=100&limit=100"
            )
            .unwrap()
            .as_str(),
            "https://gw.example.com/dr/api/v2/useCases/?offset=100&limit=100"
        );
        // Already prefixed: unchanged.
        assert_eq!(
            rebase_next(&ep, &ep, "https://internal/dr/api/v2/useCases/?offset=1")
                .unwrap()
                .as_str(),
            "https://gw.example.com/dr/api/v2/useCases/?offset=1"
        );
    }

    #[test]
    fn relative_next_is_resolved_against_the_page_as_a_browser_would() {
        // Issue 20: `?offset=1` on the projects page is the projects page's next, not the
        // endpoint's.
        let ep = url("https://dr.example.com/api/v2/");
        let page = url("http://10.0.0.5/api/v2/projects/?offset=0&limit=2");
        for (next, want) in [
            (
                "?offset=2",
                "https://dr.example.com/api/v2/projects/?offset=2",
            ),
            (
                "/api/v2/projects/?offset=2",
                "https://dr.example.com/api/v2/projects/?offset=2",
            ),
            (
                "p1/sharedRoles/?offset=2",
                "https://dr.example.com/api/v2/projects/p1/sharedRoles/?offset=2",
            ),
            (
                "../useCases/?offset=2",
                "https://dr.example.com/api/v2/useCases/?offset=2",
            ),
        ] {
            assert_eq!(
                rebase_next(&ep, &page, next).unwrap().as_str(),
                want,
                "{next}"
            );
        }
        // Behind a gateway prefix, the page carries the prefix, and so does its next.
        let ep = url("https://gw.example.com/dr/api/v2/");
        let page = url("https://gw.example.com/dr/api/v2/projects/?offset=0");
        assert_eq!(
            rebase_next(&ep, &page, "?offset=5").unwrap().as_str(),
            "https://gw.example.com/dr/api/v2/projects/?offset=5"
        );
    }

    #[test]
    fn relative_next_is_resolved_against_the_endpoint() {
        let ep = url("https://dr.example.com/api/v2/");
        assert_eq!(
            rebase_next(&ep, &ep, "/api/v2/calendars/?offset=5")
                .unwrap()
                .as_str(),
            "https://dr.example.com/api/v2/calendars/?offset=5"
        );
        assert_eq!(
            rebase_next(&ep, &ep, "calendars/?offset=5")
                .unwrap()
                .as_str(),
            "https://dr.example.com/api/v2/calendars/?offset=5"
        );
        assert_eq!(rebase_next(&ep, &ep, "  "), None);
    }
}
