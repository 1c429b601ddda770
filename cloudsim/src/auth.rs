//! Request authentication: which scheme a request uses, its action and version, and the
//! verification of V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) signatures with the signing
//! functions of [`eip_cloud::signature`], timestamp skew, nonce reuse and STS tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use eip_cloud::signature::{self, Authorization};

use crate::apierror::ApiError;

/// What the gateway needs from one HTTP request.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// Query parameters, form-decoded.
    pub query: &'a [(String, String)],
    /// Form-body parameters, form-decoded (empty when the body is not a form).
    pub form: &'a [(String, String)],
    /// Request headers (lower-case names).
    pub headers: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
}

impl RawRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.first().copied()
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.form.iter())
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The signature scheme a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RPC V1, HMAC-SHA1, parameters `Signature*`.
    V1,
    /// ACS3-HMAC-SHA256, `Authorization` header.
    V3,
}

/// Action, version and scheme of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// e.g. `AllocateEipAddress`.
    pub action: String,
    /// e.g. `2016-04-28`.
    pub version: String,
    /// How it is signed.
    pub scheme: Scheme,
}

/// Finds the action and version: V3 from `x-acs-action` / `x-acs-version` when an
/// `Authorization` header is present, V1 from the `Action` / `Version` parameters.
pub fn route(req: &RawRequest<'_>) -> Result<Route, ApiError> {
    if req.header("authorization").is_some() {
        let action = req
            .header("x-acs-action")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::missing("Action"))?;
        let version = req
            .header("x-acs-version")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::missing("Version"))?;
        return Ok(Route {
            action: action.to_string(),
            version: version.to_string(),
            scheme: Scheme::V3,
        });
    }
    let action = req
        .param("Action")
        .ok_or_else(|| ApiError::missing("Action"))?;
    let version = req
        .param("Version")
        .ok_or_else(|| ApiError::missing("Version"))?;
    Ok(Route {
        action: action.to_string(),
        version: version.to_string(),
        scheme: Scheme::V1,
    })
}

/// STS credentials the emulator issued (through the metadata service or the admin API).
#[derive(Clone)]
pub struct StsCredential {
    /// `STS.` AccessKeyId.
    pub access_key_id: String,
    /// Secret.
    pub access_key_secret: String,
    /// Security token.
    pub security_token: String,
    /// Wall-clock expiry.
    pub expiration: jiff::Timestamp,
    /// When it was issued.
    pub issued: jiff::Timestamp,
    /// The role it belongs to.
    pub role: String,
}

impl std::fmt::Debug for StsCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsCredential")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("security_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("role", &self.role)
            .finish()
    }
}

/// Who may call: the account's AccessKey and the STS credentials issued so far; plus
/// the nonces seen recently.
#[derive(Debug)]
pub struct Keyring {
    /// The account AccessKey id.
    pub access_key_id: String,
    access_key_secret: crate::config::Secret,
    /// Issued STS credentials by AccessKeyId.
    pub sts: HashMap<String, StsCredential>,
    nonces: HashMap<String, Instant>,
    /// Allowed timestamp skew.
    pub skew: Duration,
}

impl Keyring {
    /// A keyring for one account key.
    pub fn new(access_key_id: &str, access_key_secret: &str, skew: Duration) -> Self {
        Self {
            access_key_id: access_key_id.to_string(),
            access_key_secret: crate::config::Secret(access_key_secret.to_string()),
            sts: HashMap::new(),
            nonces: HashMap::new(),
            skew,
        }
    }

