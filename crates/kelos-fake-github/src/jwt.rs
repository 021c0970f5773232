//! GitHub App JWT checks for `POST /app/installations/{id}/access_tokens`.
//!
//! Like GitHub: RS256 only; `iss` is the app id (a number or a numeric string); `iat` may be
//! at most 60 s in the future; `exp` must be in the future and at most 10 minutes ahead (plus
//! 60 s of clock drift). When the app was registered with a public key the signature is
//! verified too.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::state::AppRecord;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum JwtError {
    #[error("A JSON web token could not be decoded")]
    Undecodable,
    #[error("'Issuer' claim ('iss') must be an Integer")]
    BadIssuer,
    #[error("Integration not found")]
    UnknownApp,
    #[error(
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
    )]
    Expired,
    #[error("'Expiration time' claim ('exp') is too far in the future")]
    TooFarInFuture,
    #[error(
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    )]
    BadIssuedAt,
}

/// Checks a JWT and returns the app id it was issued by.
pub(crate) fn verify(
    jwt: &str,
    apps: &BTreeMap<u64, AppRecord>,
    now: DateTime<Utc>,
) -> Result<u64, JwtError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| JwtError::Undecodable)?;
    if header.alg != Algorithm::RS256 {
        return Err(JwtError::Undecodable);
    }
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(jwt).map_err(|_| JwtError::Undecodable)?;
    let app_id = match claims.get("iss") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or(JwtError::BadIssuer)?;
    let app = apps.get(&app_id).ok_or(JwtError::UnknownApp)?;

    if let Some(pem) = &app.public_key_pem {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| JwtError::Undecodable)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(jwt, &key, &validation).map_err(|_| JwtError::Undecodable)?;
    }

    let now = now.timestamp();
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(JwtError::BadIssuedAt)?;
    if iat > now + 60 {
        return Err(JwtError::BadIssuedAt);
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(JwtError::Expired)?;
    if exp <= now {
        return Err(JwtError::Expired);
    }
    if exp > now + 600 + 60 {
        return Err(JwtError::TooFarInFuture);
    }
    Ok(app_id)
}
