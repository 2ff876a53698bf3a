"""A self-signed certificate for the local stack's HTTPS servers (localhost and 127.0.0.1): the
Cosmos DB-compatible server always, Azurite and the Batch service in the keyless stack."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def ensure_certificate(folder: Path) -> tuple[Path, Path]:
    """Return (cert, key) paths under `folder`, creating a fresh pair if missing or expiring."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cosmos-cert.pem", folder / "cosmos-key.pem"
    if cert_path.exists() and key_path.exists() and not _expires_soon(cert_path):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _expires_soon(cert_path: Path) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def trust_bundle(folder: Path, cert: Path, base: str | None) -> Path:
    """A CA bundle for `REQUESTS_CA_BUNDLE`: the bundle clients trust already (`base`, or
    certifi's) with the stack's certificate added, so public endpoints still verify."""
    import certifi

    source = Path(base) if base and Path(base).is_file() else Path(certifi.where())
    bundle = folder / "ca-bundle.pem"
    bundle.write_bytes(source.read_bytes().rstrip(b"\n") + b"\n" + cert.read_bytes())
    return bundle
