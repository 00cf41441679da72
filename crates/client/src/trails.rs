//! Trails as files (contract "Trails as files"): a member's trail on a map with `until` and
//! `format`, and one's own whole trail, which the server streams.

use marauder_protocol::Trail;
use reqwest::{Method, RequestBuilder, StatusCode};

use crate::{Client, Error, Result, api_error};

/// Which points of a trail, and in which format (`json`, `gpx`, `geojson`; JSON without).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrailQuery<'a> {
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only on a map's trail (one's own has no page limit).
    pub limit: Option<usize>,
    pub format: Option<&'a str>,
}

impl TrailQuery<'_> {
    fn apply(&self, req: RequestBuilder) -> RequestBuilder {
        let mut query = Vec::new();
        let numbers = [("since", self.since), ("until", self.until), ("limit", self.limit.map(|n| n as i64))];
        for (name, value) in numbers {
            if let Some(value) = value {
                query.push((name, value.to_string()));
            }
        }
        if let Some(format) = self.format {
            query.push(("format", format.to_owned()));
        }
        req.query(&query)
    }
}

/// A trail as the server wrote it.
#[derive(Debug, Clone)]
pub struct TrailFile {
    pub content_type: String,
    /// The `Content-Disposition` header, when the server offers the body as a file.
    pub disposition: Option<String>,
    pub body: Vec<u8>,
}

impl Client {
    /// A member's trail on a map, as JSON, with the query's bounds.
    pub async fn trail_in(&self, map: &str, player: &str, query: &TrailQuery<'_>) -> Result<Trail> {
        let req = self.request(Method::GET, &format!("/api/v1/maps/{map}/trails/{player}"));
        self.call(query.apply(req), StatusCode::OK).await
    }

    /// A member's trail on a map in the query's format.
    pub async fn trail_file(&self, map: &str, player: &str, query: &TrailQuery<'_>) -> Result<TrailFile> {
        let req = self.request(Method::GET, &format!("/api/v1/maps/{map}/trails/{player}"));
        let mut body = Vec::new();
        let (content_type, disposition) = self.download(query.apply(req), &mut body).await?;
        Ok(TrailFile { content_type, disposition, body })
    }

    /// One's own whole trail in the query's format.
    pub async fn own_trail_file(&self, query: &TrailQuery<'_>) -> Result<TrailFile> {
        let mut body = Vec::new();
        let (content_type, disposition) = self.own_trail_to(query, &mut body).await?;
        Ok(TrailFile { content_type, disposition, body })
    }

    /// One's own whole trail, written to `out` as it arrives (so a long one is never held
    /// whole); answers the `Content-Type` and `Content-Disposition`.
    pub async fn own_trail_to(
        &self,
        query: &TrailQuery<'_>,
        out: &mut impl std::io::Write,
    ) -> Result<(String, Option<String>)> {
        let req = query.apply(self.request(Method::GET, "/api/v1/players/me/trail"));
        self.download(req, out).await
    }

    async fn download(
        &self,
        req: RequestBuilder,
        out: &mut impl std::io::Write,
    ) -> Result<(String, Option<String>)> {
        let transport = |e: reqwest::Error| Error::Transport(e.to_string());
        let mut response = req.send().await.map_err(transport)?;
        let status = response.status();
        if status != StatusCode::OK {
            let bytes = response.bytes().await.map_err(transport)?;
            return Err(api_error(status.as_u16(), &bytes));
        }
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let disposition = header(reqwest::header::CONTENT_DISPOSITION);
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            out.write_all(&chunk).map_err(|e| Error::Transport(e.to_string()))?;
        }
        Ok((content_type, disposition))
    }
}
