//! [`serve`]: the HTTP/1.1 endpoints a kubelet and Prometheus call: `/healthz` (the
//! process is alive), `/readyz` (registered with the runtime, resctrl readable) and
//! `/metrics` ([`Metrics::encode`]).
//!
//! hyper rather than a hand-written parser on a `TcpListener`: it is in the dependency
//! tree already (object_store's HTTP client and tonic use it), and it gets keep-alive,
//! partial reads and malformed requests right, which scrapers and probes exercise.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::metrics::{METRICS_CONTENT_TYPE, Metrics};

/// The default `--listen` address: loopback, so nothing is exposed unless asked.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9808";

/// Binds `addr` (port 0 picks a free one; see the returned listener's `local_addr`).
///
/// Fails with [`Error::Listen`].
pub async fn bind_http(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })
}

/// Answers requests on `listener` until `stop` turns true (or its sender is gone).
/// A connection that fails is logged at debug level and closed; the server goes on.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(&request, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "an HTTP connection ended with an error");
            }
        });
    }
}

fn respond(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid status and header")
    };
    let plain = "text/plain; charset=utf-8";
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            plain,
            "only GET and HEAD\n".into(),
        );
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, plain, "ok\n".into()),
        "/readyz" if metrics.ready() => text(StatusCode::OK, plain, "ready\n".into()),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            plain,
            "not ready: waiting for the runtime's NRI state, or resctrl is not readable\n".into(),
        ),
        "/metrics" => text(StatusCode::OK, METRICS_CONTENT_TYPE, metrics.encode()),
        _ => text(
            StatusCode::NOT_FOUND,
            plain,
            "not found: /healthz, /readyz or /metrics\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::metrics::PluginFigures;

    /// One request with a plain socket, so the test does not share the server's code.
    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response[9..12].parse().expect("a status code");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn probes_and_metrics_answer_and_readiness_follows_the_plugin() {
        let listener = bind_http("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let metrics = Arc::new(Metrics::new());
        let (stop_tx, stop) = watch::channel(false);
        let server = tokio::spawn(serve(listener, metrics.clone(), stop));
        let call = |path: &'static str| tokio::task::spawn_blocking(move || get(addr, path));
        assert_eq!(call("/healthz").await.expect("ran").0, 200);
        assert_eq!(call("/readyz").await.expect("ran").0, 503);
        metrics.set_plugin(PluginFigures {
            synchronizations: 1,
            ..PluginFigures::default()
        });
        assert_eq!(call("/readyz").await.expect("ran").0, 200);
        let (status, body) = call("/metrics").await.expect("ran");
        assert_eq!(status, 200);
        assert!(body.contains("collector_ready 1"), "{body}");
        assert_eq!(call("/nothing").await.expect("ran").0, 404);
        stop_tx.send(true).expect("the server listens");
        server.await.expect("the server stops");
    }
}
