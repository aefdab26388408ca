//! The API URL: parsing, checking and normalizing `--api-url`, `TORALE_API_URL` and the config
//! file's `api_url`, in one place. Host and port come from `http::Uri`, never from hand
//! splitting.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

/// A checked API base URL: `http` or `https`, a host, a port in 1–65535, no user info, no
/// query or fragment, no trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiUrl {
    /// The normalized text: scheme and host in lower case, no trailing `/`.
    text: String,
    /// The host as the URL writes it (`[::1]` keeps its brackets).
    host: String,
    port: u16,
    https: bool,
}

impl ApiUrl {
    /// The normalized URL, to which request paths are appended.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port connected to: the URL's own, else 80 or 443.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Whether the host is this machine: `localhost`, `*.localhost` (RFC 6761), 127.0.0.0/8
    /// or `::1`. A key sent over plain http to such a host never crosses a network.
    pub fn is_loopback(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Check an API URL and normalize it; the error is the reason only, to follow
/// `Invalid API URL '<url>': ` (quote the URL with [`redacted`], never as given).
pub fn parse_api_url(text: &str) -> Result<ApiUrl, String> {
    let text = text.trim();
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL cannot contain spaces or control characters".into());
    }
    let (scheme, rest) = text.split_once("://").ok_or("it must start with http:// or https://")?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err("it must start with http:// or https://".into()),
    };
    let uri: Uri = text.parse().map_err(|err| format!("not a valid URL ({err})"))?;
    let authority = uri.authority().ok_or("it has no host")?;
    if authority.as_str().contains('@') {
        return Err("user info (name:password@) is not allowed in the API URL; \
             pass the API key with --api-key-file or TORALE_API_KEY instead"
            .into());
    }
    if authority.host().is_empty() {
        return Err("it has no host".into());
    }
    // `Authority::port` is `None` for a port that is not a u16 (`:99999`, `:8O80`), so the
    // text after the host is checked here.
    let port_text =
        authority.as_str().strip_prefix(authority.host()).and_then(|rest| rest.strip_prefix(':'));
    let port = match port_text {
        None if https => 443,
        None => 80,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port >= 1 && text.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err(port_reason()),
        },
    };
    if uri.query().is_some() || rest.contains('#') {
        return Err("an API URL has no query or fragment (no '?' or '#')".into());
    }
    let host = authority.host().to_ascii_lowercase();
    let path = uri.path().trim_end_matches('/');
    let scheme = if https { "https" } else { "http" };
    let text = match port_text {
        Some(_) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    };
    Ok(ApiUrl { text, host, port, https })
}

fn port_reason() -> String {
    "port must be 1–65535".into()
}

/// `text` safe to quote in a message: any user info before the host (`name:password@`) is
/// shown as `***@`, so a password typed into a URL is never printed.
pub fn redacted(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        let url = parse_api_url(" HTTP://API.Example.COM:8080/base// ").unwrap();
        assert_eq!(url.as_str(), "http://api.example.com:8080/base");
        assert_eq!((url.host(), url.port(), url.is_https()), ("api.example.com", 8080, false));
        let url = parse_api_url("https://api.torale.ai/").unwrap();
        assert_eq!(url.as_str(), "https://api.torale.ai");
        assert_eq!(url.port(), 443);
        assert!(url.is_https());
        assert_eq!(parse_api_url("http://h").unwrap().port(), 80);
        let v6 = parse_api_url("http://[::1]:9").unwrap();
        assert_eq!((v6.host(), v6.port()), ("[::1]", 9));
        assert_eq!(v6.as_str(), "http://[::1]:9");
    }

    #[test]
    fn ports_outside_1_to_65535_are_refused() {
        for url in [
            "http://127.0.0.1:99999",
            "http://localhost:65536",
            "http://127.0.0.1:8O80",
            "http://127.0.0.1:0",
            "http://127.0.0.1:-1",
            "http://h:",
        ] {
            assert_eq!(parse_api_url(url), Err("port must be 1–65535".into()), "{url}");
        }
        assert_eq!(parse_api_url("http://h:65535").unwrap().port(), 65535);
        assert_eq!(parse_api_url("http://h:1").unwrap().port(), 1);
    }

    #[test]
    fn user_info_is_refused_without_echoing_it() {
        for url in ["http://user:pw@host", "http://127.0.0.1@host", "https://@host/"] {
            let why = parse_api_url(url).unwrap_err();
            assert!(why.contains("API key"), "{url}: {why}");
            assert!(!why.contains("pw") && !why.contains("127"), "{why}");
        }
        assert_eq!(redacted("http://user:pw@host/x"), "http://***@host/x");
        assert_eq!(redacted("http://host/a@b"), "http://host/a@b");
        assert_eq!(redacted("no scheme"), "no scheme");
    }

    #[test]
    fn other_malformed_urls() {
        for url in [
            "ftp://h",
            "api.torale.ai",
            "https://",
            "http:///path",
            "http://h?x=1",
            "http://h/#top",
            "http://h /x",
            "http://[::1",
        ] {
            assert!(parse_api_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://localhost:8000",
            "http://LOCALHOST",
            "http://api.localhost",
            "http://127.0.0.1",
            "http://127.1.2.3:5",
            "http://[::1]:8000",
        ] {
            assert!(parse_api_url(url).unwrap().is_loopback(), "{url}");
        }
        for url in [
            "http://example.com",
            "http://localhost.example.com",
            "http://10.0.0.1",
            "http://[::2]",
        ] {
            assert!(!parse_api_url(url).unwrap().is_loopback(), "{url}");
        }
    }
}
