"""Access tokens of the local identity endpoint: RS256-signed JWTs in the shape Microsoft
Entra ID gives managed identities (v1 tokens), and their verification by the local services.

The signing key is made per stack; the services that check tokens get the public key. A token
names its audience (`aud`, the resource asked for), issuer (`iss`, an `sts.windows.net` URL:
Azurite accepts no other), lifetime (`iat`, `nbf`, `exp`) and the identity (`appid`, `oid`,
`sub`: its client id; `xms_mirid`: its resource id).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A tenant of our own: no real tenant has this id.
TENANT_ID = "00000000-0000-0000-0000-00000000d0b5"
ISSUER = f"https://sts.windows.net/{TENANT_ID}/"
LIFETIME_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300  # Entra ID's validators allow five minutes


class TokenError(Exception):
    """A token that is malformed, badly signed, for another audience or out of its lifetime;
    the message is the reason, in the words Azure's services use."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_signing_key(folder: Path) -> tuple[Path, Path]:
    """Write a fresh RSA key pair under `folder`; return (private key, public key) paths."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / "signing-key.pem", folder / "signing-key.pub.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@dataclass(frozen=True)
class TokenIdentity:
    """A managed identity the endpoint can issue tokens for."""

    client_id: str
    resource_id: str = ""


class TokenIssuer:
    """Signs tokens with the stack's private key."""

    def __init__(self, private_key_pem: bytes, lifetime: int = LIFETIME_SECONDS) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key")
        self._key = key
        self.lifetime = lifetime

    @classmethod
    def from_file(cls, path: Path, lifetime: int = LIFETIME_SECONDS) -> TokenIssuer:
        return cls(path.read_bytes(), lifetime)

    def issue(
        self, identity: TokenIdentity, resource: str, now: int | None = None
    ) -> tuple[str, int]:
        """A token for `identity` with audience `resource`; returns (token, expires_on)."""
        issued = int(time.time()) if now is None else now
        expires = issued + self.lifetime
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": ISSUER,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "appid": identity.client_id,
            "oid": identity.client_id,
            "sub": identity.client_id,
            "tid": TENANT_ID,
            "idtyp": "app",
            "ver": "1.0",
        }
        if identity.resource_id:
            claims["xms_mirid"] = identity.resource_id
        return self.sign(claims), expires

    def sign(self, claims: dict[str, Any]) -> str:
        """Any claims, signed (tests make expired or foreign tokens with it)."""
        header = {"alg": "RS256", "typ": "JWT"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
            for part in (header, claims)
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"


class TokenVerifier:
    """Checks a token's signature, issuer, audience and lifetime against the public key."""

    def __init__(self, public_key_pem: bytes, audiences: tuple[str, ...]) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("the token key must be an RSA public key")
        self._key = key
        # Entra ID audiences come with and without the trailing slash.
        self.audiences = frozenset(a.rstrip("/") for a in audiences)

    @classmethod
    def from_file(cls, path: Path, audiences: tuple[str, ...]) -> TokenVerifier:
        return cls(path.read_bytes(), audiences)

    def verify(self, token: str, now: int | None = None) -> dict[str, Any]:
        """The token's claims; TokenError with the reason when it must be refused."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("The access token is not a JWT (header.payload.signature).")
        try:
            header = json.loads(_unb64url(parts[0]))
            claims = json.loads(_unb64url(parts[1]))
            signature = _unb64url(parts[2])
        except (binascii.Error, ValueError, UnicodeDecodeError) as e:
            raise TokenError(f"The access token is malformed: {e}.") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise TokenError("The access token is not signed with RS256.")
        if not isinstance(claims, dict):
            raise TokenError("The access token's payload is not a JSON object.")
        try:
            self._key.verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise TokenError("The access token signature is invalid.") from None
        if claims.get("iss") != ISSUER:
            raise TokenError(f"The access token is from the wrong issuer {claims.get('iss')!r}.")
        audience = str(claims.get("aud") or "")
        if audience.rstrip("/") not in self.audiences:
            raise TokenError(f"The audience '{audience}' is invalid.")
        current = int(time.time()) if now is None else now
        expires, not_before = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(expires, int) or not isinstance(not_before, int):
            raise TokenError("The access token has no valid exp or nbf claim.")
        if current > expires + CLOCK_SKEW_SECONDS:
            raise TokenError("Lifetime validation failed. The token is expired.")
        if current + CLOCK_SKEW_SECONDS < not_before:
            raise TokenError("Lifetime validation failed. The token is not yet valid.")
        return claims
