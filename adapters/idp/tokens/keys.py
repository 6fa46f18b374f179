"""Hold the hub's token keys: one signs, all of them verify, and the public halves are the JWKS.

Rotation without a flag day: publish a new key next to the old one, switch `signing_kid` to it
once every replica has the file, and drop the old key after the longest token lifetime has
passed. Keys a file lists without their private part can only verify, which is how a retired
key stays valid for the tokens it signed. Only ES256 (P-256) and RS256 (RSA ≥ 2048) are used.
https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5
https://www.rfc-editor.org/rfc/rfc7517 (JWK), https://www.rfc-editor.org/rfc/rfc7638 (kid)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, RSAKey

SIGNING_ALGORITHMS = ("ES256", "RS256")
MIN_RSA_BITS = 2048


class KeyConfigError(ValueError):
    """A key file or key that the hub will not sign or verify with."""


def algorithm_of(key: Key) -> str:
    """Return the one algorithm the hub uses with this key: ES256 for P-256, RS256 for RSA."""
    if isinstance(key, ECKey) and key.curve_name == "P-256":
        return "ES256"
    if isinstance(key, RSAKey):
        return "RS256"
    raise KeyConfigError(f"key {key.kid!r} is {key.key_type}; the hub signs only with P-256 or RSA keys")


def generate_private_jwk(alg: str = "ES256", kid: str | None = None) -> dict[str, Any]:
    """Make a new private JWK for the key file, with a thumbprint `kid` unless one is given."""
    if alg == "ES256":
        key: Key = ECKey.generate_key("P-256", private=True)
    elif alg == "RS256":
        key = RSAKey.generate_key(MIN_RSA_BITS, private=True)
    else:
        raise KeyConfigError(f"alg must be one of {', '.join(SIGNING_ALGORITHMS)}, not {alg!r}")
    data = dict(key.as_dict(private=True))
    data.update({"kid": kid or key.thumbprint(), "use": "sig", "alg": alg})
    return data


def _rsa_bits(data: Mapping[str, Any]) -> int:
    # Read the modulus size before importing: joserfc only warns about short keys, we refuse them.
    n = str(data.get("n", ""))
    try:
        return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()
    except (ValueError, binascii.Error):
        return 0


def _import(data: Mapping[str, Any]) -> Key:
    kty = data.get("kty")
    if kty == "RSA" and _rsa_bits(data) < MIN_RSA_BITS:
        raise KeyConfigError(f"key {data.get('kid')!r} is RSA {_rsa_bits(data)}; use at least {MIN_RSA_BITS}")
    try:
        if kty == "EC":
            key: Key = ECKey.import_key(dict(data))
        elif kty == "RSA":
            key = RSAKey.import_key(dict(data))
        else:
            raise KeyConfigError(f"key {data.get('kid')!r}: kty {kty!r} is not EC or RSA")
    except JoseError as exc:
        raise KeyConfigError(f"key {data.get('kid')!r} cannot be read: {exc.description or exc.error}") from None
    alg = algorithm_of(key)
    if data.get("alg") not in (None, alg):
        raise KeyConfigError(f"key {data.get('kid')!r} says alg {data.get('alg')!r}; the hub uses it with {alg}")
    if not data.get("kid"):
        raise KeyConfigError("every key needs a 'kid', so tokens can name the key that signed them")
    return key


@dataclass(frozen=True)
class KeyRing:
    """The signing key and every key that may verify (the signing key among them), by kid."""

    signing_key: Key
    verification_keys: Mapping[str, Key]

    def __post_init__(self) -> None:
        if self.signing_key.kid not in self.verification_keys:
            raise KeyConfigError("the signing key must also be a verification key")
        if not self.signing_key.is_private:
            raise KeyConfigError(f"key {self.signing_key.kid!r} has no private part and cannot sign")

    @property
    def signing_kid(self) -> str:
        """Return the kid new tokens carry."""
        return str(self.signing_key.kid)

    @property
    def signing_alg(self) -> str:
        """Return the algorithm new tokens are signed with."""
        return algorithm_of(self.signing_key)

    def key_for(self, kid: str) -> Key | None:
        """Return the verification key with this kid, if the hub has one."""
        return self.verification_keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        """Return the public JWKS that `jwks_uri` serves: no private part, ever."""
        keys = []
        for kid, key in self.verification_keys.items():
            public = dict(key.as_dict(private=False))
            public.update({"kid": kid, "use": "sig", "alg": algorithm_of(key)})
            keys.append(public)
        return {"keys": keys}

    @classmethod
    def from_keys(cls, keys: Iterable[Key], *, signing_kid: str | None = None) -> KeyRing:
        """Build a ring from keys; the signing key is `signing_kid` or the first private key."""
        by_kid: dict[str, Key] = {}
        for key in keys:
            algorithm_of(key)
            if not key.kid:
                raise KeyConfigError("every key needs a 'kid'")
            if key.kid in by_kid:
                raise KeyConfigError(f"two keys share the kid {key.kid!r}")
            by_kid[str(key.kid)] = key
        if signing_kid is None:
            private = [k for k in by_kid.values() if k.is_private]
            if not private:
                raise KeyConfigError("no key has a private part, so none can sign")
            signing = private[0]
        elif signing_kid in by_kid:
            signing = by_kid[signing_kid]
        else:
            raise KeyConfigError(f"signing_kid {signing_kid!r} is not among the keys")
        return cls(signing, by_kid)

    @classmethod
    def from_jwks(cls, data: Mapping[str, Any]) -> KeyRing:
        """Build a ring from a private JWKS document: `{"keys": [...], "signing_kid": "..."}`."""
        raw = data.get("keys")
        if not isinstance(raw, list) or not raw:
            raise KeyConfigError("the key file needs a non-empty 'keys' list")
        signing_kid = data.get("signing_kid")
        if signing_kid is not None and not isinstance(signing_kid, str):
            raise KeyConfigError("'signing_kid' must be a string")
        return cls.from_keys([_import(k) for k in raw if isinstance(k, Mapping)], signing_kid=signing_kid)

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        """Read a private JWKS file; say which file and what is wrong with it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyConfigError(f"{path}: cannot read the key file: {exc}") from None
        if not isinstance(data, dict):
            raise KeyConfigError(f"{path}: the key file must hold a JSON object")
        try:
            return cls.from_jwks(data)
        except KeyConfigError as exc:
            raise KeyConfigError(f"{path}: {exc}") from None

    @classmethod
    def generate(cls, alg: str = "ES256") -> KeyRing:
        """Make a ring with one fresh key: for development and tests, never persisted."""
        return cls.from_jwks({"keys": [generate_private_jwk(alg)]})
