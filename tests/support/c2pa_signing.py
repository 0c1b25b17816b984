"""Throw-away C2PA signing for tests: a self-made CA, a signer certificate, and ``sign_jpeg``.

The certificates are generated with ``cryptography`` when first needed and kept for the
process. They follow what c2pa-rs demands of a claim signer: an X.509 v3 end-entity
certificate (``BasicConstraints ca=False``) issued by a separate CA (self-signed signers are
refused), ``KeyUsage digitalSignature`` and an allowed extended key usage
(``emailProtection``), with subject and authority key identifiers. The signer key is ECDSA
P-256, so the C2PA algorithm is ES256.

Readers do not trust this CA unless it is configured as a trust anchor (see
``throwaway_ca_pem``), so a plain read reports ``signingCredential.untrusted``.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from dataclasses import dataclass
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"
DIGITAL_CAPTURE = IPTC_SOURCE_TYPE + "digitalCapture"


@dataclass(frozen=True)
class ThrowawayCredentials:
    """PEM material of the throw-away CA and its signer."""

    ca_pem: str
    signer_cert_pem: str
    signer_key_pem: str

    @property
    def chain_pem(self) -> str:
        """The signer's certificate chain, end entity first, as c2pa expects."""
        return self.signer_cert_pem + self.ca_pem


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "faceverdict tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@functools.cache
def throwaway_credentials() -> ThrowawayCredentials:
    """A CA and an ES256 signer certificate valid from yesterday for 30 days (cached)."""
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("faceverdict test root CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("faceverdict test signer"))
        .issuer_name(ca_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    key_pem = signer_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return ThrowawayCredentials(
        ca_pem=pem(ca_cert), signer_cert_pem=pem(signer_cert), signer_key_pem=key_pem
    )


def throwaway_ca_pem() -> str:
    """The throw-away CA certificate, to configure as a trust anchor in a reader."""
    return throwaway_credentials().ca_pem


def _manifest(source_type: str, actions: list[dict[str, Any]] | None) -> dict[str, Any]:
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": source_type,
        "softwareAgent": {"name": "faceverdict test signer", "version": "1.0"},
    }
    return {
        "claim_generator_info": [{"name": "faceverdict-tests", "version": "1.0"}],
        "title": "capture.jpg",
        "format": "image/jpeg",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [created, *(actions or [])]}},
        ],
    }


def sign_jpeg(
    jpeg: bytes,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    *,
    extra_actions: list[dict[str, Any]] | None = None,
) -> bytes:
    """Embed a C2PA manifest in ``jpeg`` whose ``c2pa.created`` action has ``source_type``.

    ``source_type`` is a full IPTC digital source type URI (see the constants above) or a
    bare code such as ``"digitalCapture"``; ``extra_actions`` are appended after
    ``c2pa.created`` (e.g. ``[{"action": "c2pa.resized"}]``).
    """
    if not source_type.startswith("http"):
        source_type = IPTC_SOURCE_TYPE + source_type
    creds = throwaway_credentials()
    # No thumbnail (faster, smaller) and no verification after signing (the signer is not
    # on any trust list, which must not stop a test from signing).
    context = c2pa.Context.from_dict(
        {"builder": {"thumbnail": {"enabled": False}}, "verify": {"verify_after_sign": False}}
    )
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256,
        creds.chain_pem.encode("ascii"),
        creds.signer_key_pem.encode("ascii"),
        None,
    )
    with (
        context,
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(json.dumps(_manifest(source_type, extra_actions)), context) as builder,
    ):
        dest = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), dest)
        return dest.getvalue()


def tamper_pixels(signed_jpeg: bytes) -> bytes:
    """Flip bytes in the entropy-coded image data of a signed JPEG, leaving the manifest.

    The change lands after the last start-of-scan marker, i.e. in compressed pixel data,
    which the manifest's data hash covers: readers report ``assertion.dataHash.mismatch``.
    """
    sos = signed_jpeg.rfind(b"\xff\xda")
    if sos < 0:
        raise ValueError("not a baseline JPEG: no start-of-scan marker")
    data = bytearray(signed_jpeg)
    # Skip the SOS header, then flip a run of bits in the scan, avoiding 0xFF (markers).
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big") + 16
    end = min(start + 64, len(data) - 2)
    for i in range(start, end):
        if data[i] not in (0xFF, 0x00, 0xFE):
            data[i] ^= 0x01
    return bytes(data)
