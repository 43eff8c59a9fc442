//! The 2024-11-05 HTTP+SSE transport, which rmcp 3.11 has no client for: a GET opens an event
//! stream whose first `endpoint` event names where to POST messages; every answer comes back on
//! the stream as a `message` event. Made into an rmcp transport as a sink (one POST per
//! message) and a stream (the events), so rmcp's client runs over it as over any other.

use std::{borrow::Cow, pin::Pin, time::Duration};

use bytes::Bytes;
use futures::{Sink, StreamExt as _, stream::BoxStream};
use http::{Request, StatusCode, header};
use http_body_util::Full;
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        sink_stream::SinkStreamTransport,
        streamable_http_client::{AuthRequiredError, StreamableHttpError},
    },
};
use sse_stream::SseStream;
use url::Url;

use super::http::{HttpClient, HttpError};

/// How long the server may take to name its message endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one POST of a message may take.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// The transport's errors are rmcp's Streamable HTTP ones, so a 401 reads the same to the
/// sign-in (`auth_challenge`) whichever transport met it.
pub type LegacyError = StreamableHttpError<HttpError>;

/// The transport rmcp's client runs over: POSTs out, events in.
pub type LegacyTransport = SinkStreamTransport<
    Pin<Box<dyn Sink<ClientJsonRpcMessage, Error = LegacyError> + Send>>,
    BoxStream<'static, ServerJsonRpcMessage>,
>;

/// The legacy endpoint for `url`: its sibling `sse` when the path ends in `/mcp`, else `url`
/// itself (a user who gives the `/sse` URL).
pub fn sse_url(url: &Url) -> Url {
    let mut sse = url.clone();
    if let Some(base) = url.path().strip_suffix("/mcp") {
        sse.set_path(&format!("{base}/sse"));
    }
    sse
}

/// Opens the event stream at `url` and waits for the `endpoint` event.
pub async fn open(
    http: &HttpClient,
    url: &Url,
    access_token: Option<&str>,
) -> Result<LegacyTransport, LegacyError> {
    let bearer = access_token.map(|token| format!("Bearer {token}"));
    let mut request = Request::get(url.as_str()).header(header::ACCEPT, "text/event-stream");
    if let Some(bearer) = &bearer {
        request = request.header(header::AUTHORIZATION, bearer);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| StreamableHttpError::Client(e.into()))?;
    let response = http
        .open(request)
        .await
        .map_err(StreamableHttpError::Client)?;
    if response.status() == StatusCode::UNAUTHORIZED
        && let Some(challenge) = response.headers().get(header::WWW_AUTHENTICATE)
    {
        let challenge = challenge.to_str().unwrap_or_default().to_owned();
        return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            challenge,
        )));
    }
    if response.status() != StatusCode::OK {
        return Err(unexpected(format!(
            "GET {url} answered {}",
            response.status()
        )));
    }
    let mut events = SseStream::new(response.into_body()).boxed();
    let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
        while let Some(event) = events.next().await {
            let event = event?;
            if event.event.as_deref() == Some("endpoint") {
                return Ok(event.data.unwrap_or_default());
            }
        }
        Err(StreamableHttpError::UnexpectedEndOfStream)
    })
    .await
    .map_err(|_| unexpected(format!("{url} named no message endpoint")))??;
    let endpoint = url
        .join(endpoint.trim())
        .map_err(|e| unexpected(format!("the endpoint event is not a URL: {e}")))?;
    if endpoint.origin() != url.origin() {
        return Err(unexpected(format!(
            "the endpoint event names another origin: {endpoint}"
        )));
    }

    let messages = events.filter_map(|event| async move {
        let event = event.ok()?;
        if event.event.as_deref().is_some_and(|name| name != "message") {
            return None;
        }
        serde_json::from_str(&event.data?).ok()
    });
    let sink = futures::sink::unfold(
        (http.clone(), endpoint, bearer),
        |(http, endpoint, bearer), message: ClientJsonRpcMessage| async move {
            post(&http, &endpoint, bearer.as_deref(), &message).await?;
            Ok::<_, LegacyError>((http, endpoint, bearer))
        },
    );
    Ok(SinkStreamTransport::new(Box::pin(sink), messages.boxed()))
}

async fn post(
    http: &HttpClient,
    endpoint: &Url,
    bearer: Option<&str>,
    message: &ClientJsonRpcMessage,
) -> Result<(), LegacyError> {
    let mut request =
        Request::post(endpoint.as_str()).header(header::CONTENT_TYPE, "application/json");
    if let Some(bearer) = bearer {
        request = request.header(header::AUTHORIZATION, bearer);
    }
    let request = request
        .body(Full::new(Bytes::from(serde_json::to_vec(message)?)))
        .map_err(|e| StreamableHttpError::Client(e.into()))?;
    let response = http
        .send(request, POST_TIMEOUT)
        .await
        .map_err(StreamableHttpError::Client)?;
    if !response.status().is_success() {
        let body = response.body();
        let body = String::from_utf8_lossy(&body[..body.len().min(200)]);
        return Err(unexpected(format!(
            "POST {endpoint} answered {}: {body}",
            response.status()
        )));
    }
    Ok(())
}

fn unexpected(message: String) -> LegacyError {
    StreamableHttpError::UnexpectedServerResponse(Cow::Owned(message))
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::sse_url;

    #[test]
    fn the_legacy_endpoint_is_the_sibling_of_mcp() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(sse_url(&url("http://h:1/mcp")).as_str(), "http://h:1/sse");
        assert_eq!(
            sse_url(&url("http://h:1/x/mcp")).as_str(),
            "http://h:1/x/sse"
        );
        assert_eq!(sse_url(&url("http://h:1/sse")).as_str(), "http://h:1/sse");
    }
}
