//! URLs: joining resource paths under the configured endpoint, and re-basing the absolute
//! `next` links of paginated answers onto it.
//!
//! The server writes `next` with the host and scheme *it* believes it has, which behind a
//! proxy or a load balancer is often not the one the client talks to (contract §3). So the
//! client keeps only the path and query of `next` and puts them under its own origin; when
//! the endpoint has a path prefix the server does not know about (`https://gw/dr/api/v2`
//! with `next` under `/api/v2/…`), the prefix is put back.

use reqwest::Url;

use crate::model::{EntityKind, ListRouteKind};

/// An id as one path segment: ids from the server are hex or uuid-like, but an id typed
/// by a user (a CSV plan, an id list) must not be able to leave its collection or name
/// another entity (issue 20). Every byte outside RFC 3986's unreserved set is
/// percent-encoded, so `/`, `?`, `#`, `%` and spaces stay inside the segment as what they
/// are; `.` and `..` are refused, since URL parsers read them (and `%2e%2e`) as "this
/// directory" and "the one above", and so is an empty id.
pub(crate) fn seg(id: &str) -> Result<String, String> {
    if matches!(id, "" | "." | "..") {
        return Err(format!("{id:?} is not an entity id"));
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// An id that cannot name an entity of its kind (a notification policy template's id
/// without its related type).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} id {id:?}: {reason}")]
pub struct BadIdError {
    /// The kind.
    pub kind: EntityKind,
    /// The id as given.
    pub id: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// `path` with the kind's trailing-slash convention: classic routes end in `/`, the
/// Workload API's do not (contract §12.1).
fn finish(kind: EntityKind, path: String) -> String {
    if kind.trailing_slash() {
        format!("{path}/")
    } else {
        path
    }
}

/// The list routes of `kind`, each with the related type its ids are prefixed with (only
/// for kinds listed per related type): `projects/`, `workloads`,
/// `entityNotificationPolicyTemplates/deployment/`, …
pub fn list_paths(kind: EntityKind) -> Vec<(String, Option<&'static str>)> {
    match kind.list_route() {
        ListRouteKind::Collection => vec![(finish(kind, kind.collection().to_string()), None)],
        ListRouteKind::Catalog(_) => vec![("catalogItems/".to_string(), None)],
        ListRouteKind::PerRelatedType(types) => types
            .iter()
            .map(|t| (finish(kind, format!("{}/{t}", kind.collection())), Some(*t)))
            .collect(),
    }
}

/// The path of one entity, without the trailing convention applied: `<collection>/<id>`,
/// or `<collection>/<related>/<id>` for an id `<related>:<id>`. Every segment taken from
/// the id goes through [`seg`], so no id can reach another route.
fn entity_base(kind: EntityKind, id: &str) -> Result<String, BadIdError> {
    let bad = |reason: String| BadIdError {
        kind,
        id: id.to_string(),
        reason,
    };
    match kind.list_route() {
        ListRouteKind::PerRelatedType(_) => match kind.related_id(id) {
            Some((related, raw)) => Ok(format!(
                "{}/{related}/{}",
                kind.collection(),
                seg(raw).map_err(bad)?
            )),
            None => Err(bad(kind.check_id(id).err().unwrap_or_default())),
        },
        _ => Ok(format!("{}/{}", kind.collection(), seg(id).map_err(bad)?)),
    }
}

/// One entity's own route: `projects/p1/`, `workloads/w1`,
/// `entityNotificationPolicyTemplates/deployment/t1/`.
pub fn entity_path(kind: EntityKind, id: &str) -> Result<String, BadIdError> {
    Ok(finish(kind, entity_base(kind, id)?))
}

/// One entity's access list: `projects/p1/accessControl/`, `workloads/w1/sharedRoles`, …
pub fn access_path(kind: EntityKind, id: &str) -> Result<String, BadIdError> {
    let base = entity_base(kind, id)?;
    Ok(finish(kind, format!("{base}/{}", kind.access_segment())))
}

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
    fn every_kind_has_its_routes_and_no_id_escapes_them() {
        use EntityKind::*;
        assert_eq!(list_paths(Project), [("projects/".to_string(), None)]);
        assert_eq!(list_paths(Workload), [("workloads".to_string(), None)]);
        assert_eq!(
            list_paths(ArtifactRepository),
            [("artifactRepositories".to_string(), None)]
        );
        assert_eq!(list_paths(File), [("catalogItems/".to_string(), None)]);
        assert_eq!(
            list_paths(NotificationPolicyTemplate),
            [
                (
                    "entityNotificationPolicyTemplates/deployment/".to_string(),
                    Some("deployment")
                ),
                (
                    "entityNotificationPolicyTemplates/customjob/".to_string(),
                    Some("customjob")
                ),
            ]
        );
        assert_eq!(
            access_path(Workload, "w1").unwrap(),
            "workloads/w1/sharedRoles"
        );
        assert_eq!(
            access_path(Artifact, "a1").unwrap(),
            "artifacts/a1/sharedRoles"
        );
        assert_eq!(entity_path(Workload, "w1").unwrap(), "workloads/w1");
        assert_eq!(
            access_path(SecureConfig, "s1").unwrap(),
            "secureConfigs/s1/sharedRoles/"
        );
        assert_eq!(
            access_path(Project, "p1").unwrap(),
            "projects/p1/accessControl/"
        );
        assert_eq!(
            access_path(NotificationPolicyTemplate, "customjob:t1").unwrap(),
            "entityNotificationPolicyTemplates/customjob/t1/sharedRoles/"
        );
        // The related type is one of the kind's; the rest is one segment.
        assert_eq!(
            access_path(NotificationPolicyTemplate, "deployment:../../x?y").unwrap(),
            "entityNotificationPolicyTemplates/deployment/..%2F..%2Fx%3Fy/sharedRoles/"
        );
        assert!(access_path(NotificationPolicyTemplate, "t1").is_err());
        assert!(access_path(NotificationPolicyTemplate, "../x:t1").is_err());
        assert!(access_path(NotificationPolicyTemplate, "deployment:").is_err());
        assert_eq!(
            access_path(Workload, "../projects/p1").unwrap(),
            "workloads/..%2Fprojects%2Fp1/sharedRoles"
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