    /// The secret for `access_key_id`, checking the STS token when it is an STS key.
    fn secret_for(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<String, ApiError> {
        if access_key_id == self.access_key_id {
            return Ok(self.access_key_secret.expose().to_string());
        }
        let Some(cred) = self.sts.get(access_key_id) else {
            return Err(ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        };
        match token {
            Some(t) if t == cred.security_token => {}
            _ => {
                return Err(ApiError::new(
                    400,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.",
                ));
            }
        }
        if cred.expiration <= now {
            return Err(ApiError::new(
                403,
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
        Ok(cred.access_key_secret.clone())
    }

    fn check_time(&self, value: &str, now: jiff::Timestamp) -> Result<(), ApiError> {
        let ts = signature::parse_timestamp(value).ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        })?;
        let skew = now.as_second().abs_diff(ts.as_second());
        if skew > self.skew.as_secs() {
            return Err(ApiError::new(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        Ok(())
    }

    fn use_nonce(&mut self, nonce: &str, now: Instant) -> Result<(), ApiError> {
        if self.nonces.len() > 4096 {
            let keep = self.skew * 2;
            self.nonces
                .retain(|_, seen| now.saturating_duration_since(*seen) < keep);
        }
        if self.nonces.contains_key(nonce) {
            return Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        self.nonces.insert(nonce.to_string(), now);
        Ok(())
    }

    /// Verifies a request's signature, timestamp, nonce and credentials; `Ok(true)` when
    /// the caller used STS credentials.
    pub fn verify(
        &mut self,
        req: &RawRequest<'_>,
        scheme: Scheme,
        wall: jiff::Timestamp,
        now: Instant,
    ) -> Result<bool, ApiError> {
        match scheme {
            Scheme::V1 => self.verify_v1(req, wall, now),
            Scheme::V3 => self.verify_v3(req, wall, now),
        }
    }

    fn verify_v1(
        &mut self,
        req: &RawRequest<'_>,
        wall: jiff::Timestamp,
        now: Instant,
    ) -> Result<bool, ApiError> {
        let need = |name: &str| req.param(name).ok_or_else(|| ApiError::missing(name));
        let ak = need("AccessKeyId")?;
        let given = need("Signature")?;
        let method = need("SignatureMethod")?;
        if method != signature::V1_SIGNATURE_METHOD {
            return Err(ApiError::new(
                400,
                "InvalidSignatureMethod",
                "Specified signature method is not supported.",
            ));
        }
        if need("SignatureVersion")? != signature::V1_SIGNATURE_VERSION {
            return Err(ApiError::new(
                400,
                "InvalidSignatureVersion",
                "Specified signature version is not supported.",
            ));
        }
        let timestamp = need("Timestamp")?;
        let nonce = need("SignatureNonce")?;
        self.check_time(timestamp, wall)?;
        let secret = self.secret_for(ak, req.param("SecurityToken"), wall)?;
        let all: Vec<(&str, &str)> = req
            .query
            .iter()
            .chain(req.form.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sts = signature::v1_string_to_sign(req.method, &all);
        if signature::v1_signature(&secret, &sts) != given {
            return Err(ApiError::new(
                400,
                "SignatureDoesNotMatch",
                format!(
                    "Specified signature is not matched with our calculation. server string to sign is:{sts}"
                ),
            ));
        }
        self.use_nonce(nonce, now)?;
        Ok(ak != self.access_key_id)
    }

    fn verify_v3(
        &mut self,
        req: &RawRequest<'_>,
        wall: jiff::Timestamp,
        now: Instant,
    ) -> Result<bool, ApiError> {
        let header = req.header("authorization").unwrap_or_default();
        let auth = Authorization::parse(header).ok_or_else(|| {
            ApiError::new(
                400,
                "IncompleteSignature",
                "The Authorization header is not a well-formed ACS3-HMAC-SHA256 value.",
            )
        })?;
        let need = |name: &str| {
            req.header(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                ApiError::new(
                    400,
                    "MissingParameter",
                    format!("The header {name} is mandatory for this action."),
                )
            })
        };
        let date = need("x-acs-date")?;
        let nonce = need("x-acs-signature-nonce")?;
        let content_sha = need("x-acs-content-sha256")?;
        let mut must_sign = vec![
            "host",
            "x-acs-action",
            "x-acs-version",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-content-sha256",
        ];
        for optional in ["x-acs-security-token", "x-acs-accesskey-id"] {
            if req.header(optional).is_some() {
                must_sign.push(optional);
            }
        }
        for h in must_sign {
            if !auth.signed_headers.iter().any(|s| s == h) {
                return Err(ApiError::new(
                    400,
                    "IncompleteSignature",
                    format!("The header {h} must be signed."),
                ));
            }
        }
        self.check_time(date, wall)?;
        let body_sha = signature::sha256_hex(req.body);
        if !content_sha.eq_ignore_ascii_case(&body_sha) {
            return Err(ApiError::new(
                400,
                "SignatureDoesNotMatch",
                "Specified x-acs-content-sha256 does not match the request body.",
            ));
        }
        let mut signed: Vec<(&str, &str)> = Vec::new();
        for h in &auth.signed_headers {
            let v = req.header(h).ok_or_else(|| {
                ApiError::new(
                    400,
                    "SignatureDoesNotMatch",
                    format!("The signed header {h} is not in the request."),
                )
            })?;
            signed.push((h.as_str(), v));
        }
        let secret = self.secret_for(
            &auth.access_key_id,
            req.header("x-acs-security-token"),
            wall,
        )?;
        let canonical =
            signature::v3_canonical_request(req.method, "/", req.query, &signed, content_sha);
        let sts = signature::v3_string_to_sign(&canonical.text);
        if signature::v3_signature(&secret, &sts) != auth.signature.to_ascii_lowercase() {
            return Err(ApiError::new(
                400,
                "SignatureDoesNotMatch",
                format!(
                    "Specified signature is not matched with our calculation. server string to sign is:{sts}"
                ),
            ));
        }
        self.use_nonce(nonce, now)?;
        Ok(auth.access_key_id != self.access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn ring() -> Keyring {
        Keyring::new("testid", "testsecret", Duration::from_secs(900))
    }

    fn v1_query(ts: &str, nonce: &str, secret: &str) -> Vec<(String, String)> {
        let mut q = pairs(&[
            ("Action", "AllocateEipAddress"),
            ("Format", "json"),
            ("Version", "2016-04-28"),
            ("Timestamp", ts),
            ("SignatureNonce", nonce),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", "testid"),
            ("RegionId", "cn-hangzhou"),
            ("Name", "my eip/1"),
        ]);
        let sig = signature::v1_sign("POST", &q, secret);
        q.push(("Signature".into(), sig));
        q
    }

    fn wall(s: &str) -> jiff::Timestamp {
        signature::parse_timestamp(s).unwrap()
    }

    #[test]
    fn v1_accepts_good_and_refuses_bad_signature_skew_and_reuse() {
        let mut k = ring();
        let now = Instant::now();
        let q = v1_query("2024-01-01T00:00:00Z", "n1", "testsecret");
        let req = RawRequest {
            method: "POST",
            query: &q,
            form: &[],
            headers: &[],
            body: b"",
        };
        assert_eq!(route(&req).unwrap().action, "AllocateEipAddress");
        k.verify(&req, Scheme::V1, wall("2024-01-01T00:10:00Z"), now)
            .unwrap();
        let again = k
            .verify(&req, Scheme::V1, wall("2024-01-01T00:10:00Z"), now)
            .unwrap_err();
        assert_eq!(again.code, "SignatureNonceUsed");
        let late = v1_query("2024-01-01T00:00:00Z", "n2", "testsecret");
        let req = RawRequest {
            query: &late,
            ..req
        };
        let err = k
            .verify(&req, Scheme::V1, wall("2024-01-01T00:16:00Z"), now)
            .unwrap_err();
        assert_eq!(err.code, "InvalidTimeStamp.Expired");
        let wrong = v1_query("2024-01-01T00:00:00Z", "n3", "wrong");
        let req = RawRequest {
            query: &wrong,
            ..req
        };
        let err = k
            .verify(&req, Scheme::V1, wall("2024-01-01T00:00:00Z"), now)
            .unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch");
        assert!(err.message.contains("POST&%2F&AccessKeyId"));
    }

    #[test]
    fn v3_verifies_from_the_requests_own_signed_headers() {
        let mut k = ring();
        let query = pairs(&[("RegionId", "cn-hangzhou"), ("Name", "my eip/1")]);
        let mut headers = pairs(&[
            ("host", "127.0.0.1:1"),
            ("x-acs-action", "AllocateEipAddress"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-signature-nonce", "abc"),
            ("x-acs-content-sha256", signature::EMPTY_PAYLOAD_SHA256),
            ("user-agent", "AlibabaCloud Python"),
        ]);
        let auth = signature::v3_sign(
            "POST",
            "/",
            &query,
            &headers,
            signature::EMPTY_PAYLOAD_SHA256,
            "testid",
            "testsecret",
        );
        headers.push(("authorization".into(), auth.to_string()));
        headers.push(("accept-encoding".into(), "identity".into()));
        let req = RawRequest {
            method: "POST",
            query: &query,
            form: &[],
            headers: &headers,
            body: b"",
        };
        let r = route(&req).unwrap();
        assert_eq!(r.scheme, Scheme::V3);
        k.verify(
            &req,
            Scheme::V3,
            wall("2024-01-01T00:01:00Z"),
            Instant::now(),
        )
        .unwrap();
        // tampering with a signed header breaks it
        let mut tampered = headers.clone();
        if let Some(h) = tampered.iter_mut().find(|(k, _)| k == "user-agent") {
            h.1 = "other".into();
        }
        let mut fresh = ring();
        let req2 = RawRequest {
            headers: &tampered,
            ..req.clone()
        };
        assert_eq!(
            fresh
                .verify(
                    &req2,
                    Scheme::V3,
                    wall("2024-01-01T00:01:00Z"),
                    Instant::now()
                )
                .unwrap_err()
                .code,
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn sts_tokens_must_match_and_expire() {
        let mut k = ring();
        k.sts.insert(
            "STS.a".into(),
            StsCredential {
                access_key_id: "STS.a".into(),
                access_key_secret: "s".into(),
                security_token: "sekrit-token".into(),
                expiration: wall("2024-01-01T01:00:00Z"),
                issued: wall("2024-01-01T00:00:00Z"),
                role: "r".into(),
            },
        );
        let t = wall("2024-01-01T00:30:00Z");
        assert_eq!(k.secret_for("STS.a", Some("sekrit-token"), t).unwrap(), "s");
        assert_eq!(
            k.secret_for("STS.a", Some("bad"), t).unwrap_err().code,
            "InvalidSecurityToken.MismatchWithAccessKey"
        );
        assert_eq!(
            k.secret_for("STS.a", Some("sekrit-token"), wall("2024-01-01T01:00:01Z"))
                .unwrap_err()
                .code,
            "InvalidSecurityToken.Expired"
        );
        assert_eq!(
            k.secret_for("nobody", None, t).unwrap_err().code,
            "InvalidAccessKeyId.NotFound"
        );
        assert!(!format!("{k:?}").contains("sekrit-token"));
        assert!(!format!("{k:?}").contains("testsecret"));
    }
}
