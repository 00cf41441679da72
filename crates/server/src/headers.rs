//! The security headers every response carries: a strict Content-Security-Policy for the
//! web app (its scripts and connections from this origin only, images also from the tiles'
//! origin when tiles are configured), no framing, no MIME sniffing, no referrer.
//!
//! Leaflet positions markers and tiles with inline `style` attributes, so `style-src` allows
//! `'unsafe-inline'`; scripts never run inline (`script-src 'self'`). A handler that sets one
//! of these headers itself keeps its own.

use std::sync::Arc;

use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// The headers that do not depend on the configuration.
pub const FIXED: [(&str, &str); 3] =
    [("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer")];

/// The policy of an answer that is not a page: nothing may load from it, nothing frame it.
pub const CSP_NONE: (&str, &str) = ("content-security-policy", "default-src 'none'; frame-ancestors 'none'");

/// Every security header, for a server whose web app loads tiles from `tiles` (a Leaflet URL
/// template), if any.
pub fn security_headers(tiles: Option<&str>) -> Arc<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in FIXED {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    let img = match tiles.and_then(tiles_origin) {
        Some(origin) => format!("'self' data: {origin}"),
        None => "'self' data:".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src {img}; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    match HeaderValue::from_str(&policy) {
        Ok(value) => headers.insert(header::CONTENT_SECURITY_POLICY, value),
        Err(_) => headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP_NONE.1)),
    };
    Arc::new(headers)
}

/// Adds whichever of `headers` the response does not have yet.
pub async fn add(headers: Arc<HeaderMap>, mut response: Response) -> Response {
    let present = response.headers_mut();
    for (name, value) in headers.iter() {
        if !present.contains_key(name) {
            present.insert(name.clone(), value.clone());
        }
    }
    response
}

/// The origin a tile URL template loads from, as a CSP source: `https://{s}.tile.example/{z}/..`
/// gives `https://*.tile.example`. `None` for a template that names no usable origin.
fn tiles_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => (host, Some(port)),
        _ => (authority, None),
    };
    let mut labels = Vec::new();
    for (i, label) in host.split('.').enumerate() {
        let templated = label.contains('{');
        let plain = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        match (templated, plain && !label.is_empty()) {
            // CSP wildcards only the leftmost label.
            (true, _) if i == 0 => labels.push("*"),
            (false, true) => labels.push(label),
            _ => return None,
        }
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{scheme}://{}{port}", labels.join(".")))
}

#[cfg(test)]
mod tests {
    use super::tiles_origin;

    #[test]
    fn a_tile_template_gives_its_origin() {
        let osm = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
        assert_eq!(tiles_origin(osm).as_deref(), Some("https://tile.openstreetmap.org"));
        let sub = "https://{s}.tiles.example:8443/{z}/{x}/{y}.png?key=1";
        assert_eq!(tiles_origin(sub).as_deref(), Some("https://*.tiles.example:8443"));
        assert_eq!(tiles_origin("http://a.{s}.example/{z}"), None);
        assert_eq!(tiles_origin("javascript:alert(1)"), None);
        assert_eq!(tiles_origin("https://x.example; script-src *"), None);
    }
}
