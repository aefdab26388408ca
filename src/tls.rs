//! The TLS algorithms: rustls's ring provider as ureq would build it, less ChaCha20-Poly1305
//! and the code that signs with a client certificate (torale sends none): 90 KB of binary. Every
//! TLS 1.3 server offers AES-128-GCM (RFC 8446, 9.1); TLS 1.2 HTTPS servers, ECDHE with AES-GCM.

use rustls::crypto::ring::{cipher_suite as suite, kx_group};
use rustls::crypto::{CryptoProvider, GetRandomFailed, WebPkiSupportedAlgorithms};
use rustls::SignatureScheme as S;
use webpki::ring as w;

pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURES,
        secure_random: &Ring,
        key_provider: &Ring,
    }
}

/// What rustls's ring provider verifies (its `SUPPORTED_SIG_ALGS`, which it does not export).
#[rustfmt::skip]
static SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        w::ECDSA_P256_SHA256, w::ECDSA_P256_SHA384, w::ECDSA_P384_SHA256, w::ECDSA_P384_SHA384,
        w::ED25519, w::RSA_PSS_2048_8192_SHA256_LEGACY_KEY, w::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        w::RSA_PSS_2048_8192_SHA512_LEGACY_KEY, w::RSA_PKCS1_2048_8192_SHA256,
        w::RSA_PKCS1_2048_8192_SHA384, w::RSA_PKCS1_2048_8192_SHA512,
        w::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS, w::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        w::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (S::ECDSA_NISTP384_SHA384, &[w::ECDSA_P384_SHA384, w::ECDSA_P256_SHA384]),
        (S::ECDSA_NISTP256_SHA256, &[w::ECDSA_P256_SHA256, w::ECDSA_P384_SHA256]),
        (S::ED25519, &[w::ED25519]),
        (S::RSA_PSS_SHA512, &[w::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (S::RSA_PSS_SHA384, &[w::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (S::RSA_PSS_SHA256, &[w::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (S::RSA_PKCS1_SHA512, &[w::RSA_PKCS1_2048_8192_SHA512]),
        (S::RSA_PKCS1_SHA384, &[w::RSA_PKCS1_2048_8192_SHA384]),
        (S::RSA_PKCS1_SHA256, &[w::RSA_PKCS1_2048_8192_SHA256]),
    ],
};

/// Randomness from the operating system, through ring; no private keys.
#[derive(Debug)]
struct Ring;

impl rustls::crypto::SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom;
        ring::rand::SystemRandom::new().fill(buf).map_err(|_| GetRandomFailed)
    }
}

impl rustls::crypto::KeyProvider for Ring {
    fn load_private_key(
        &self,
        _: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<std::sync::Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General("client certificates are not supported".into()))
    }
}
